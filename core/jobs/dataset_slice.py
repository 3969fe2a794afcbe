"""Job kind `dataset_slice`: recordings cut into training clips at silences (`core.data.slicer`),
optionally denoised first (`core.data.denoise`: RNNoise copies in `denoise_dir`, the copies sliced) and,
before that, reduced to their vocals (`core.data.separate`: Demucs, the vocals in `separate_dir`).

A long job: between recordings (and between clips and denoised blocks) it stops if cancelled and lets
interactive requests go first. A recording that cannot be decoded is logged and skipped; the others are
still sliced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.data.denoise import denoise_file
from core.data.separate import VocalSeparator, require_model
from core.data.slicer import SlicerSettings, slice_file
from core.errors import AudioError, TimbreError
from core.jobs.context import JobCancelled, JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import Urgency
from core.jobs.records import JobResult
from core.pretrained import DEFAULT_SEPARATOR


@dataclass(frozen=True)
class DatasetSliceJob:
    """`recordings`: audio files inside the workspace (relative paths are taken from its root); the clips
    are written to `out_dir`. With `denoise_dir`, each recording is first denoised into
    `denoise_dir/<stem>.wav` (the original untouched) and that copy is sliced. With `separate_dir`, before
    all that, the vocals are separated (Demucs model `separator`, a name under the worker's
    `<pretrained>/separator/`) into `separate_dir/<stem>.wav` (the accompaniment in its `accompaniment/`)."""

    recordings: tuple[str, ...]
    out_dir: str
    settings: SlicerSettings = field(default_factory=SlicerSettings)
    denoise_dir: str | None = None
    separate_dir: str | None = None
    separator: str = DEFAULT_SEPARATOR


def run(params: DatasetSliceJob, job: JobContext) -> JobResult:
    recordings = [job.workspace.resolve(path) for path in params.recordings]
    out_dir = job.workspace.resolve(params.out_dir)
    denoise_dir = job.workspace.resolve(params.denoise_dir) if params.denoise_dir else None
    separate_dir = job.workspace.resolve(params.separate_dir) if params.separate_dir else None
    separator = None
    if separate_dir:  # an absent model fails the job before anything is written
        folder = require_model(params.separator, job.models.pretrained_dir)
        separator = VocalSeparator(folder, job.models.device)
    # Each recording's progress, split between its stages (separating weighs most, slicing least).
    weights = [4.0 if separate_dir else 0.0, 1.0 if denoise_dir else 0.0, 1.0]
    bounds = np.cumsum([0.0, *weights]) / sum(weights)
    files, failed = [], []
    for index, path in enumerate(recordings):
        job.between_steps()

        def reporter(stage: int, done: int = index) -> Callable[[float, str], None]:
            def report(fraction: float, message: str) -> None:
                within = bounds[stage] + fraction * (bounds[stage + 1] - bounds[stage])
                job.on_progress((done + within) / len(recordings), message)

            return report

        with job.step(path.name):
            try:
                source = path
                if separator is not None:
                    source = separator.separate_file(source, separate_dir, on_progress=reporter(0)).vocals
                if denoise_dir:
                    source = denoise_file(source, denoise_dir / f"{path.stem}.wav", reporter(1))
                files += [
                    str(p) for p in slice_file(source, out_dir, params.settings, on_progress=reporter(2))
                ]
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
