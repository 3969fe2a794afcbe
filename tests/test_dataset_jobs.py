"""The `dataset_slice` and `dataset_import` job kinds, run directly (no queue)."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from core.data.slicer import SLICE_SR
from core.errors import AudioError, WorkspaceError
from core.jobs import KINDS, JobCancelled, JobContext, ModelCache
from core.jobs.dataset_slice import DatasetSliceJob, run
from core.jobs.lease import Urgency
from core.workspace import Workspace
from tests.test_slicer import _recording


@pytest.fixture()
def workspace(tmp_path: Path) -> Workspace:
    workspace = Workspace.open(tmp_path / "ws")
    wav, _, _ = _recording(tmp_path, [0.8])
    (workspace.root / "raw").mkdir()
    sf.write(workspace.root / "raw" / "talk.wav", wav, SLICE_SR, subtype="PCM_16")
    (workspace.root / "raw" / "broken.wav").write_bytes(b"not audio")
    return workspace


def _context(workspace: Workspace, tmp_path: Path) -> JobContext:
    return JobContext.standalone(workspace, ModelCache(tmp_path / "no-models"), kind="dataset_slice")


def test_the_kind_is_registered_as_a_long_job():
    kind = KINDS["dataset_slice"]
    assert kind.params_type is DatasetSliceJob and kind.urgency is Urgency.LONG
    assert kind.title(DatasetSliceJob(("a/x.wav", "b.wav"), "out")) == "x.wav and 1 more"


def test_the_job_slices_good_recordings_and_logs_bad_ones(workspace, tmp_path):
    job = _context(workspace, tmp_path)
    result = run(DatasetSliceJob(("raw/talk.wav", "raw/broken.wav"), "clips"), job)
    assert result.info == {"clips": 2, "failed": ["broken.wav"]}
    assert all(Path(f).parent == workspace.root / "clips" for f in result.files)
    assert job.record.progress == 1.0 and any("broken.wav" in line for line in job.record.log)
    with pytest.raises(AudioError, match="none of the 1 recording"):
        run(DatasetSliceJob(("raw/broken.wav",), "clips"), _context(workspace, tmp_path))


def test_a_cancel_stops_between_clips_and_keeps_the_clips_written(workspace, tmp_path):
    job = _context(workspace, tmp_path)
    checks = []

    def check() -> (
        None
    ):  # cancelled after the first clip: checks come before the file, before and after clip 1
        checks.append(1)
        if len(checks) == 3:
            raise JobCancelled("cancelled")

    job.check = check
    with pytest.raises(JobCancelled):
        run(DatasetSliceJob(("raw/talk.wav",), "clips"), job)
    assert len(list((workspace.root / "clips").glob("talk.wav_*.wav"))) == 1


def test_the_import_job_imports_workspace_files_and_reports_measures(workspace, tmp_path):
    from core.jobs.dataset_import import DatasetImportJob
    from core.jobs.dataset_import import run as run_import

    assert KINDS["dataset_import"].urgency is Urgency.LONG
    job = _context(workspace, tmp_path)
    result = run_import(DatasetImportJob("talks", ("raw/talk.wav", "raw/broken.wav")), job)
    (recording,) = result.info["recordings"]
    assert recording["source"] == "talk.wav" and Path(recording["path"]).is_file()
    assert recording["seconds"] > 10 and "below the recommended 60 s" in result.info["verdict"]
    assert any("broken.wav" in line for line in job.record.log) and job.record.progress == 1.0
    with pytest.raises(WorkspaceError):
        run_import(DatasetImportJob("talks", ("../outside.wav",)), _context(workspace, tmp_path))
