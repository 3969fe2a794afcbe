"""Job kind `dataset_slice`: recordings cut into training clips at silences (`core.data.slicer`),
optionally denoised first (`core.data.denoise`: RNNoise copies in `denoise_dir`, the copies sliced).

A long job: between recordings (and between clips and denoised blocks) it stops if cancelled and lets
interactive requests go first. A recording that cannot be decoded is logged and skipped; the others are
still sliced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.data.denoise import denoise_file
from core.data.slicer import SlicerSettings, slice_file
from core.errors import AudioError, TimbreError
from core.jobs.context import JobCancelled, JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import Urgency
from core.jobs.records import JobResult


@dataclass(frozen=True)
class DatasetSliceJob:
    """`recordings`: audio files inside the workspace (relative paths are taken from its root); the clips
    are written to `out_dir`. With `denoise_dir`, each recording is first denoised into
    `denoise_dir/<stem>.wav` (the original untouched) and that copy is sliced."""

    recordings: tuple[str, ...]
    out_dir: str
    settings: SlicerSettings = field(default_factory=SlicerSettings)
    denoise_dir: str | None = None


def run(params: DatasetSliceJob, job: JobContext) -> JobResult:
    recordings = [job.workspace.resolve(path) for path in params.recordings]
    out_dir = job.workspace.resolve(params.out_dir)
    denoise_dir = job.workspace.resolve(params.denoise_dir) if params.denoise_dir else None
    share = 0.5 if denoise_dir else 0.0  # of each recording's progress, for denoising
    files, failed = [], []
    for index, path in enumerate(recordings):
        job.between_steps()

        def report(fraction: float, message: str, done: float = index + share) -> None:
            job.on_progress((done + fraction * (1 - share)) / len(recordings), message)

        def report_denoise(fraction: float, message: str, done: int = index) -> None:
            job.on_progress((done + fraction * share) / len(recordings), message)

        with job.step(path.name):
            try:
                source = (
                    denoise_file(path, denoise_dir / f"{path.stem}.wav", report_denoise)
                    if denoise_dir
                    else path
                )
                files += [str(p) for p in slice_file(source, out_dir, params.settings, on_progress=report)]
            except JobCancelled:
                raise
            except TimbreError as exc:
                failed.append(path.name)
                job.log(f"skipped: {exc}")
    if not files:
        raise AudioError(f"none of the {len(recordings)} recording(s) could be sliced; see the job's log")
    job.progress(1.0, f"{len(files)} clips from {len(recordings) - len(failed)} recording(s)")
    return JobResult(files=tuple(files), info={"clips": len(files), "failed": failed})


def title(params: DatasetSliceJob) -> str:
    names = [Path(p).name for p in params.recordings]
    return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"


KIND = JobKind("dataset_slice", DatasetSliceJob, run, Urgency.LONG, title)
