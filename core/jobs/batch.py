"""Job kind `batch`: every line of a text file read aloud in one voice, one output file per line.

A long job: between lines it stops if cancelled and lets interactive requests go first. A line that cannot
be read (nothing to speak in it) is logged and skipped; the others are still written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from core.errors import TextError
from core.ethics.usage_log import Provenance
from core.jobs.context import JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import Urgency
from core.jobs.records import JobResult
from core.output import deliver_to_workspace, output_name


@dataclass(frozen=True)
class BatchSynthesisJob:
    """`request` gives the voice and settings (its `text` is replaced by each line); `lines_path` is a UTF-8
    text file inside the workspace."""

    request: object  # core.synthesis.SynthesisRequest
    gpt_path: str
    sovits_path: str
    lines_path: str
    interface: str = "ui"
    name: str = "batch"
    user: str | None = None  # who asked, when the studio asks for a login (for the usage log)
    consent: str | None = None  # the consent statement this batch runs under (for the usage log)


def read_lines(path: str | Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TextError(f"{Path(path).name}: text file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TextError(f"{Path(path).name}: cannot read it as UTF-8 text ({exc})") from exc
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise TextError(f"{Path(path).name}: has no text lines to read")
    return lines


def run(params: BatchSynthesisJob, job: JobContext) -> JobResult:
    lines = read_lines(params.lines_path)
    synth = job.models.synthesizer(params.gpt_path, params.sovits_path)
    stem = Path(output_name(params.name)).stem  # one unique stem for the whole batch
    width = max(3, len(str(len(lines))))
    files, failed = [], []
    for number, line in enumerate(lines, start=1):
        job.between_steps()
        with job.step(f"line {number}"):
            request = dataclasses.replace(params.request, text=line)

            def report(fraction: float, message: str, done: int = number - 1) -> None:
                job.on_progress((done + fraction) / len(lines), f"line {done + 1} of {len(lines)}: {message}")

            try:
                result = synth.synthesize_result(request, on_progress=report)
            except TextError as exc:
                failed.append(number)
                job.log(f"line {number}: {exc}")
                continue
            delivery = deliver_to_workspace(
                job.workspace,
                result.audio,
                result.sample_rate,
                interface=params.interface,
                name=f"{stem}_{number:0{width}d}.wav",
                provenance=Provenance.of(
                    request, params.gpt_path, params.sovits_path, user=params.user, consent=params.consent
                ),
                meta={"job": job.job_id, "line": number, "seed": result.seed},
            )
            files.append(str(delivery.path))
            job.progress(number / len(lines), f"line {number} of {len(lines)} written")
    if not files:
        raise TextError(f"none of the {len(lines)} lines could be read")
    return JobResult(files=tuple(files), info={"lines": len(lines), "failed_lines": failed})


def title(params: BatchSynthesisJob) -> str:
    return f"{Path(params.lines_path).name} ({Path(params.sovits_path).stem})"


KIND = JobKind("batch", BatchSynthesisJob, run, Urgency.LONG, title)
