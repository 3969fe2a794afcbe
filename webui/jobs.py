"""Jobs tab: everything in core's queue (state, progress, elapsed time, ETA, queue position), refreshed every
second; pick a job to read its log and files, cancel it, retry it or delete it."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator

import gradio as gr

from core.errors import TimbreError
from core.jobs import JobRecord, JobState
from webui.context import StudioContext
from webui.i18n import request_lang, t, translate

REFRESH_S = 1.0
POLL_S = 0.2  # how often a tab that waits for its job reads the job's record
SHOWN_JOBS = 50
STATE_KEYS = {
    JobState.QUEUED: "jobs.state_queued",
    JobState.RUNNING: "jobs.state_running",
    JobState.DONE: "jobs.state_done",
    JobState.FAILED: "jobs.state_failed",
    JobState.CANCELLED: "jobs.state_cancelled",
    JobState.INTERRUPTED: "jobs.state_interrupted",
}
KIND_KEYS = {"synthesis": "jobs.kind_synthesis", "batch": "jobs.kind_batch"}
ACTION_KEYS = {"cancel": "jobs.did_cancel", "retry": "jobs.did_retry", "delete": "jobs.did_delete"}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    return (
        f"{seconds // 60}:{seconds % 60:02d}"
        if seconds < 3600
        else f"{seconds // 3600}h{seconds // 60 % 60:02d}"
    )


def jobs_html(ctx: StudioContext, records: list[JobRecord], lang: str) -> str:
    """The queue as an HTML table: one row per job (newest first) with a progress bar."""
    if not records:
        return f"<p id='jobs-empty'>{html.escape(translate('jobs.empty', lang))}</p>"
    pending = {job_id: i + 1 for i, job_id in enumerate(ctx.queue.pending_ids())}
    head = "".join(
        f"<th>{html.escape(translate(key, lang))}</th>"
        for key in ("jobs.column_job", "jobs.column_what", "jobs.column_state", "jobs.column_progress",
                    "jobs.column_elapsed", "jobs.column_eta")
    )  # fmt: skip
    rows = []
    for record in records:
        state = translate(STATE_KEYS[record.state], lang)
        if record.id in pending:
            state += " " + translate("jobs.position", lang, position=pending[record.id])
        percent = round(100 * record.progress)
        rows.append(
            f"<tr data-job='{record.id}' data-state='{record.state.value}'>"
            f"<td><code>{record.id}</code></td><td>{html.escape(_what(record, lang))}</td>"
            f"<td>{html.escape(state)}</td>"
            f"<td><progress max='100' value='{percent}'></progress> {percent}%</td>"
            f"<td>{_duration(record.elapsed)}</td><td>{_duration(record.eta)}</td></tr>"
        )
    return f"<table id='jobs-list'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _what(record: JobRecord, lang: str) -> str:
    kind = translate(KIND_KEYS[record.kind], lang) if record.kind in KIND_KEYS else record.kind
    return f"{kind}: {record.title}"


def watch_job(
    ctx: StudioContext,
    job_id: str,
    lang: str,
    progress: gr.Progress | None,
    *,
    queued_key: str,
    running_key: str,
) -> Iterator[tuple[str, JobRecord]]:
    """Read a job's record every `POLL_S`: while it waits or runs, yield (status line in `lang`, record), the
    line made from `queued_key` (with its queue position) or `running_key` (with its percentage) and also
    shown on `progress`; last, yield ("", the finished record)."""
    while True:
        record = ctx.queue.get(job_id)
        if record.state.finished:
            yield "", record
            return
        if record.state is JobState.QUEUED:
            status = translate(queued_key, lang, position=ctx.queue.position(job_id) or 1)
            fraction = 0.0
        else:
            status = translate(running_key, lang, percent=round(100 * record.progress))
            fraction = record.progress
        if progress is not None:
            progress(fraction, desc=status)
        yield status, record
        time.sleep(POLL_S)


def job_choices(records: list[JobRecord], lang: str) -> list[tuple[str, str]]:
    return [(f"{r.id} · {_what(r, lang)}", r.id) for r in records]


def job_details(ctx: StudioContext, job_id: str | None, lang: str) -> tuple[str, list[str] | None]:
    """(log text, result files) of one job."""
    if not job_id:
        return "", None
    try:
        record: JobRecord = ctx.queue.get(job_id)
    except TimbreError:
        return translate("jobs.gone", lang), None
    lines = list(record.log)
    if record.state is JobState.RUNNING and record.message:
        lines.append(record.message)
    if record.error:
        lines.append(translate("jobs.error", lang, message=record.error))
    files = list(record.result.files) if record.result and record.state is JobState.DONE else None
    return "\n".join(lines), files


def build(ctx: StudioContext) -> None:
    """Create the Jobs tab's components inside the caller's Blocks."""
    timer = gr.Timer(REFRESH_S)
    table = gr.HTML(elem_id="jobs-table", padding=True)
    with gr.Row():
        chosen = gr.Dropdown(
            choices=[], label=t("jobs.chosen"), elem_id="jobs-select", allow_custom_value=True
        )
        cancel = gr.Button(t("jobs.cancel"), variant="stop", elem_id="jobs-cancel", scale=0)
        retry = gr.Button(t("jobs.retry"), elem_id="jobs-retry", scale=0)
        delete = gr.Button(t("jobs.delete"), elem_id="jobs-delete", scale=0)
    status = gr.Markdown(elem_id="jobs-status")
    log = gr.Textbox(label=t("jobs.log"), lines=8, max_lines=30, interactive=False, elem_id="jobs-log")
    files = gr.File(label=t("jobs.files"), file_count="multiple", interactive=False, elem_id="jobs-files")

    def refresh(job_id: str | None, request: gr.Request):
        lang = request_lang(request)
        log_text, job_files = job_details(ctx, job_id, lang)
        records = ctx.queue.jobs()[:SHOWN_JOBS]  # read once per refresh: the table and the choices share it
        return (
            jobs_html(ctx, records, lang),
            gr.Dropdown(choices=job_choices(records, lang)),
            log_text,
            job_files,
        )

    def act(action: str, job_id: str | None, request: gr.Request) -> str:
        lang = request_lang(request)
        if not job_id:
            return translate("jobs.choose_first", lang)
        try:
            getattr(ctx.queue, action)(job_id)
        except TimbreError as exc:
            return translate("jobs.error", lang, message=str(exc))
        return translate(ACTION_KEYS[action], lang, job=job_id, time=time.strftime("%H:%M:%S"))

    outputs = [table, chosen, log, files]
    timer.tick(refresh, chosen, outputs, queue=False, show_progress="hidden")
    chosen.change(refresh, chosen, outputs, queue=False, show_progress="hidden")

    def handler(action: str):
        def on_click(job_id: str | None, request: gr.Request) -> str:
            return act(action, job_id, request)

        return on_click

    for button, action in ((cancel, "cancel"), (retry, "retry"), (delete, "delete")):
        button.click(handler(action), chosen, status)
