"""The `dataset_features` job kind, run directly (no queue) and through a cancel and a rerun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.data.features import NAME2SEMANTIC, NAME2TEXT
from core.errors import WorkspaceError
from core.jobs import KINDS, JobCancelled, JobContext, ModelCache
from core.jobs.dataset_features import DatasetFeaturesJob, run
from core.jobs.lease import Urgency
from core.workspace import Workspace


@pytest.fixture(scope="module")
def models(conformance_dir: Path) -> ModelCache:
    return ModelCache(conformance_dir / "models" / "pretrained")


@pytest.fixture()
def dataset(conformance_dir: Path, tmp_path: Path) -> tuple[Workspace, DatasetFeaturesJob, Path, list[str]]:
    root = conformance_dir / "dataprep"
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    workspace = Workspace.open(tmp_path / "ws")
    shutil.copytree(root / manifest["inputs"]["wav_dir"], workspace.root / "datasets" / "wavs")
    shutil.copy(root / manifest["inputs"]["list"], workspace.root / "datasets" / "train.list")
    params = DatasetFeaturesJob("datasets/train.list", "datasets/exp", "datasets/wavs", reference_compat=True)
    names = [clip["name"] for clip in manifest["inputs"]["clips"]]
    assert names, "the dataprep manifest lists no clips"
    return workspace, params, root / manifest["outputs"]["exp_dir"], names


def test_the_kind_is_registered_as_a_long_job():
    kind = KINDS["dataset_features"]
    assert kind.params_type is DatasetFeaturesJob and kind.urgency is Urgency.LONG
    assert kind.title(DatasetFeaturesJob("a/train.list", "a/exp")) == "train.list → exp"


def test_the_job_writes_the_experiment_folder_with_progress(dataset, models):
    workspace, params, want_dir, names = dataset
    job = JobContext.standalone(workspace, models, kind="dataset_features")
    result = run(params, job)
    exp = workspace.root / "datasets" / "exp"
    assert result.files == (str(exp / NAME2TEXT), str(exp / NAME2SEMANTIC))
    assert result.info == {"made": len(names), "kept": 0, "skipped": []}
    assert (exp / NAME2TEXT).read_bytes() == (want_dir / NAME2TEXT).read_bytes()
    assert (exp / NAME2SEMANTIC).read_bytes() == (want_dir / NAME2SEMANTIC).read_bytes()
    assert job.record.progress == 1.0


class _CancelAfter(JobContext):
    """A standalone context cancelled once `n` clips have started."""

    def __init__(self, n: int, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.left = n

    def between_steps(self) -> None:
        if self.left == 0:
            raise JobCancelled("cancelled")
        self.left -= 1


def test_a_cancelled_job_keeps_finished_clips_and_a_rerun_completes_it(dataset, models):
    workspace, params, want_dir, names = dataset
    plain = JobContext.standalone(workspace, models)
    with pytest.raises(JobCancelled):
        run(params, _CancelAfter(2, plain.record, workspace=workspace, models=models))
    exp = workspace.root / "datasets" / "exp"
    assert [line.split("\t")[0] for line in (exp / NAME2TEXT).read_text().splitlines()] == names[:2]
    result = run(params, JobContext.standalone(workspace, models))
    assert result.info["made"] == len(names) - 2 and result.info["kept"] == 2
    assert (exp / NAME2SEMANTIC).read_bytes() == (want_dir / NAME2SEMANTIC).read_bytes()


def test_paths_outside_the_workspace_are_refused(dataset, models):
    workspace, params, _, _ = dataset
    with pytest.raises(WorkspaceError):
        run(DatasetFeaturesJob("../train.list", "exp"), JobContext.standalone(workspace, models))
