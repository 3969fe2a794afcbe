"""Synthesize tab: choose a voice, type text, hear it.

The tab owns no model: it builds a `SynthesisRequest` from its controls (one control per tunable request
field, made from the field's `Knob`), copies the uploaded clips into the workspace, submits a job to core's
queue and shows the job's queue position, progress and result. Cancel stops the job at its next step; the
history lists this workspace's recent results (play, download, reuse the settings, delete).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from core import pretrained
from core.audio import audio_info
from core.errors import AudioError, TimbreError
from core.ethics import ConsentStore
from core.jobs import BatchSynthesisJob, JobRecord, JobState, SynthesisJob
from core.synthesis import Knob, SynthesisRequest, knob_fields, split_fragments
from core.text import LANGUAGES, check_text_length
from core.voices import UI_CONSENT, VoiceStore
from webui import uploads, voice_presets
from webui.context import StudioContext
from webui.i18n import error, request_lang, t, translate, user_errors
from webui.jobs import watch_job

KNOBS_BESIDE_TEXT = ("speed_factor", "pitch", "reference_compat")  # the rest sit under "Sampling"
HISTORY_ROWS = 20
PREVIEW_SPLIT = "cut2"  # a preview reads the first fragment of this split: about 50 characters


def list_weights(ctx: StudioContext, suffix: str) -> list[tuple[str, str]]:
    """GPT (`.ckpt`) or SoVITS (`.pth`) files under pretrained/ and the workspace's weights/, as
    (label, path) pairs: the label is short ("workspace: my_voice.pth"), the value is the full path."""
    found: list[tuple[str, str]] = []
    for origin, root in (
        ("pretrained", ctx.settings.pretrained_dir),
        ("workspace", ctx.workspace.weights_dir),
    ):
        if root.is_dir():
            for path in sorted(root.rglob(f"*{suffix}")):
                if path.name.startswith("s2D"):  # SoVITS discriminators are for training only
                    continue
                found.append((f"{origin}: {path.relative_to(root)}", str(path)))
    return found


def missing_pretrained_message(ctx: StudioContext) -> str:
    """Markdown naming the missing pretrained files and the command that fetches them ("" if none is missing);
    its sentence is translated in the browser, the folder, file names and command follow it verbatim."""
    report = pretrained.check(ctx.settings.pretrained_dir, "v2", include_training=False)
    if not report.missing:
        return ""
    names = ", ".join(f"`{status.expected.relative_to(report.root)}`" for status in report.missing)
    return (
        t("synth.missing_pretrained")
        + f"\n\n`{ctx.settings.pretrained_dir}`: {names}\n\n"
        + f"```\npython -m core pretrained download --version v2 --dir {ctx.settings.pretrained_dir}\n```"
    )


# ----------------------------------------------------------------------------------------------------
# From controls to a job


@dataclass(frozen=True)
class Voice:
    """The voice controls' values, in `VOICE_FIELDS` order."""

    gpt: str | None
    sovits: str | None
    ref_audio: str | None
    aux_refs: Sequence[str] | None
    ref_text: str | None
    ref_lang: str


KNOB_NAMES = tuple(name for name, _, _ in knob_fields())


def _knob_values(values: Sequence, lang_ui: str) -> dict:
    """Knob controls' values (in `KNOB_NAMES` order) as request fields; an emptied number box is a mistake,
    except for fields whose default is None (then empty or 0 means: not set)."""
    out = {}
    for (name, default, knob), value in zip(knob_fields(), values, strict=True):
        if isinstance(default, bool):
            value = bool(value)
        elif default is None and value in (None, "", 0):  # an empty number box sends 0
            value = None
        elif value is None or value == "":
            raise error("synth.empty_field", lang_ui, name=translate(f"knob.{name}", lang_ui))
        elif knob.integer:
            value = int(value)
        elif not knob.choices:
            value = float(value)
        out[name] = value
    return out


def build_request(
    ctx: StudioContext, voice: Voice, text: str, text_lang: str, knob_values: Sequence, lang_ui: str
) -> SynthesisRequest:
    """The request the controls describe, its clips copied into the workspace (uploads are temporary; a path
    that is not an upload is refused before it is read, `webui.uploads`)."""
    if not voice.gpt or not voice.sovits:
        raise error("synth.need_weights", lang_ui)
    if not voice.ref_audio:
        raise error("synth.need_reference", lang_ui)
    check_text_length(text or "", ctx.settings.max_text_chars)
    ref = uploads.checked_upload(ctx, voice.ref_audio, "the reference clip")
    aux = [_aux_clip(ctx, path) for path in voice.aux_refs or ()]  # all checked before any is copied
    return SynthesisRequest(
        text=text or "",
        text_lang=text_lang,
        ref_audio_path=str(ctx.workspace.import_upload(ref)),
        aux_ref_audio_paths=tuple(str(ctx.workspace.import_upload(path)) for path in aux),
        prompt_text=voice.ref_text or "",
        prompt_lang=voice.ref_lang,
        user_dict=ctx.user_dictionary(),  # readings fixed in the Text tab apply here too
        **_knob_values(knob_values, lang_ui),
    )


def _aux_clip(ctx: StudioContext, path: str) -> Path:
    clip = uploads.checked_upload(ctx, path, "an extra reference clip")
    seconds, _, _ = audio_info(clip)
    limit = ctx.settings.max_aux_ref_seconds
    if seconds > limit:
        raise AudioError(
            f"the extra reference clip {Path(path).name} is {seconds:.1f} s long; use one of at most "
            f"{limit:g} s (the studio's limit, set with --max-aux-seconds)"
        )
    return clip


def checked_weights(ctx: StudioContext, voice: Voice) -> tuple[str, str]:
    """The voice's GPT and SoVITS paths, if both lie in the workspace or the pretrained folder."""
    return (
        str(uploads.checked_weights(ctx, voice.gpt or "", "GPT weights")),
        str(uploads.checked_weights(ctx, voice.sovits or "", "SoVITS weights")),
    )


def delete_weights(
    ctx: StudioContext, files: Sequence[str | None], armed: tuple[str, ...] | None, lang_ui: str
) -> tuple[tuple[str, ...] | None, str]:
    """Delete the chosen weights files from the workspace on a second click: the first only asks (returns
    the files as `armed`), and a file a saved voice uses is never deleted. Returns (armed, message)."""
    chosen = tuple(filter(None, files))
    if not chosen:
        return None, translate("synth.need_weights", lang_ui)
    own = tuple(path for path in chosen if ctx.workspace.owns_weights(path))
    if not own:
        names = ", ".join(Path(path).name for path in chosen)
        return None, translate("synth.weights_not_deletable", lang_ui, files=names)
    chosen = own  # pretrained weights chosen beside them are not asked about: they are never deleted
    store = VoiceStore(ctx.workspace)
    for path in chosen:
        if users := store.using(path):
            voices = ", ".join(users)
            return None, translate("synth.voice_in_use", lang_ui, file=Path(path).name, voices=voices)
    names = ", ".join(Path(path).name for path in chosen)
    if armed != chosen:
        return chosen, translate("synth.voice_delete_confirm", lang_ui, files=names)
    deleted, refused = [], []
    for path in chosen:
        try:
            deleted.append(ctx.workspace.delete_weights(path).name)
        except TimbreError as exc:  # gone meanwhile, or not deletable
            refused.append(str(exc))
    message = translate("synth.voice_deleted", lang_ui, files=", ".join(deleted)) if deleted else ""
    return None, " ".join([message, *refused]).strip()


def speaker_consent(
    ctx: StudioContext, request: SynthesisRequest, confirmed: bool, lang_ui: str, user: str | None = None
) -> str:
    """The consent statement a generation with `request`'s clips runs under. A voice (clip content) used
    here for the first time needs the consent box ticked; that is then remembered for the voice and logged."""
    store = ConsentStore(ctx.workspace.root)
    clips = (request.ref_audio_path, *request.aux_ref_audio_paths)
    new = [clip for clip in clips if store.statement(clip) is None]
    if new and not confirmed:
        raise error("synth.need_consent", lang_ui)
    for clip in new:
        store.confirm(clip, UI_CONSENT, interface="ui", user=user)
    return str(store.statement(request.ref_audio_path))


def submit(
    ctx: StudioContext,
    voice: Voice,
    text: str,
    text_lang: str,
    knob_values: Sequence,
    lang_ui: str,
    *,
    consent: bool = False,
    user: str | None = None,
):
    """Queue one synthesis; returns its record. Mistakes raise `gr.Error` in `lang_ui`. `consent`: the
    consent box (needed the first time a voice is used); `user`: who is logged in (for the usage log)."""
    with user_errors(lang_ui):
        request = build_request(ctx, voice, text, text_lang, knob_values, lang_ui)
        gpt, sovits = checked_weights(ctx, voice)
        statement = speaker_consent(ctx, request, consent, lang_ui, user)
        job = SynthesisJob(request, gpt, sovits, interface="ui", user=user, consent=statement)
        return ctx.queue.submit(job)


def submit_batch(
    ctx: StudioContext,
    voice: Voice,
    lines_file: str | None,
    text_lang: str,
    knob_values: Sequence,
    lang_ui: str,
    *,
    consent: bool = False,
    user: str | None = None,
) -> JobRecord:
    """Queue a batch: every line of `lines_file` in this voice, one output per line."""
    if not lines_file:
        raise error("synth.need_lines_file", lang_ui)
    with user_errors(lang_ui):
        lines_upload = uploads.checked_upload(ctx, lines_file, "the lines file")
        request = build_request(ctx, voice, "batch", text_lang, knob_values, lang_ui)
        gpt, sovits = checked_weights(ctx, voice)
        lines = ctx.workspace.import_upload(lines_upload)
        statement = speaker_consent(ctx, request, consent, lang_ui, user)
        job = BatchSynthesisJob(
            request, gpt, sovits, str(lines), interface="ui", user=user, consent=statement
        )
        return ctx.queue.submit(job)


# ----------------------------------------------------------------------------------------------------
# Following a job


def follow(
    ctx: StudioContext, job_id: str, lang_ui: str, progress: gr.Progress | None = None
) -> Iterator[tuple]:
    """Yield (player, download, status, job id, history) while the job waits and runs, then its outcome.
    A failure leaves the player and download as they were (`gr.skip()`): the last good result stays."""
    for status, record in watch_job(
        ctx, job_id, lang_ui, progress, queued_key="synth.queued", running_key="synth.running"
    ):
        if not record.state.finished:
            yield gr.skip(), gr.skip(), status, job_id, gr.skip()
    if record.state is JobState.DONE:
        path = record.result.files[0]
        info = record.result.info
        status = translate("synth.done", lang_ui, seconds=f"{info['seconds']:.1f}", seed=info["seed"])
        yield path, path, status, job_id, history_table(ctx, lang_ui)
    elif record.state is JobState.CANCELLED:
        yield gr.skip(), gr.skip(), translate("synth.cancelled", lang_ui), job_id, gr.skip()
    else:
        message = record.error or record.state.value
        yield gr.skip(), gr.skip(), translate("synth.failed", lang_ui, message=message), job_id, gr.skip()


def history(ctx: StudioContext) -> list[JobRecord]:
    """This workspace's finished syntheses, newest first."""
    done = [r for r in ctx.queue.jobs() if r.kind == "synthesis" and r.state is JobState.DONE and r.result]
    return done[:HISTORY_ROWS]


HISTORY_COLUMNS = ("synth.column_job", "synth.column_time", "synth.column_text", "synth.column_voice")


def history_table(ctx: StudioContext, lang: str) -> dict:
    """Recent results as the history table shows them, with headers in `lang`."""
    return {"headers": [translate(key, lang) for key in HISTORY_COLUMNS], "data": history_rows(ctx)}


def history_rows(ctx: StudioContext) -> list[list[str]]:
    rows = []
    for record in history(ctx):
        request = record.params.request
        when = time.strftime("%m-%d %H:%M:%S", time.localtime(record.finished_at or record.created_at))
        text = " ".join(request.text.split())
        rows.append(
            [
                record.id,
                when,
                text[:60] + ("…" if len(text) > 60 else ""),
                Path(record.params.sovits_path).stem,
            ]
        )
    return rows


def reuse_settings(ctx: StudioContext, job_id: str | None) -> list:
    """The controls' values that made a past result: voice, text, language, then every knob."""
    if not job_id:
        return [gr.skip()] * (8 + len(KNOB_NAMES))
    params = ctx.queue.get(job_id).params
    request = params.request
    voice = [params.gpt_path, params.sovits_path, str(request.ref_audio_path)]
    voice += [
        list(map(str, request.aux_ref_audio_paths)) or None,
        request.prompt_text,
        request.prompt_lang or "zh",
    ]
    return [*voice, request.text, request.text_lang, *(getattr(request, name) for name in KNOB_NAMES)]


# ----------------------------------------------------------------------------------------------------
# The tab


def knob_control(name: str, default, knob: Knob, prefix: str = "synth") -> gr.components.Component:
    """The control for one request field: a checkbox, a dropdown for choices, a slider for a range, else a
    number box. Labels come from the locale keys `knob.NAME` (`PREFIX.knob.NAME` for other tabs)."""
    key = "knob." + name if prefix == "synth" else f"{prefix}.knob.{name}"
    common = dict(label=t(key), info=t(key + "_info"), elem_id=f"{prefix}-" + name.replace("_", "-"))
    if isinstance(default, bool):
        return gr.Checkbox(value=default, **common)
    if knob.choices:
        return gr.Dropdown(list(knob.choices), value=default, **common)
    if knob.slider is not None:
        low, high, step = knob.slider
        return gr.Slider(low, high, value=default, step=step, **common)
    return gr.Number(value=default, precision=0 if knob.integer else None, **common)


def build(ctx: StudioContext) -> None:
    """Create the Synthesize tab's components inside the caller's Blocks."""
    gr.Markdown(missing_pretrained_message(ctx), elem_id="synth-missing")
    with gr.Row():
        gpt = gr.Dropdown(list_weights(ctx, ".ckpt"), label=t("synth.gpt"), elem_id="synth-gpt")
        sovits = gr.Dropdown(list_weights(ctx, ".pth"), label=t("synth.sovits"), elem_id="synth-sovits")
        refresh = gr.Button(t("synth.refresh"), scale=0)
        delete_voice = gr.Button(
            t("synth.delete_voice"), variant="stop", scale=0, elem_id="synth-delete-voice"
        )
    voice_status = gr.Markdown(elem_id="synth-voice-status")
    knobs: dict[str, gr.components.Component] = {}
    with gr.Row():
        with gr.Column():
            ref_audio = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label=t("synth.ref_audio"),
                elem_id="synth-ref",
            )
            ref_text = gr.Textbox(label=t("synth.ref_text"), elem_id="synth-ref-text")
            ref_lang = gr.Dropdown(
                list(LANGUAGES),
                value="zh",
                label=t("synth.ref_lang"),
                info=t("studio.lang_codes"),
                elem_id="synth-ref-lang",
            )
            aux_refs = gr.File(
                file_count="multiple", file_types=["audio"], label=t("synth.aux_refs"), type="filepath"
            )
            consent = gr.Checkbox(
                label=t("synth.consent"), info=t("synth.consent_info"), elem_id="synth-consent"
            )
        with gr.Column():
            text = gr.Textbox(label=t("synth.text"), lines=4, elem_id="synth-text")
            lang = gr.Dropdown(
                list(LANGUAGES),
                value="zh",
                label=t("synth.lang"),
                info=t("studio.lang_codes"),
                elem_id="synth-lang",
            )
            for name, default, knob in knob_fields():
                if name in KNOBS_BESIDE_TEXT:
                    knobs[name] = knob_control(name, default, knob)
            with gr.Accordion(t("synth.sampling"), open=False, elem_id="synth-sampling"):
                for name, default, knob in knob_fields():
                    if name not in KNOBS_BESIDE_TEXT:
                        knobs[name] = knob_control(name, default, knob)
    voice_presets.build(
        ctx, gpt, sovits, ref_audio, ref_text, ref_lang, lambda suffix: list_weights(ctx, suffix)
    )
    with gr.Row():
        go = gr.Button(t("synth.generate"), variant="primary", elem_id="synth-generate")
        preview = gr.Button(t("synth.preview"), elem_id="synth-preview", scale=0)
        cancel = gr.Button(t("synth.cancel"), variant="stop", elem_id="synth-cancel", scale=0)
    with gr.Row():
        player = gr.Audio(
            label=t("synth.result"), type="filepath", interactive=False, elem_id="synth-result", scale=2
        )
        with gr.Column():
            download = gr.File(label=t("synth.download"), elem_id="synth-download")
            status = gr.Markdown(elem_id="synth-status")
    job_id = gr.State(None)
    with gr.Accordion(t("synth.batch"), open=False, elem_id="synth-batch"):
        lines_file = gr.File(
            file_types=[".txt"], type="filepath", label=t("synth.lines_file"), elem_id="synth-lines"
        )
        queue_batch = gr.Button(t("synth.queue_batch"), elem_id="synth-queue-batch")
        batch_status = gr.Markdown(elem_id="synth-batch-status")
    with gr.Accordion(t("synth.history"), open=False, elem_id="synth-history"):

        def current_history(request: gr.Request | None = None) -> dict:
            return history_table(ctx, request_lang(request))

        history_view = gr.Dataframe(
            value=current_history,
            interactive=False,
            elem_id="synth-history-table",
        )
        chosen = gr.State(None)
        with gr.Row():
            reuse = gr.Button(t("synth.reuse"), elem_id="synth-reuse")
            delete = gr.Button(t("synth.delete"), variant="stop", elem_id="synth-delete")

    voice_inputs = [gpt, sovits, ref_audio, aux_refs, ref_text, ref_lang]
    knob_inputs = [knobs[name] for name in KNOB_NAMES]

    def run(request: gr.Request, values: tuple, progress: gr.Progress, *, preview: bool) -> Iterator[tuple]:
        lang_ui = request_lang(request)
        voice, (text_value, text_lang), knob_values = Voice(*values[:6]), values[6:8], values[8:-1]
        if preview:  # the first ~50 characters only: hear pitch, speed and the voice in a moment
            first = split_fragments(text_value or "", text_lang, PREVIEW_SPLIT)
            text_value = first[0] if first else text_value
        try:
            record = submit(
                ctx,
                voice,
                text_value,
                text_lang,
                knob_values,
                lang_ui,
                consent=values[-1],
                user=request.username,
            )
        except gr.Error as exc:
            failed = translate("synth.failed", lang_ui, message=exc.message)
            yield gr.skip(), gr.skip(), failed, gr.skip(), gr.skip()
            return
        yield from follow(ctx, record.id, lang_ui, progress)

    def on_generate(request: gr.Request, *values, progress=gr.Progress()):  # noqa: B008 (gradio injects it)
        yield from run(request, values, progress, preview=False)

    def on_preview(request: gr.Request, *values, progress=gr.Progress()):  # noqa: B008 (gradio injects it)
        yield from run(request, values, progress, preview=True)

    def on_cancel(current: str | None):
        if current:
            ctx.queue.cancel(current)

    def on_queue_batch(request: gr.Request, *values):
        lang_ui = request_lang(request)
        voice, (lines, text_lang), knob_values = Voice(*values[:6]), values[6:8], values[8:-1]
        record = submit_batch(
            ctx, voice, lines, text_lang, knob_values, lang_ui, consent=values[-1], user=request.username
        )
        return translate("synth.batch_queued", lang_ui, job=record.id)

    def on_pick(rows, event: gr.SelectData):
        row = event.index[0] if isinstance(event.index, list | tuple) else event.index
        job = rows.iloc[row, 0] if hasattr(rows, "iloc") else rows[row][0]
        record = ctx.queue.get(job)
        path = record.result.files[0] if record.result else None
        return job, path, path

    def on_delete(request: gr.Request, job: str | None):
        if job:
            ctx.queue.delete(job)
        return None, history_table(ctx, request_lang(request))

    armed_delete = gr.State(None)  # the files a first click on Delete asked about

    def on_delete_voice(request: gr.Request, armed, *chosen_files: str | None):
        armed, message = delete_weights(ctx, chosen_files, armed, request_lang(request))
        lists = (
            gr.Dropdown(choices=list_weights(ctx, ".ckpt")),
            gr.Dropdown(choices=list_weights(ctx, ".pth")),
        )
        return *lists, message, armed

    delete_voice.click(
        on_delete_voice, [armed_delete, gpt, sovits], [gpt, sovits, voice_status, armed_delete]
    )
    refresh.click(
        lambda: (
            gr.Dropdown(choices=list_weights(ctx, ".ckpt")),
            gr.Dropdown(choices=list_weights(ctx, ".pth")),
        ),
        None,
        [gpt, sovits],
    )
    go.click(
        on_generate,
        [*voice_inputs, text, lang, *knob_inputs, consent],
        [player, download, status, job_id, history_view],
        api_name="synthesize",
        concurrency_limit=None,  # core's queue decides what runs when
    )
    preview.click(
        on_preview,
        [*voice_inputs, text, lang, *knob_inputs, consent],
        [player, download, status, job_id, history_view],
        concurrency_limit=None,
    )
    cancel.click(on_cancel, job_id, None, queue=False)
    queue_batch.click(on_queue_batch, [*voice_inputs, lines_file, lang, *knob_inputs, consent], batch_status)
    history_view.select(on_pick, history_view, [chosen, player, download])
    reuse.click(lambda job: reuse_settings(ctx, job), chosen, [*voice_inputs, text, lang, *knob_inputs])
    delete.click(on_delete, chosen, [chosen, history_view])
