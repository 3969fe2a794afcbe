"""Job kind `synthesis`: one request read aloud (interactive: goes before long jobs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.jobs.context import JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import Urgency
from core.jobs.records import JobResult
from core.output import FragmentSpool, deliver_to_workspace, output_name
from core.synthesis import SynthesisRequest


@dataclass(frozen=True)
class SynthesisJob:
    """A request plus the GPT/SoVITS pair that reads it. Paths are absolute (the workspace, or pretrained/),
    and every input file is already inside the workspace when the job is queued."""

    request: SynthesisRequest
    gpt_path: str
    sovits_path: str
    interface: str = "ui"  # who asked: ui, api, cli (for the output's usage log)
    name: str = "tts"  # output file stem
    stream: bool = False  # also hand each fragment to a `FragmentSpool` as it finishes (streamed API replies)


def run(params: SynthesisJob, job: JobContext) -> JobResult:
    synth = job.models.synthesizer(params.gpt_path, params.sovits_path)
    job.progress(0.0, "reading the text")
    on_fragment = None
    if params.stream:
        spool = FragmentSpool(job.workspace, job.job_id)

        def on_fragment(index: int, audio) -> None:
            spool.put(index, audio, synth.sample_rate)

    result = synth.synthesize_result(params.request, on_progress=job.on_progress, on_fragment=on_fragment)
    job.check()
    delivery = deliver_to_workspace(
        job.workspace,
        result.audio,
        result.sample_rate,
        interface=params.interface,
        name=output_name(params.name),
        meta={"job": job.job_id, "seed": result.seed},
    )
    job.progress(1.0, f"{delivery.seconds:.1f} s of audio")
    return JobResult(
        files=(str(delivery.path),),
        info={"seed": result.seed, "sample_rate": result.sample_rate, "seconds": delivery.seconds},
    )


def title(params: SynthesisJob) -> str:
    text = " ".join(params.request.text.split())
    return f"{text[:40]}{'…' if len(text) > 40 else ''} ({Path(params.sovits_path).stem})"


KIND = JobKind("synthesis", SynthesisJob, run, Urgency.INTERACTIVE, title)
