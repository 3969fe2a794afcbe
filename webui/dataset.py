"""Dataset tab: drag in recordings, import them (a quality verdict per file), slice them into clips.

Both steps are jobs on core's queue; the tab copies the uploads into the workspace, submits, polls the job's
record and shows its result. Slicing also starts the dataset's `.list` (one line per clip, empty
transcripts) for the Proofread tab.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from core.data.importer import RAW_DIR, dataset_dir
from core.data.proofread import add_clips, clips_dir, list_path
from core.data.slicer import SLICE_SR
from core.data.uploads import stage_upload
from core.jobs import JobRecord, JobState
from core.jobs.dataset_import import DatasetImportJob
from core.jobs.dataset_slice import DatasetSliceJob
from webui.context import StudioContext
from webui.i18n import error, request_lang, t, translate, user_errors
from webui.jobs import watch_job

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


def _table(columns: tuple[str, ...], rows: list[list], lang: str) -> dict:
    return {"headers": [translate(key, lang) for key in columns], "data": rows}


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def verdict_rows(info: dict) -> list[list[str]]:
    """One row per imported recording, from a `dataset_import` job's result info."""
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
    ]


def clip_rows(files: tuple[str, ...] | list[str]) -> list[list[str]]:
    """One row per clip: its file name and length (from the `<name>_<start>_<end>.wav` sample indices)."""
    rows = []
    for path in files:
        parts = Path(path).stem.rsplit("_", 2)
        seconds = (
            (int(parts[2]) - int(parts[1])) / SLICE_SR if len(parts) == 3 and parts[1].isdigit() else None
        )
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
        sources = tuple(str(stage_upload(ctx.workspace, path)) for path in uploads)  # keeps names
        return ctx.queue.submit(DatasetImportJob(name.strip(), sources))


def submit_slice(ctx: StudioContext, name: str, lang_ui: str) -> JobRecord:
    """Queue the slicing of every imported recording of dataset `name` into its clips folder."""
    with user_errors(lang_ui):
        raw = dataset_dir(ctx.workspace, (name or "").strip()) / RAW_DIR
    recordings = sorted(raw.glob("*.wav")) if raw.is_dir() else []
    if not recordings:
        raise error("data.nothing_to_slice", lang_ui, name=name)
    out = clips_dir(ctx.workspace, name.strip())
    return ctx.queue.submit(DatasetSliceJob(tuple(map(str, recordings)), str(out)))


def build(ctx: StudioContext) -> None:
    """Create the Dataset tab's components inside the caller's Blocks."""
    with gr.Row():
        name = gr.Textbox(label=t("data.name"), elem_id="data-name")
        lang = gr.Dropdown(list(LIST_LANGS), value="ZH", label=t("data.lang"), elem_id="data-lang")
    files = gr.File(file_count="multiple", type="filepath", label=t("data.files"), elem_id="data-files")
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

    def on_slice(request: gr.Request, name_value: str, lang_value: str, progress=gr.Progress()):  # noqa: B008
        lang_ui = request_lang(request)
        record = submit_slice(ctx, name_value, lang_ui)
        for text, done in follow(ctx, record.id, lang_ui, progress):
            if done is None or done.state is not JobState.DONE:
                yield text, gr.skip(), gr.skip()
            else:
                files = list(done.result.files)
                with user_errors(lang_ui):
                    add_clips(
                        list_path(ctx.workspace, name_value.strip()), files, name_value.strip(), lang_value
                    )
                text = translate("data.sliced", lang_ui, clips=len(files))
                yield text, _table(CLIP_COLUMNS, clip_rows(files), lang_ui), files

    def on_pick(paths: list[str], event: gr.SelectData):
        row = event.index[0] if isinstance(event.index, list | tuple) else event.index
        return paths[row] if 0 <= row < len(paths) else None

    do_import.click(on_import, [name, files], [status, verdict, recordings], concurrency_limit=None)
    do_slice.click(on_slice, [name, lang], [status, clips, clip_paths], concurrency_limit=None)
    clips.select(on_pick, clip_paths, clip_player)
