"""Train tab: one click from a dataset to a new voice (`core.jobs.voice_training` runs whatever is missing:
slicing, ASR, features, SoVITS, GPT), with its progress, a plot of the losses, and the newest sample.

The settings are built from the job's dataclass (`voice_training.knob_fields`). The job belongs to the
queue: closing the page does not stop it; coming back and choosing the dataset shows its losses again.
"""

from __future__ import annotations

import gradio as gr
from matplotlib.figure import Figure

from core.data.importer import DATASETS_DIR
from core.jobs.records import JobState
from core.jobs.voice_training import VoiceTrainingJob, knob_fields, losses_path, read_losses
from webui.context import StudioContext
from webui.i18n import error, request_lang, t, translate, user_errors
from webui.jobs import watch_job
from webui.synthesize import knob_control

PLOTTED = {"sovits": ("mel", "kl", "gen", "disc"), "gpt": ("loss",)}  # the losses plotted, per model
KNOB_NAMES = tuple(name for name, _, _ in knob_fields())


def dataset_names(ctx: StudioContext) -> list[str]:
    root = ctx.workspace.root / DATASETS_DIR
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def loss_figure(ctx: StudioContext, dataset: str | None) -> Figure | None:
    """The losses written so far, one panel per model (log scale: the losses differ by orders of
    magnitude); None before the first step."""
    rows = read_losses(losses_path(ctx.workspace, dataset)) if dataset else []
    models = [m for m in PLOTTED if any(row.get("model") == m for row in rows)]
    if not models:
        return None
    figure = Figure(figsize=(10, 3.2), layout="constrained")
    for axes, model in zip(figure.subplots(1, len(models), squeeze=False)[0], models, strict=True):
        mine = [row for row in rows if row.get("model") == model]
        for name in PLOTTED[model]:
            axes.plot([row["step"] for row in mine], [row[name] for row in mine], label=name)
        axes.set_title({"sovits": "SoVITS", "gpt": "GPT"}[model])
        axes.set_yscale("log")
        axes.set_xlabel("step")
        axes.legend(loc="upper right", fontsize="small")
    return figure


def losses_stamp(ctx: StudioContext, dataset: str) -> tuple[int, int] | None:
    """(size, modification time) of the dataset's losses file, None before it exists."""
    try:
        stat = losses_path(ctx.workspace, dataset).stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def newest_sample(ctx: StudioContext, name: str) -> str | None:
    samples = sorted(ctx.workspace.outputs_dir.glob(f"{name}_sample_*.wav"), key=lambda p: p.stat().st_mtime)
    return str(samples[-1]) if samples else None


def submit(ctx: StudioContext, dataset: str, name: str, consent: bool, knob_values: tuple, lang_ui: str):
    """Queue the one-click training of `dataset` (refused without a dataset or without consent)."""
    if not dataset:
        raise error("train.need_dataset", lang_ui)
    if not consent:
        raise error("train.need_consent", lang_ui)
    values = dict(zip(KNOB_NAMES, knob_values, strict=True))
    for field_name, _, knob in knob_fields():
        if knob.integer and values[field_name] is not None:
            values[field_name] = int(values[field_name])
    with user_errors(lang_ui):
        job = VoiceTrainingJob(dataset=dataset, name=(name or "").strip(), consent=True, **values)
        return ctx.queue.submit(job)


def build(ctx: StudioContext) -> None:
    """Create the Train tab's components inside the caller's Blocks."""
    with gr.Row():
        dataset = gr.Dropdown(
            dataset_names(ctx), value=None, label=t("train.dataset"), elem_id="train-dataset"
        )
        refresh = gr.Button(t("train.refresh"), scale=0)
        name = gr.Textbox(label=t("train.name"), info=t("train.name_info"), elem_id="train-name")
    consent = gr.Checkbox(label=t("train.consent"), elem_id="train-consent")
    knobs = {}
    with gr.Accordion(t("train.settings"), open=False):
        for field_name, default, knob in knob_fields():
            knobs[field_name] = knob_control(field_name, default, knob, prefix="train")
    with gr.Row():
        start = gr.Button(t("train.start"), variant="primary", elem_id="train-start")
        stop = gr.Button(t("train.stop"), variant="stop", elem_id="train-stop")
    status = gr.Markdown(elem_id="train-status")
    plot = gr.Plot(label=t("train.plot"), elem_id="train-plot")
    sample = gr.Audio(label=t("train.sample"), type="filepath", interactive=False, elem_id="train-sample")
    job_id = gr.State(None)

    def on_dataset(value: str | None, name_value: str | None):
        voice = (name_value or "").strip() or value
        return loss_figure(ctx, value), newest_sample(ctx, voice) if voice else None

    def on_start(request: gr.Request, dataset_value, name_value, consent_value, *knob_values):
        lang_ui = request_lang(request)
        submitted = submit(ctx, dataset_value, name_value, consent_value, knob_values, lang_ui)
        voice = (name_value or "").strip() or dataset_value
        yield submitted.id, translate("train.queued", lang_ui), loss_figure(ctx, dataset_value), gr.update()
        drawn = None  # the losses file as last drawn: the plot is redrawn only when training wrote more
        for line, record in watch_job(
            ctx, submitted.id, lang_ui, None, queued_key="train.queued_at", running_key="train.running"
        ):
            if not record.state.finished:
                message = f"{line} · {record.message}" if record.message else line
                stamp = losses_stamp(ctx, dataset_value)
                if stamp == drawn:
                    yield record.id, message, gr.update(), gr.update()
                    continue
                drawn = stamp
                yield record.id, message, loss_figure(ctx, dataset_value), newest_sample(ctx, voice)
        if record.state is JobState.DONE:
            paused = record.result is not None and record.result.info.get("paused") == "proofread"
            done = translate("train.paused" if paused else "train.done", lang_ui, name=voice)
        else:
            done = translate("train.failed", lang_ui, message=record.error or record.state.value)
        yield None, done, loss_figure(ctx, dataset_value), newest_sample(ctx, voice)

    def on_stop(request: gr.Request, current: str | None) -> str:
        if current:
            ctx.queue.cancel(current)
        return translate("train.stopping", request_lang(request)) if current else ""

    refresh.click(lambda: gr.Dropdown(choices=dataset_names(ctx)), outputs=dataset)
    dataset.change(on_dataset, inputs=[dataset, name], outputs=[plot, sample])
    start.click(
        on_start,
        inputs=[dataset, name, consent, *knobs.values()],
        outputs=[job_id, status, plot, sample],
    )
    stop.click(on_stop, inputs=job_id, outputs=status)
