"""Job kind `dataset_features`: a `.list` file's training features written into an experiment folder.

A long job (`core.data.features.extract_features`): between clips it stops if cancelled and lets
interactive requests go first; every clip finished before a cancel stays written, and running the job
again continues where it stopped. Bad clips are logged and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.data.features import NAME2SEMANTIC, NAME2TEXT, FeatureModels, extract_features
from core.jobs.context import JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import Urgency
from core.jobs.records import JobResult
from core.pretrained import model_paths, require_supported


@dataclass(frozen=True)
class DatasetFeaturesJob:
    """Paths are inside the workspace (relative ones are taken from its root). `wav_dir` None: the clips
    are where the list's path column says."""

    list_path: str
    exp_dir: str
    wav_dir: str | None = None
    version: str = "v2"
    reference_compat: bool = False


def run(params: DatasetFeaturesJob, job: JobContext) -> JobResult:
    workspace = job.workspace
    list_path = workspace.resolve(params.list_path)
    exp_dir = workspace.resolve(params.exp_dir)
    wav_dir = workspace.resolve(params.wav_dir) if params.wav_dir else None
    paths = model_paths(job.models.pretrained_dir, require_supported(params.version))
    hubert, bert = job.models.shared()
    models = FeatureModels(
        bert=bert, hubert=hubert, sovits=job.models.sovits(paths.sovits).model, g2pw=job.models.g2pw()
    )

    def on_clip(index: int, total: int, name: str) -> None:
        job.between_steps()
        job.progress(index / total, f"clip {index + 1} of {total}: {name}")

    report = extract_features(
        list_path,
        exp_dir,
        models,
        wav_dir=wav_dir,
        reference_compat=params.reference_compat,
        on_clip=on_clip,
    )
    for problem in report.problems:
        job.log(f"skipped: {problem}")
    job.progress(1.0, f"{report.n_ready} clips ready, {len(report.problems)} skipped")
    return JobResult(
        files=(str(exp_dir / NAME2TEXT), str(exp_dir / NAME2SEMANTIC)),
        info={
            "made": len(report.made),
            "kept": len(report.kept),
            "skipped": [str(problem) for problem in report.problems],
        },
    )


def title(params: DatasetFeaturesJob) -> str:
    return f"{Path(params.list_path).name} → {Path(params.exp_dir).name}"


KIND = JobKind("dataset_features", DatasetFeaturesJob, run, Urgency.LONG, title)
