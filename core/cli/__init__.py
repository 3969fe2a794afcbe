"""Command-line interface: one module per sub-command, each a thin layer over `core`.

Each sub-command module exposes `add_parser(subparsers)` (which registers its flags and sets
`handler`) and keeps its work in `core`; errors derived from `TimbreError` become a message on
stderr and exit status 2, never a traceback.
"""

import argparse
import importlib
import sys

from core.errors import TimbreError

# Sub-command modules, in the order `--help` lists them.
_COMMANDS = ("text", "tts", "pretrained", "dataset", "train", "worker", "watermark")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Timbre command-line tools")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"core.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"core.cli.{name}":
                raise
            continue  # not built yet
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except TimbreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
