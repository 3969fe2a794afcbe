"""Start the Timbre studio: `python app.py` then open http://127.0.0.1:7860."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.errors import TimbreError
from core.settings import Settings
from core.workspace import Workspace


def parse_settings(argv: list[str] | None = None) -> Settings:
    defaults = Settings()
    parser = argparse.ArgumentParser(description="Timbre voice studio")
    parser.add_argument("--host", default=defaults.host, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="port (default %(default)s)")
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
    from webui import StudioContext, build_studio

    try:
        workspace = Workspace.open(settings.workspace)
    except TimbreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    studio = build_studio(StudioContext(settings=settings, workspace=workspace))
    studio.queue(default_concurrency_limit=1)
    studio.launch(
        server_name=settings.host,
        server_port=settings.port,
        share=settings.share,
        allowed_paths=[str(workspace.root)],
        show_api=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
