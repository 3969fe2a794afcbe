"""Job kind `dataset_slice`: recordings cut into training clips at silences (`core.data.slicer`).

A long job: between recordings (and between clips) it stops if cancelled and lets interactive requests go
first. A recording that cannot be decoded is logged and skipped; the others are still sliced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.data.slicer import SlicerSettings, slice_file
from core.errors import AudioError, TimbreError
from core.jobs.context import JobCancelled, JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import Urgency
from core.jobs.records import JobResult


@dataclass(frozen=True)
class DatasetSliceJob:
    """`recordings`: audio files inside the workspace (relative paths are taken from its root); the clips
    are written to `out_dir`."""

    recordings: tuple[str, ...]
    out_dir: str
    settings: SlicerSettings = field(default_factory=SlicerSettings)


def run(params: DatasetSliceJob, job: JobContext) -> JobResult:
    recordings = [job.workspace.resolve(path) for path in params.recordings]
    out_dir = job.workspace.resolve(params.out_dir)
    files, failed = [], []
    for index, path in enumerate(recordings):
        job.between_steps()

        def report(fraction: float, message: str, done: int = index) -> None:
            job.on_progress((done + fraction) / len(recordings), message)

        with job.step(path.name):
            try:
                files += [str(p) for p in slice_file(path, out_dir, params.settings, on_progress=report)]
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
