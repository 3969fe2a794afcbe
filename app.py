"""Start the Timbre studio: `python app.py` then open http://127.0.0.1:7860."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.errors import TimbreError
from core.settings import Settings, check_device
from core.workspace import Workspace


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
    args = parser.parse_args(argv)
    return Settings(**vars(args))


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    # The studio never phones home; set before gradio is imported.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from webui import StudioContext, build_studio, studio_i18n

    try:
        check_device(settings.device)
        workspace = Workspace.open(settings.workspace)
    except TimbreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    studio = build_studio(StudioContext(settings=settings, workspace=workspace))
    studio.queue(default_concurrency_limit=1)
    try:
        # quiet: gradio's own start-up lines tell you to edit `launch()`; ours name the flags instead.
        studio.launch(
            server_name=settings.host,
            server_port=settings.port,
            share=settings.share,
            allowed_paths=[str(workspace.root)],
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
    studio.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
