"""Start the Timbre studio: `python app.py` then open http://127.0.0.1:7860."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import signal
import sys
from pathlib import Path

from core.cli.tts import add_precision_flag, add_watermark_flags
from core.errors import TimbreError
from core.ethics.marking import ResponsibleUse, start_marking
from core.settings import (
    SHARE_LINK_HOURS,
    Settings,
    check_device,
    check_gpu_jobs,
    check_precision,
    read_credentials,
)


def _port(value: str) -> int:
    port = int(value) if value.isdigit() else -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (1-65535)")
    return port


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number")
    return number


def parse_settings(argv: list[str] | None = None) -> Settings:
    return parse_args(argv)[0]


def parse_args(argv: list[str] | None = None) -> tuple[Settings, ResponsibleUse, str | None]:
    """The settings, how to watermark and log (`--no-watermark`, `--private-log`), and the operator's
    `--consent-statement` for api_v2 requests with a clip nobody confirmed consent for."""
    defaults = Settings()
    parser = argparse.ArgumentParser(description="Timbre voice studio")
    parser.add_argument("--host", default=defaults.host, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=_port, default=defaults.port, help="port (default %(default)s)")
    parser.add_argument(
        "--workspace",
        type=Path,
        default=defaults.workspace,
        help="folder for your weights, outputs and dictionary (default %(default)s)",
    )
    parser.add_argument(
        "--pretrained",
        type=Path,
        default=defaults.pretrained_dir,
        dest="pretrained_dir",
        help="pretrained models folder (default %(default)s)",
    )
    parser.add_argument(
        "--device",
        default=defaults.device,
        choices=["cpu", "cuda"],
        help="where models run (default %(default)s)",
    )
    add_precision_flag(parser)
    parser.add_argument("--share", action="store_true", help="also open a temporary public link")
    parser.add_argument(
        "--queue",
        dest="queue_url",
        default=defaults.queue_url,
        help="redis://HOST:PORT/DB to share the job queue with other machines (default: SQLite)",
    )
    parser.add_argument(
        "--gpu-jobs",
        type=int,
        default=defaults.gpu_jobs,
        help="heavy jobs running at once on this machine (default %(default)s)",
    )
    parser.add_argument(
        "--no-worker",
        dest="workers",
        action="store_false",
        help="only queue jobs; `python -m core worker` runs them elsewhere",
    )
    parser.add_argument(
        "--max-chars",
        dest="max_text_chars",
        type=int,
        default=defaults.max_text_chars,
        help="longest text one request may read (default %(default)s characters)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=_positive,
        default=defaults.max_upload_mb,
        help="largest file one upload may be, in the UI and the API (default %(default)g MB)",
    )
    parser.add_argument(
        "--max-aux-seconds",
        dest="max_aux_ref_seconds",
        type=_positive,
        default=defaults.max_aux_ref_seconds,
        help="longest extra reference clip (default %(default)g s)",
    )
    parser.add_argument(
        "--auth",
        dest="auth_pairs",
        action="append",
        default=[],
        metavar="USER:PASS",
        help="ask for this login in the UI and the API (repeatable; API: HTTP basic, or the password as a "
        "bearer key)",
    )
    parser.add_argument("--auth-file", type=Path, help="a file of USER:PASS lines, as --auth")
    add_watermark_flags(parser)
    parser.add_argument(
        "--consent-statement",
        metavar="TEXT",
        help="api_v2 requests with a reference clip nobody confirmed consent for run under this statement "
        "(logged with each); without it they are refused",
    )
    values = vars(parser.parse_args(argv))
    use = ResponsibleUse(watermark=not values.pop("no_watermark"), privacy=values.pop("private_log"))
    consent_statement = values.pop("consent_statement")
    try:
        values["auth"] = read_credentials(values.pop("auth_pairs"), values.pop("auth_file"))
    except TimbreError as exc:
        parser.error(str(exc))
    return Settings(**values), use, consent_statement


def main(argv: list[str] | None = None) -> int:
    settings, use, consent_statement = parse_args(argv)
    # The studio never phones home; set before gradio is imported.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from core.api import StudioApi
    from core.jobs import Worker
    from core.models.precision import describe
    from webui import StudioContext, build_studio, studio_i18n

    try:
        check_device(settings.device)
        precision = check_precision(settings.precision, settings.device)  # `auto` becomes what it means here
        settings = dataclasses.replace(settings, precision=precision)
        check_gpu_jobs(settings.gpu_jobs)
        ctx = StudioContext.open(settings)
    except TimbreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    marking = start_marking(ctx.workspace.root, use)  # the self-check: a failure refuses every generation
    if marking.notice:
        print(f"warning: {marking.notice}", file=sys.stderr)
    worker = Worker(ctx.queue, ctx.models, gpu_jobs=settings.gpu_jobs).start() if settings.workers else None
    studio = build_studio(ctx)
    api = StudioApi(
        settings,
        ctx.workspace,
        ctx.queue,
        control=_control_actions(worker, argv),
        credentials=dict(settings.auth),
        consent_statement=consent_statement,
    )
    if settings.open_to_others:
        print(
            "!" * 78 + "\n! WARNING: the studio and its API are open to anyone who can reach "
            f"{'the share link' if settings.share else settings.host}.\n! Start it with --auth USER:PASS "
            "(or --auth-file FILE) to ask for a login.\n" + "!" * 78,
            file=sys.stderr,
        )
    # Gradio's own queue only carries requests to ours (core/jobs), which decides what runs when.
    studio.queue(default_concurrency_limit=None)
    gradio_said = io.StringIO()
    try:
        # quiet: gradio's own start-up lines tell you to edit `launch()`; ours name the flags instead. What it
        # still prints is caught, to turn a failed share link's paragraph into one line (below).
        with contextlib.redirect_stdout(gradio_said):
            studio.launch(
                server_name=settings.host,
                server_port=settings.port,
                share=settings.share,
                allowed_paths=[str(ctx.workspace.root)],
                show_api=True,
                i18n=studio_i18n(),
                quiet=True,
                prevent_thread_lock=True,
                auth=list(settings.auth) or None,
                max_file_size=settings.max_upload_bytes,  # gradio answers a bigger upload with 413
                # The HTTP API lives in Gradio's own app (so --share serves it too), before Gradio's routes.
                app_kwargs={"routes": list(api.router.routes), "docs_url": "/docs"},
            )
    except OSError:  # gradio reports a busy port as OSError
        print(
            f"error: cannot listen on {settings.host}:{settings.port} (in use?); pass another --port",
            file=sys.stderr,
        )
        return 2
    printed, share_failure = _split_share_failure(gradio_said.getvalue())
    print(printed, end="")
    studio.app.openapi = api.openapi_schema  # /docs shows the HTTP API, not Gradio's internals
    print(f"* Running on local URL:  {studio.local_url}")
    print(f"* HTTP API (GPT-SoVITS api_v2 compatible): {studio.local_url}docs")
    print(f"* Models: {describe(settings.precision)}")
    if settings.share and studio.share_url:  # gradio printed the public URL itself
        print(f"* The public link expires {SHARE_LINK_HOURS} hours from now; start again for a new one.")
    elif settings.share:
        print(
            f"* No public link, the studio runs on this machine only: gradio could not open its share "
            f"tunnel (no internet connection here, or gradio.live blocked); it said: {share_failure or '-'}"
        )
    else:
        print("* To also open a temporary public link, start again with --share.")
    try:
        studio.block_thread()
    finally:
        if worker is not None:
            worker.stop()
    return 0


_SHARE_FAILED = "Could not create share link."  # how gradio 5.50's launch() starts that paragraph


def _split_share_failure(printed: str) -> tuple[str, str | None]:
    """What gradio printed during `launch()`, split into the rest and the first line of its several-line
    "Could not create share link" paragraph (None if there is none); `main` prints that line alone."""
    kept, found, failure = printed.partition("\n" + _SHARE_FAILED)
    kept = kept.rstrip("\n")
    reason = (_SHARE_FAILED + failure.split("\n", 1)[0]).strip() if found else None
    return (kept + "\n" if kept.strip() else ""), reason


def _control_actions(worker, argv: list[str] | None) -> dict:
    """What the API's local-only `/control` does: `exit` stops the studio as Ctrl-C does; `restart` stops
    the worker and runs `python app.py` again with the same flags in this process."""

    def exit_studio() -> None:
        os.kill(os.getpid(), signal.SIGINT)

    def restart() -> None:
        if worker is not None:
            worker.stop()
        args = sys.argv[1:] if argv is None else argv
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), *args])

    return {"exit": exit_studio, "restart": restart}


if __name__ == "__main__":
    sys.exit(main())
