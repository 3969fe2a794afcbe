"""Job kind `dataset_transcribe`: a `.list`'s empty transcripts filled in by an ASR engine (`core.data.asr`).

A long job: before each clip it stops if cancelled and lets interactive requests go first; the transcripts
made before a cancel stay written, and running the job again continues with the clips still empty. A clip
that cannot be read or in which nothing was heard is logged and keeps its empty text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.data.asr import DEFAULT_ENGINE, AsrError, confidence_path, load_transcriber, transcribe_list
from core.jobs.context import JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import Urgency
from core.jobs.records import JobResult


@dataclass(frozen=True)
class DatasetTranscribeJob:
    """`list_path` is inside the workspace (a relative one is taken from its root); `model` is a model folder
    or a name under the worker's `<pretrained>/asr/` (None: the engine's default); `redo` transcribes
    every clip again, not only those with an empty text."""

    list_path: str
    engine: str = DEFAULT_ENGINE
    model: str | None = None
    language: str = "auto"
    redo: bool = False


def run(params: DatasetTranscribeJob, job: JobContext) -> JobResult:
    list_path = job.workspace.resolve(params.list_path)
    transcriber = load_transcriber(params.engine, params.model, job.models.pretrained_dir, job.models.device)
    job.log(f"{transcriber.engine} with {transcriber.model}")

    def on_clip(index: int, total: int, name: str) -> None:
        job.between_steps()
        job.progress(index / total, f"clip {index + 1} of {total}: {name}")

    report = transcribe_list(
        list_path, transcriber, language=params.language, redo=params.redo, on_clip=on_clip
    )
    for problem in report.problems:
        job.log(f"skipped: {problem}")
    if report.problems and not report.done:
        raise AsrError(f"none of the {len(report.problems)} clip(s) could be transcribed; see the job's log")
    job.progress(1.0, f"{len(report.done)} clips transcribed, {len(report.problems)} skipped")
    # The list is not among the result's files: deleting the job must not delete the dataset's transcripts.
    return JobResult(
        info={
            "list": str(list_path),
            "confidence": str(confidence_path(list_path)),
            "transcribed": len(report.done),
            "kept": report.kept,
            "skipped": [str(problem) for problem in report.problems],
        },
    )


def title(params: DatasetTranscribeJob) -> str:
    return f"{Path(params.list_path).name} ({params.engine})"


KIND = JobKind("dataset_transcribe", DatasetTranscribeJob, run, Urgency.LONG, title)
