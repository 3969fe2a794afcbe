"""Detect tab: drop in audio files to learn whether Timbre made them (watermark, confidence, which install and
generation, the generation's usage-log line), and the usage log itself (search, export as CSV or JSON Lines).

Also the studio-wide notice when the watermark is off or broken (`notice`), shown above every tab.
"""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from core.errors import TimbreError
from core.ethics.lookup import EXPORT_FORMATS, FileCheck, check_file, export_usage, search_usage
from core.ethics.marking import marking_for
from core.ethics.usage_log import read_usage
from core.workspace import atomic_write_bytes
from webui.context import StudioContext
from webui.i18n import request_lang, t, translate
from webui.uploads import checked_upload
from webui.voice_presets import EXPORTS_DIR  # exported usage logs go there too, for download

RESULT_HEADERS = (
    "detect.col_file",
    "detect.col_detected",
    "detect.col_confidence",
    "detect.col_install",
    "detect.col_generation",
    "detect.col_log",
)
LOG_HEADERS = {  # usage-record field -> its column's header
    "time": "detect.log_time",
    "interface": "detect.log_interface",
    "user": "detect.log_user",
    "output": "detect.log_output",
    "install_id": "detect.log_install_id",
    "generation_id": "detect.log_generation_id",
    "watermark": "detect.log_watermark",
    "text": "detect.log_text",
}
LOG_ROWS = 200  # rows the log view shows (search narrows; export writes every match)


def notice(ctx: StudioContext) -> None:
    """A banner when generation is refused (failed self-check) or the operator turned the watermark off."""
    marking = marking_for(ctx.workspace.root)
    if not marking.enabled:
        gr.Markdown(
            t("studio.watermark_off"), elem_id="studio-watermark-off", elem_classes=["timbre-warning"]
        )
    elif marking.failure:
        with gr.Group(elem_classes=["timbre-warning"]):
            gr.Markdown(t("studio.watermark_failed"), elem_id="studio-watermark-failed")
            gr.Markdown(f"`{marking.failure}`", elem_id="studio-watermark-reason")


def _result_row(check: FileCheck, lang: str) -> list[str]:
    name = check.file.replace("\\", "/").rsplit("/", 1)[-1]
    found = check.detection
    if found is None:
        return [name, translate("detect.error", lang, message=check.error), "", "", "", ""]
    detected = translate("detect.yes" if found.detected else "detect.no", lang)
    confidence = translate(
        "detect.confidence_value", lang, z=f"{found.confidence:.1f}", p=f"{found.false_alarm_probability:.1g}"
    )
    payload = found.payload
    if payload is None:
        origin = translate("detect.unreadable", lang) if found.detected else ""
        return [name, detected, confidence, origin, "", ""]
    origin_key = "detect.this_install" if found.signed_by_this_install else "detect.foreign"
    install = f"{payload.install_id:#06x} ({translate(origin_key, lang)})"
    if check.records:
        last = check.records[-1]
        logged = f"{last['time']} · {last['interface']} · {last['output']}"
    else:
        logged = translate("detect.not_logged", lang)
    return [name, detected, confidence, install, str(payload.generation_id), logged]


def _check_upload(ctx: StudioContext, path: str) -> FileCheck:
    """`check_file` on an upload; a path from outside the allowed folders is refused unread (see uploads)."""
    try:
        return check_file(checked_upload(ctx, path, "the file"), ctx.workspace.root)
    except TimbreError as exc:
        return FileCheck(Path(path).name, None, str(exc))


def check_files(ctx: StudioContext, paths: list[str] | None, lang: str) -> tuple[dict, list[dict]]:
    """The results table for `paths` and every matching usage-log line (for the JSON view)."""
    checks = [_check_upload(ctx, path) for path in paths or []]
    headers = [translate(key, lang) for key in RESULT_HEADERS]
    rows = [_result_row(check, lang) for check in checks]
    entries = [record for check in checks for record in check.records]
    return {"headers": headers, "data": rows}, entries


def _text_cell(record: dict) -> str:
    return record.get("text") or (
        f"sha256:{record['text_sha256'][:16]}…" if record.get("text_sha256") else ""
    )


def log_table(ctx: StudioContext, query: str, lang: str) -> dict:
    """The usage log's newest `LOG_ROWS` lines matching `query`, as a table."""
    records = search_usage(read_usage(ctx.workspace.root), query or "")[:LOG_ROWS]
    headers = [translate(key, lang) for key in LOG_HEADERS.values()]
    rows = [
        [
            _text_cell(r) if name == "text" else "" if r.get(name) is None else str(r.get(name))
            for name in LOG_HEADERS
        ]
        for r in records
    ]
    return {"headers": headers, "data": rows}


def export_log(ctx: StudioContext, query: str, fmt: str) -> str:
    """Write the lines matching `query` (oldest first) as `fmt` into the workspace's exports/; its path."""
    records = search_usage(read_usage(ctx.workspace.root), query or "")[::-1]
    name = f"usage_{time.strftime('%Y%m%d_%H%M%S')}.{fmt}"
    return str(atomic_write_bytes(ctx.workspace.root / EXPORTS_DIR / name, export_usage(records, fmt)))


def build(ctx: StudioContext) -> None:
    """Create the Detect tab's components inside the caller's Blocks."""
    gr.Markdown(t("detect.intro"), elem_id="detect-intro")
    files = gr.File(
        file_count="multiple",
        file_types=["audio"],
        type="filepath",
        label=t("detect.files"),
        elem_id="detect-files",
    )
    results = gr.Dataframe(interactive=False, wrap=True, elem_id="detect-results")
    entries = gr.JSON(label=t("detect.entries"), elem_id="detect-entries")
    with gr.Accordion(t("detect.log"), open=True, elem_id="detect-log"):
        with gr.Row():
            query = gr.Textbox(label=t("detect.search"), elem_id="detect-search", scale=3)
            fmt = gr.Radio(list(EXPORT_FORMATS), value="csv", label=t("detect.format"), scale=1)
            export = gr.Button(t("detect.export"), elem_id="detect-export", scale=0)
        download = gr.File(label=t("detect.download"), elem_id="detect-download")

        def current_log(request: gr.Request | None = None) -> dict:
            return log_table(ctx, "", request_lang(request))

        log_view = gr.Dataframe(value=current_log, interactive=False, wrap=True, elem_id="detect-log-table")

    def on_files(request: gr.Request, paths: list[str] | None, search: str):
        lang = request_lang(request)
        table, found = check_files(ctx, paths, lang)
        return table, found, log_table(ctx, search, lang)

    def on_search(request: gr.Request, search: str) -> dict:
        return log_table(ctx, search, request_lang(request))

    files.change(on_files, [files, query], [results, entries, log_view])
    query.submit(on_search, query, log_view)
    export.click(lambda q, f: export_log(ctx, q, f), [query, fmt], download)
