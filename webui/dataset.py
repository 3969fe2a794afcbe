"""Dataset tab: drag in recordings, import them (a quality verdict per file), slice them into clips
(optionally reduced to their vocals and denoised first, with a before/after preview of denoising; the
slicer's settings in an accordion built from `SlicerSettings`' fields), transcribe the clips.

Every step is a job on core's queue; the tab copies the uploads into the workspace, submits, polls the job's
record and shows its result. Slicing also starts the dataset's `.list` (one line per clip, empty
transcripts) for the Proofread tab; transcribing fills its empty lines (and says which command to run when
the engine's model is absent).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from core.audio import to_int16
from core.data.asr import DEFAULT_ENGINE, ENGINES, LANGUAGES, dataset_list, missing_model_hint
from core.data.denoise import denoise_preview
from core.data.importer import RAW_DIR, dataset_dir
from core.data.proofread import add_clips, clips_dir, drop_earlier_slices, list_path
from core.data.separate import require_model
from core.data.slicer import SLICE_SR, SLICER_MODES, SlicerSettings, clip_origin
from core.data.uploads import stage_upload
from core.errors import TimbreError
from core.jobs import JobRecord, JobState
from core.jobs.dataset_import import DatasetImportJob
from core.jobs.dataset_slice import DatasetSliceJob
from core.jobs.dataset_transcribe import DatasetTranscribeJob
from core.pretrained import DEFAULT_SEPARATOR
from webui.context import StudioContext
from webui.i18n import error, request_lang, t, translate, user_errors
from webui.jobs import watch_job
from webui.uploads import checked_upload

LIST_LANGS = ("ZH", "EN", "JA", "KO", "YUE")  # the language column codes new lines get
VERDICT_COLUMNS = (
    "data.column_file",
    "data.column_seconds",
    "data.column_speech",
    "data.column_peak",
    "data.column_clipped",
    "data.column_lufs",
    "data.column_snr",
    "data.column_problems",
)
CLIP_COLUMNS = ("data.column_clip", "data.column_seconds")
# The label of each SlicerSettings field (literal keys, so the locale test sees them used).
SLICER_LABELS = {
    "threshold_db": "data.slicer_threshold_db",
    "min_length_ms": "data.slicer_min_length_ms",
    "min_interval_ms": "data.slicer_min_interval_ms",
    "hop_size_ms": "data.slicer_hop_size_ms",
    "max_sil_kept_ms": "data.slicer_max_sil_kept_ms",
    "max_clip_seconds": "data.slicer_max_clip_seconds",
    "normalize_max": "data.slicer_normalize_max",
    "normalize_alpha": "data.slicer_normalize_alpha",
    "mode": "data.slicer_mode",
}
SLICER_INFO = {"mode": "data.slicer_mode_info"}
DENOISED_DIR = "denoised"  # beside raw/ in the dataset's folder: the copies the slicer reads
VOCALS_DIR = "vocals"  # beside raw/: the separated vocals (their accompaniment in vocals/accompaniment/)
PREVIEW_SECONDS = 10.0


def _table(columns: tuple[str, ...], rows: list[list], lang: str) -> dict:
    return {"headers": [translate(key, lang) for key in columns], "data": rows}


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def verdict_rows(info: dict) -> list[list[str]]:
    """One row per imported recording, from a `dataset_import` job's result info; then one per file that
    was skipped, with why, in the problems column."""
    blank = [""] * 6  # no measures for a file that could not be read
    skipped = [[item["source"], *blank, f"skipped: {item['error']}"] for item in info.get("skipped", ())]
    return [
        [
            item["source"],
            _number(item["seconds"]),
            _number(item["speech_seconds"]),
            _number(item["peak_dbfs"]),
            f"{100 * item['clipped_fraction']:.2f}",
            _number(item["loudness_lufs"]),
            _number(item["snr_db"]),
            "; ".join(item["problems"]),
        ]
        for item in info["recordings"]
    ] + skipped


def clip_rows(files: tuple[str, ...] | list[str]) -> list[list[str]]:
    """One row per clip: its file name and length (from the `<name>_<start>_<end>.wav` sample indices)."""
    rows = []
    for path in files:
        origin = clip_origin(path)
        seconds = None if origin is None else (origin[2] - origin[1]) / SLICE_SR
        rows.append([Path(path).name, _number(seconds, 2)])
    return rows


def follow(
    ctx: StudioContext, job_id: str, lang_ui: str, progress: gr.Progress | None = None
) -> Iterator[tuple[str, JobRecord | None]]:
    """Yield (status, None) while the job waits and runs, then (status, record) once it has finished."""
    for status, record in watch_job(
        ctx, job_id, lang_ui, progress, queued_key="data.queued", running_key="data.running"
    ):
        if not record.state.finished:
            yield status, None
    if record.state is JobState.DONE:
        yield translate("data.done", lang_ui), record
    else:
        message = record.error or record.state.value
        yield translate("data.failed", lang_ui, message=message), record


def submit_import(ctx: StudioContext, name: str, uploads: list[str] | None, lang_ui: str) -> JobRecord:
    """Copy the uploads into the workspace and queue their import into dataset `name`."""
    if not (name or "").strip():
        raise error("data.need_name", lang_ui)
    if not uploads:
        raise error("data.need_files", lang_ui)
    with user_errors(lang_ui):
        dataset_dir(ctx.workspace, name.strip())  # a bad name is refused before anything is copied
        taken = [checked_upload(ctx, path, "the recording") for path in uploads]  # all checked before a copy
        sources = tuple(str(stage_upload(ctx.workspace, path)) for path in taken)  # keeps names
        return ctx.queue.submit(DatasetImportJob(name.strip(), sources))


def raw_recordings(ctx: StudioContext, name: str) -> list[Path]:
    """The imported recordings of dataset `name`, sorted ([] for none or a bad name)."""
    try:
        raw = dataset_dir(ctx.workspace, (name or "").strip()) / RAW_DIR
    except TimbreError:
        return []
    return sorted(raw.glob("*.wav")) if raw.is_dir() else []


def slicer_settings(values: list, lang_ui: str) -> SlicerSettings:
    """SlicerSettings from the accordion's values, in the order of its fields (bad combinations refused
    with the rule to follow)."""
    fields = dataclasses.fields(SlicerSettings)
    given = {f.name: type(f.default)(v) for f, v in zip(fields, values, strict=True)}
    with user_errors(lang_ui):
        return SlicerSettings(**given)


def submit_slice(
    ctx: StudioContext,
    name: str,
    lang_ui: str,
    settings: SlicerSettings | None = None,
    denoise: bool = False,
    separate: bool = False,
) -> JobRecord:
    """Queue the slicing of every imported recording of dataset `name` into its clips folder (denoised
    first into `<dataset>/denoised/` when `denoise`; before that reduced to the vocals, into
    `<dataset>/vocals/`, when `separate`: refused with the command to run when the model is absent)."""
    with user_errors(lang_ui):
        folder = dataset_dir(ctx.workspace, (name or "").strip())
        if separate:
            require_model(DEFAULT_SEPARATOR, ctx.models.pretrained_dir)
    recordings = raw_recordings(ctx, name)
    if not recordings:
        raise error("data.nothing_to_slice", lang_ui, name=name)
    out = clips_dir(ctx.workspace, name.strip())
    return ctx.queue.submit(
        DatasetSliceJob(
            tuple(map(str, recordings)),
            str(out),
            settings or SlicerSettings(),
            str(folder / DENOISED_DIR) if denoise else None,
            str(folder / VOCALS_DIR) if separate else None,
        )
    )


def preview_denoise(ctx: StudioContext, name: str, recording: str | None, lang_ui: str) -> tuple:
    """The first seconds of a recording of dataset `name` before and after denoising, as two players'
    values ((sr, int16 samples) each: Gradio would rescale floats, and the levels must stay comparable)."""
    recordings = raw_recordings(ctx, name)
    if not recordings:
        raise error("data.nothing_to_slice", lang_ui, name=name)
    chosen = next((p for p in recordings if p.name == recording), recordings[0])
    with user_errors(lang_ui):
        sr, before, after = denoise_preview(chosen, PREVIEW_SECONDS)
    return (sr, to_int16(before)), (sr, to_int16(after))


def asr_hint(ctx: StudioContext, engine: str, lang_ui: str) -> str:
    """What to run or install before `engine` can transcribe, in `lang_ui` ("" when nothing is missing)."""
    hint = missing_model_hint(engine, None, ctx.models.pretrained_dir)
    return "" if hint is None else translate("data.asr_missing", lang_ui, message=hint)


def submit_transcribe(ctx: StudioContext, name: str, engine: str, language: str, lang_ui: str) -> JobRecord:
    """Queue the transcription of dataset `name`'s clips whose text is empty (its `.list` is started from the
    sliced clips if needed). Refused with the command to run when the engine's model is absent."""
    if not (name or "").strip():
        raise error("data.need_name", lang_ui)
    hint = asr_hint(ctx, engine, lang_ui)
    if hint:
        raise gr.Error(hint, title=translate("studio.error", lang_ui))
    with user_errors(lang_ui):
        list_file = dataset_list(ctx.workspace, name.strip(), language)
        return ctx.queue.submit(DatasetTranscribeJob(str(list_file), engine, None, language))


def build(ctx: StudioContext) -> None:
    """Create the Dataset tab's components inside the caller's Blocks."""
    with gr.Row():
        name = gr.Textbox(label=t("data.name"), elem_id="data-name")
        lang = gr.Dropdown(list(LIST_LANGS), value="ZH", label=t("data.lang"), elem_id="data-lang")
    files = gr.File(file_count="multiple", type="filepath", label=t("data.files"), elem_id="data-files")
    with gr.Accordion(t("data.slicer_settings"), open=False, elem_id="data-slicer"):
        knobs = []
        with gr.Row():
            for f in dataclasses.fields(SlicerSettings):
                common = dict(label=t(SLICER_LABELS[f.name]), elem_id="data-" + f.name.replace("_", "-"))
                if f.name in SLICER_INFO:
                    common["info"] = t(SLICER_INFO[f.name])
                if f.name == "mode":
                    knobs.append(gr.Dropdown(list(SLICER_MODES), value=f.default, **common))
                else:
                    precision = 0 if isinstance(f.default, int) else None
                    knobs.append(gr.Number(value=f.default, precision=precision, **common))
    with gr.Row():
        separate = gr.Checkbox(
            False, label=t("data.separate"), info=t("data.separate_info"), elem_id="data-separate"
        )
        denoise = gr.Checkbox(
            False, label=t("data.denoise"), info=t("data.denoise_info"), elem_id="data-denoise"
        )
        source = gr.Dropdown([], label=t("data.preview_source"), elem_id="data-preview-source")
        do_preview = gr.Button(t("data.preview"), elem_id="data-preview")
    with gr.Row():
        before = gr.Audio(label=t("data.before"), type="numpy", interactive=False, elem_id="data-before")
        after = gr.Audio(label=t("data.after"), type="numpy", interactive=False, elem_id="data-after")
    with gr.Row():
        do_import = gr.Button(t("data.import"), variant="primary", elem_id="data-import")
        do_slice = gr.Button(t("data.slice"), elem_id="data-slice")
    status = gr.Markdown(elem_id="data-status")
    verdict = gr.Markdown(elem_id="data-verdict")

    def empty(columns: tuple[str, ...]):
        def value(request: gr.Request | None = None) -> dict:
            return _table(columns, [], request_lang(request))

        return value

    recordings = gr.Dataframe(value=empty(VERDICT_COLUMNS), interactive=False, elem_id="data-recordings")
    clips = gr.Dataframe(value=empty(CLIP_COLUMNS), interactive=False, elem_id="data-clips")
    clip_player = gr.Audio(label=t("data.clip"), type="filepath", interactive=False, elem_id="data-player")
    clip_paths = gr.State([])
    with gr.Row():
        engine = gr.Dropdown(
            list(ENGINES), value=DEFAULT_ENGINE, label=t("data.asr_engine"), elem_id="data-engine"
        )
        asr_lang = gr.Dropdown(
            list(LANGUAGES), value="auto", label=t("data.asr_language"), elem_id="data-asr-lang"
        )
        do_transcribe = gr.Button(t("data.transcribe"), elem_id="data-transcribe")
    asr_note = gr.Markdown(elem_id="data-asr-hint")

    def on_import(request: gr.Request, name_value: str, uploads: list[str] | None, progress=gr.Progress()):  # noqa: B008
        lang_ui = request_lang(request)
        record = submit_import(ctx, name_value, uploads, lang_ui)
        for text, done in follow(ctx, record.id, lang_ui, progress):
            if done is None or done.state is not JobState.DONE:
                yield text, gr.skip(), gr.skip()
            else:
                info = done.result.info
                rows = _table(VERDICT_COLUMNS, verdict_rows(info), lang_ui)
                yield text, f"`{info['verdict']}`", rows

    # `progress` stays positional, before the knobs' values: Gradio looks for it among positional parameters
    def on_slice(
        request: gr.Request,
        name_value: str,
        lang_value: str,
        denoise_value: bool,
        separate_value: bool,
        progress=gr.Progress(),  # noqa: B008
        *values,
    ):
        lang_ui = request_lang(request)
        settings = slicer_settings(list(values), lang_ui)
        record = submit_slice(ctx, name_value, lang_ui, settings, denoise_value, separate_value)
        for text, done in follow(ctx, record.id, lang_ui, progress):
            if done is None or done.state is not JobState.DONE:
                yield text, gr.skip(), gr.skip()
            else:
                files = list(done.result.files)
                list_file = list_path(ctx.workspace, name_value.strip())
                with user_errors(lang_ui):
                    kept = drop_earlier_slices(list_file, files)
                    add_clips(list_file, files, name_value.strip(), lang_value)
                text = translate("data.sliced", lang_ui, clips=len(files))
                if kept:
                    text += " " + translate("data.sliced_kept", lang_ui, clips=kept)
                yield text, _table(CLIP_COLUMNS, clip_rows(files), lang_ui), files

    def on_engine(request: gr.Request, engine_value: str) -> str:
        return asr_hint(ctx, engine_value, request_lang(request))

    def on_transcribe(
        request: gr.Request,
        name_value: str,
        engine_value: str,
        language: str,
        progress=gr.Progress(),  # noqa: B008
    ):
        lang_ui = request_lang(request)
        hint = asr_hint(ctx, engine_value, lang_ui)
        if hint:  # shown where it stays, so the command can be copied
            yield hint, hint
            return
        record = submit_transcribe(ctx, name_value, engine_value, language, lang_ui)
        for text, done in follow(ctx, record.id, lang_ui, progress):
            if done is not None and done.state is JobState.DONE:
                info = done.result.info
                text = translate(
                    "data.transcribed", lang_ui, clips=info["transcribed"], skipped=len(info["skipped"])
                )
            yield text, ""

    def on_pick(paths: list[str], event: gr.SelectData):
        row = event.index[0] if isinstance(event.index, list | tuple) else event.index
        return paths[row] if 0 <= row < len(paths) else None

    imported = do_import.click(
        on_import, [name, files], [status, verdict, recordings], concurrency_limit=None
    )

    def on_recordings(name_value: str):
        names = [p.name for p in raw_recordings(ctx, name_value)]
        return gr.update(choices=names, value=names[0] if names else None)

    def on_preview(request: gr.Request, name_value: str, recording: str | None):
        return preview_denoise(ctx, name_value, recording, request_lang(request))

    do_slice.click(
        on_slice, [name, lang, denoise, separate, *knobs], [status, clips, clip_paths], concurrency_limit=None
    )
    name.blur(on_recordings, name, source)
    imported.then(on_recordings, name, source)
    do_preview.click(on_preview, [name, source], [before, after])
    clips.select(on_pick, clip_paths, clip_player)
    engine.change(on_engine, engine, asr_note)
    do_transcribe.click(on_transcribe, [name, engine, asr_lang], [status, asr_note], concurrency_limit=None)
