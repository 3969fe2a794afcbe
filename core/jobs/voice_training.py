"""Job kind `voice_training`: the Train tab's one click, from a dataset's recordings to a new voice.

One long job runs, in order, whatever the dataset still lacks (each stage is the same core code the
separate tools run, and each is resumable, so clicking again continues where a cancel, a crash or a pause
stopped):

    slice        recordings in `raw/` cut into clips (when the dataset has no clips yet)
    transcribe   clips with an empty transcript, by ASR; then, unless unticked, the job stops and asks for
                 proofreading (the Proofread tab); the next click goes on from here
    check        the `.list` validated (`core.data.validate`): errors stop the job with their line numbers
    features     the experiment folder `<dataset>/exp` (a rerun skips clips already done)
    sovits, gpt  fine-tuning (`core.training`), weights into the workspace's `weights/`, so the new voice
                 is in the Synthesize tab's lists; after each save a sample is read with the newest pair

Between training steps the job yields the device to interactive requests (the lease). Loss values go to
`<exp>/timbre_train/losses.jsonl` (one line per step) for the Train tab's plot. Consent is asked once per
dataset, when its training starts: the job refuses to run without it, and records it for the clip its
samples use as the voice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.data.asr import DEFAULT_ENGINE, dataset_list, load_transcriber, transcribe_list
from core.data.features import FeatureModels, extract_features
from core.data.importer import RAW_DIR, dataset_dir
from core.data.listfile import read_list
from core.data.proofread import clips_dir, list_path
from core.data.slicer import slice_file
from core.data.validate import clip_seconds, validate_dataset
from core.errors import TimbreError, TrainingError
from core.ethics.consent import ConsentStore
from core.jobs import synthesis as synthesis_job
from core.jobs.context import JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import Urgency
from core.jobs.records import JobResult
from core.pretrained import model_paths, require_supported
from core.synthesis import REF_MAX_SECONDS, REF_MIN_SECONDS, Knob, SynthesisRequest
from core.synthesis import knob_fields as synthesis_knob_fields
from core.training.gpt import train_gpt
from core.training.run import STATE_DIR, TrainEvent, TrainSettings, saved_weights
from core.training.sovits import train_sovits

EXP_DIR = "exp"
LOSSES_FILE = "losses.jsonl"
STAGE_SHARE = {"slice": 0.05, "transcribe": 0.1, "features": 0.1, "sovits": 0.45, "gpt": 0.3}
CONSENT_STATEMENT = "consent for dataset {name!r} confirmed when its training started"


def _knob(default, help: str, **limits):  # noqa: ANN001, ANN202 - a dataclass field
    return field(default=default, metadata={"knob": Knob("", help, **limits)})


@dataclass(frozen=True)
class VoiceTrainingJob:
    """What the Train tab asks for. The tuning fields carry `Knob`s, from which the tab builds its controls;
    defaults suit a 1-minute dataset (the reference web UI's epochs; batch 4 fits a 12 GB GPU)."""

    dataset: str
    name: str = ""  # the new voice's file names (default: the dataset's name)
    consent: bool = False  # the user confirmed they have the speaker's consent
    sovits_epochs: int = _knob(8, "SoVITS epochs", low=1, high=100, integer=True, slider=(1, 50, 1))
    gpt_epochs: int = _knob(15, "GPT epochs", low=1, high=100, integer=True, slider=(1, 50, 1))
    batch_size: int = _knob(4, "clips per batch", low=1, high=64, integer=True, slider=(1, 32, 1))
    save_every: int = _knob(4, "save every K epochs", low=1, high=100, integer=True, slider=(1, 25, 1))
    lr_scale: float = _knob(1.0, "learning-rate scale", low=0.01, high=100.0, slider=(0.1, 10.0, 0.1))
    warmup_steps: int = _knob(0, "GPT warm-up steps", low=0, high=100000, integer=True)
    pause_for_proofreading: bool = _knob(True, "stop after ASR for proofreading")
    epoch_items: int = _knob(100, "items per epoch", low=1, high=10000, integer=True, slider=(1, 200, 1))
    segment_size: int = _knob(0, "segment samples (0: the model's)", low=0, high=10**6, integer=True)
    asr_engine: str = DEFAULT_ENGINE
    asr_language: str = "auto"
    version: str = "v2"

    @property
    def model_name(self) -> str:
        return self.name.strip() or self.dataset


def knob_fields() -> list[tuple[str, object, Knob]]:
    """(field name, default, Knob) of the settings the Train tab offers, in order."""
    return synthesis_knob_fields(VoiceTrainingJob)


def exp_dir(workspace, dataset: str) -> Path:  # noqa: ANN001 - a Workspace
    return dataset_dir(workspace, dataset) / EXP_DIR


def losses_path(workspace, dataset: str) -> Path:  # noqa: ANN001 - a Workspace
    return exp_dir(workspace, dataset) / STATE_DIR / LOSSES_FILE


def read_losses(path: Path) -> list[dict]:
    """The loss lines written so far (a line being written is skipped)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class _Stages:
    """Progress over the stages this run will do, in the order they run."""

    def __init__(self, job: JobContext, stages: list[str]) -> None:
        self.job = job
        total = sum(STAGE_SHARE[s] for s in stages) or 1.0
        self.start: dict[str, float] = {}
        done = 0.0
        for stage in stages:
            self.start[stage] = done / total
            done += STAGE_SHARE[stage]
        self.share = {s: STAGE_SHARE[s] / total for s in stages}

    def report(self, stage: str, fraction: float, message: str) -> None:
        self.job.progress(self.start[stage] + self.share[stage] * min(max(fraction, 0.0), 1.0), message)


def _needs_transcripts(path: Path) -> bool:
    return not path.is_file() or any(not entry.text.strip() for entry in read_list(path).entries)


def _sample(job: JobContext, params: VoiceTrainingJob, gpt: Path, sovits: Path, tag: str) -> str | None:
    """Read one of the dataset's transcripts in the new voice, with another clip (3-10 s long) as the
    reference; None, said in the log, when no clip can serve or reading fails (training goes on)."""
    entries = read_list(list_path(job.workspace, params.dataset)).entries
    usable = [e for e in entries if REF_MIN_SECONDS <= (clip_seconds(e.path) or 0) <= REF_MAX_SECONDS]
    if not usable:
        job.log(f"no sample: no clip lasts {REF_MIN_SECONDS:g}-{REF_MAX_SECONDS:g} s to serve as the voice")
        return None
    ref = usable[0]
    text = next((e for e in reversed(entries) if e is not ref), ref)
    request = SynthesisRequest(
        text=text.text,
        text_lang=text.lang.lower(),
        ref_audio_path=ref.path,
        prompt_text=ref.text,
        prompt_lang=ref.lang.lower(),
    )
    sample = synthesis_job.SynthesisJob(
        request, str(gpt), str(sovits), interface="train", name=f"{params.model_name}_sample_{tag}"
    )
    inner = JobContext.standalone(job.workspace, job.models, kind="synthesis")
    try:
        return synthesis_job.run(sample, inner).files[0]
    except TimbreError as exc:
        job.log(f"no sample: {exc}")
        return None


def run(params: VoiceTrainingJob, job: JobContext) -> JobResult:
    workspace = job.workspace
    if not params.consent:
        raise TrainingError(
            "confirm that you have the speaker's consent to clone this voice before training on it"
        )
    require_supported(params.version)
    listing = list_path(workspace, params.dataset)
    raw = dataset_dir(workspace, params.dataset) / RAW_DIR
    clips = clips_dir(workspace, params.dataset)
    stages = []
    if not any(clips.glob("*.wav")) and not listing.is_file():
        if not any(raw.glob("*.wav")):
            raise TrainingError(f"dataset {params.dataset!r} has no recordings; add some in the Dataset tab")
        stages.append("slice")
    if "slice" in stages or _needs_transcripts(listing):
        stages.append("transcribe")
    stages += ["features", "sovits", "gpt"]
    progress = _Stages(job, stages)
    info: dict = {"stages": stages}

    if "slice" in stages:
        with job.step("slice"):
            recordings = sorted(raw.glob("*.wav"))
            for index, path in enumerate(recordings):
                job.between_steps()
                progress.report("slice", index / len(recordings), f"slicing {path.name}")
                slice_file(path, clips)
    if "transcribe" in stages:
        with job.step("transcribe"):
            target = dataset_list(workspace, params.dataset, params.asr_language)
            transcriber = load_transcriber(
                params.asr_engine, None, job.models.pretrained_dir, job.models.device
            )

            def on_clip(index: int, total: int, name: str) -> None:
                job.between_steps()
                progress.report("transcribe", index / total, f"transcribing {name}")

            transcribe_list(target, transcriber, language=params.asr_language, on_clip=on_clip)
        if params.pause_for_proofreading:
            job.progress(1.0, "transcribed: proofread the clips, then click Train again")
            return JobResult(info={**info, "paused": "proofread", "list": str(target)})

    problems = validate_dataset(listing)
    blocking = [p for p in problems if p.blocking]
    if blocking:
        lines = "; ".join(f"line {p.line_no}: {p.reason}" if p.line_no else p.reason for p in blocking[:5])
        raise TrainingError(
            f"the dataset has {len(blocking)} problem(s) to fix first (Proofread tab): {lines}"
        )
    for problem in problems:
        job.log(f"warning: {problem.reason}" + (f" (line {problem.line_no})" if problem.line_no else ""))

    exp = exp_dir(workspace, params.dataset)
    with job.step("features"):
        paths = model_paths(job.models.pretrained_dir, params.version)
        hubert, bert = job.models.shared()
        models = FeatureModels(
            bert=bert, hubert=hubert, sovits=job.models.sovits(paths.sovits).model, g2pw=job.models.g2pw()
        )

        def on_features(index: int, total: int, name: str) -> None:
            job.between_steps()
            progress.report("features", index / total, f"features of {name}")

        report = extract_features(listing, exp, models, on_clip=on_features)
        for problem in report.problems:
            job.log(f"skipped: {problem}")

    ConsentStore(workspace.root).confirm(
        read_list(listing).entries[0].path,
        CONSENT_STATEMENT.format(name=params.dataset),
        interface="train",
    )
    settings = TrainSettings(
        exp_dir=exp,
        pretrained_dir=job.models.pretrained_dir,
        name=params.model_name,
        out_dir=workspace.weights_dir,
        batch_size=params.batch_size,
        save_every=params.save_every,
        lr_scale=params.lr_scale,
        warmup_steps=params.warmup_steps,
        version=params.version,
        device=job.models.device,
        epoch_items=params.epoch_items,
        segment_size=params.segment_size or None,
    )
    losses = losses_path(workspace, params.dataset)
    losses.parent.mkdir(parents=True, exist_ok=True)
    newest = {}  # the pair the samples read with: this voice's newest files, else the base models
    for model, base in (("gpt", paths.t2s), ("sovits", paths.sovits)):
        saved = saved_weights(workspace.weights_dir, params.model_name, model)
        newest[model] = saved[-1] if saved else base
    samples: list[str] = []
    started = time.monotonic()

    def on_event(event: TrainEvent) -> None:
        if event.kind == "step":
            with open(losses, "a", encoding="utf-8") as fh:
                row = {"model": event.model, "epoch": event.epoch, "step": event.step, **event.losses}
                fh.write(json.dumps(row) + "\n")
            elapsed = time.monotonic() - started
            left = elapsed / max(event.fraction, 1e-6) * (1 - event.fraction)
            message = (
                f"{'SoVITS' if event.model == 'sovits' else 'GPT'} epoch {event.epoch}/{event.epochs}, "
                f"step {event.step}/{event.steps_per_epoch * event.epochs}, about {left / 60:.0f} min left"
            )
            progress.report(event.model, event.fraction, message)
            job.between_steps()
        elif event.kind == "saved":
            newest[event.model] = Path(event.files[0])
            job.log(f"saved {Path(event.files[0]).name}")
            sample = _sample(job, params, newest["gpt"], newest["sovits"], f"{event.model}_e{event.epoch}")
            if sample is not None:
                samples.append(sample)
                job.log(f"sample: {Path(sample).name}")

    with job.step("sovits"):
        progress.report("sovits", 0.0, "SoVITS: loading the models")
        started = time.monotonic()
        train_sovits(replace(settings, epochs=params.sovits_epochs), on_event, log=job.log)
    with job.step("gpt"):
        progress.report("gpt", 0.0, "GPT: loading the model")
        started = time.monotonic()
        train_gpt(replace(settings, epochs=params.gpt_epochs), on_event, log=job.log)
    job.progress(1.0, f"voice {params.model_name} is ready in the Synthesize tab")
    return JobResult(
        files=tuple(samples),
        info={**info, "gpt": str(newest["gpt"]), "sovits": str(newest["sovits"]), "samples": samples},
    )


def title(params: VoiceTrainingJob) -> str:
    return f"{params.dataset} → {params.model_name}"


KIND = JobKind("voice_training", VoiceTrainingJob, run, Urgency.LONG, title)
