"""Start the Timbre studio: `python app.py` then open http://127.0.0.1:7860."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.errors import TimbreError
from core.settings import Settings, check_device, check_gpu_jobs


def _port(value: str) -> int:
    port = int(value) if value.isdigit() else -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (1-65535)")
    return port


def parse_settings(argv: list[str] | None = None) -> Settings:
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
    args = parser.parse_args(argv)
    return Settings(**vars(args))


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    # The studio never phones home; set before gradio is imported.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from core.jobs import Worker
    from webui import StudioContext, build_studio, studio_i18n

    try:
        check_device(settings.device)
        check_gpu_jobs(settings.gpu_jobs)
        ctx = StudioContext.open(settings)
    except TimbreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    worker = Worker(ctx.queue, ctx.models, gpu_jobs=settings.gpu_jobs).start() if settings.workers else None
    studio = build_studio(ctx)
    # Gradio's own queue only carries requests to ours (core/jobs), which decides what runs when.
    studio.queue(default_concurrency_limit=None)
    try:
        # quiet: gradio's own start-up lines tell you to edit `launch()`; ours name the flags instead.
        studio.launch(
            server_name=settings.host,
            server_port=settings.port,
            share=settings.share,
            allowed_paths=[str(ctx.workspace.root)],
            show_api=True,
            i18n=studio_i18n(),
            quiet=True,
            prevent_thread_lock=True,
        )
    except OSError:  # gradio reports a busy port as OSError
        print(
            f"error: cannot listen on {settings.host}:{settings.port} (in use?); pass another --port",
            file=sys.stderr,
        )
        return 2
    print(f"* Running on local URL:  {studio.local_url}")
    if not settings.share:  # with --share, gradio prints the public URL itself
        print("* To also open a temporary public link, start again with --share.")
    try:
        studio.block_thread()
    finally:
        if worker is not None:
            worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
