"""Job kind `dataset_import`: recordings (files, zips, folders inside the workspace) into a dataset.

A long job: it stops between recordings if cancelled; recordings imported before a cancel stay. The
report's measures and verdicts go into the result's `info` (per file and for the set).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.data.importer import import_recordings
from core.jobs.context import JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import Urgency
from core.jobs.records import JobResult


@dataclass(frozen=True)
class DatasetImportJob:
    """`sources`: paths inside the workspace (relative ones from its root), e.g. files copied to uploads/."""

    name: str
    sources: tuple[str, ...]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON-friendly: no inf/-inf


def run(params: DatasetImportJob, job: JobContext) -> JobResult:
    sources = [job.workspace.resolve(path) for path in params.sources]
    job.between_steps()

    def report(fraction: float, message: str) -> None:
        job.on_progress(fraction, message)

    result = import_recordings(job.workspace, params.name, sources, on_progress=report)
    files, skipped = [], []
    for item in result.files:
        if item.quality is None:
            job.log(f"skipped: {item.source}: {item.error}")
            skipped.append({"source": item.source, "error": item.error})
            continue
        q = item.quality
        files.append(
            {
                "source": item.source,
                "path": str(item.path),
                "seconds": q.seconds,
                "speech_seconds": q.speech_seconds,
                "peak_dbfs": _finite(q.peak_dbfs),
                "clipped_fraction": q.clipped_fraction,
                "loudness_lufs": _finite(q.loudness_lufs),
                "snr_db": _finite(q.snr_db),
                "problems": list(q.problems),
            }
        )
    return JobResult(
        files=tuple(f["path"] for f in files),
        info={
            "dataset": str(result.dataset_dir),
            "recordings": files,
            "skipped": skipped,  # files that are not audio Timbre can read, with why
            "verdict": result.verdict,
        },
    )


def title(params: DatasetImportJob) -> str:
    return f"{params.name} ← {len(params.sources)} source(s)"


KIND = JobKind("dataset_import", DatasetImportJob, run, Urgency.LONG, title)
