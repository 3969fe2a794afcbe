"""Job kind `synthesis`: one request read aloud (interactive: goes before long jobs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.ethics.usage_log import Provenance
from core.jobs.context import JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import Urgency
from core.jobs.records import JobResult
from core.output import AudioStream, FragmentSpool, deliver_to_workspace, output_name, output_path
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
    user: str | None = None  # who asked, when the studio asks for a login (for the usage log)
    consent: str | None = None  # the consent statement this generation runs under (for the usage log)


def run(params: SynthesisJob, job: JobContext) -> JobResult:
    synth = job.models.synthesizer(params.gpt_path, params.sovits_path)
    job.progress(0.0, "reading the text")
    provenance = Provenance.of(
        params.request, params.gpt_path, params.sovits_path, user=params.user, consent=params.consent
    )
    meta = {"job": job.job_id}
    on_fragment, stream = None, None
    if params.stream:  # each fragment is marked (and the generation logged) before it is spooled
        spool = FragmentSpool(job.workspace, job.job_id)
        path = output_path(job.workspace, output_name(params.name))
        stream = AudioStream(
            job.workspace.root,
            path,
            synth.sample_rate,
            interface=params.interface,
            provenance=provenance,
            meta=meta,
        )

        def on_fragment(index: int, audio) -> None:
            spool.put(index, stream.add(audio), synth.sample_rate)

    result = synth.synthesize_result(params.request, on_progress=job.on_progress, on_fragment=on_fragment)
    job.check()
    meta["seed"] = result.seed
    if stream is not None:  # the fragments joined are the result (`FragmentCallback`), already marked
        delivery = stream.finish()
    else:
        delivery = deliver_to_workspace(
            job.workspace,
            result.audio,
            result.sample_rate,
            interface=params.interface,
            name=output_name(params.name),
            provenance=provenance,
            meta=meta,
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
