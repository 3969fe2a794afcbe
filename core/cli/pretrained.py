"""`python -m core pretrained {check,download}`: see what pretrained weights are on disk, fetch the rest.

Both handle what inference needs; `--training` adds the files only SoVITS fine-tuning uses. `check` exits 0
when what was asked for is present (an absent optional file is listed with what it is for), 1 otherwise;
a version Timbre cannot load, or a failed download, is an error (exit 2). `check` also lists the ASR
models under DIR/asr/; `download --asr NAME` fetches one CTranslate2 Whisper model there (and nothing else),
`download --separator NAME` one Demucs vocal separation model into DIR/separator/ (likewise).
"""

from __future__ import annotations

import argparse
import sys

from core import pretrained

# `download --asr NAME` / `--separator NAME`: the kinds of `pretrained.download_model`.
_MODEL_FLAGS = (
    ("asr", pretrained.ASR_MODELS, "CTranslate2 Whisper model"),
    ("separator", pretrained.SEPARATOR_MODELS, "Demucs vocal separation model"),
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pretrained",
        help="check or download pretrained weights (BERT, HuBERT, base models)",
        description="Check or download the pretrained weights a model version needs "
        f"(from the Hugging Face repository {pretrained.HUB_REPO}).",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    for name, helptext in (
        ("check", "list which files are present and which are missing (no network)"),
        ("download", "download the missing files (resumable), then check them"),
    ):
        sub = actions.add_parser(name, help=helptext, description=helptext)
        sub.add_argument(
            "--version",
            default="v2",
            help=f"model version; Timbre loads {', '.join(pretrained.SUPPORTED_VERSIONS)} only (default: v2)",
        )
        sub.add_argument("--dir", default="pretrained", help="pretrained folder (default: ./pretrained)")
        purpose = sub.add_mutually_exclusive_group()
        purpose.add_argument(
            "--training",
            action="store_true",
            help="also the files SoVITS fine-tuning uses (the discriminator); by default only what "
            "inference needs, the rest is listed as optional",
        )
        # The default since --training exists; kept so that older scripts still run.
        purpose.add_argument("--inference-only", action="store_true", help=argparse.SUPPRESS)
        sub.add_argument(
            "--extra",
            action="append",
            default=[],
            choices=sorted(pretrained.EXTRAS),
            help="also handle an optional download (repeatable)",
        )
        if name == "download":
            for kind, models, what in _MODEL_FLAGS:
                sub.add_argument(
                    f"--{kind}",
                    action="append",
                    default=[],
                    choices=list(models),
                    metavar="NAME",
                    help=f"download this {what} into DIR/{kind}/NAME instead (repeatable): "
                    + ", ".join(models),
                )
            sub.add_argument("--endpoint", default=pretrained.HUB_ENDPOINT, help="Hub endpoint (mirror)")
            sub.add_argument("--revision", default=pretrained.DEFAULT_REVISION, help="Hub revision")
            sub.add_argument("--timeout", type=float, default=5.0, help="connection timeout, seconds")
        sub.set_defaults(handler=_check if name == "check" else _download)


def _check(args: argparse.Namespace) -> int:
    report = pretrained.check(args.dir, args.version, args.training, tuple(args.extra))
    print(report.describe())
    print(pretrained.describe_asr(args.dir))
    print(pretrained.describe_separators(args.dir))
    return 0 if report.ok else 1


def _download(args: argparse.Namespace) -> int:
    def progress(done: int, total: int, path: str) -> None:
        if path:
            print(f"[{done + 1}/{total}] {path}", file=sys.stderr, flush=True)

    asked = [(kind, name) for kind, _, _ in _MODEL_FLAGS for name in getattr(args, kind)]
    if asked:  # only the models asked for, not the version's files
        for kind, name in asked:
            folder = pretrained.download_model(
                kind,
                args.dir,
                name,
                progress,
                endpoint=args.endpoint,
                revision=args.revision,
                timeout_s=args.timeout,
            )
            print(f"{folder}: {name} is ready")
        return 0
    report = pretrained.download(
        args.dir,
        args.version,
        progress,
        include_training=args.training,
        extras=tuple(args.extra),
        endpoint=args.endpoint,
        revision=args.revision,
        timeout_s=args.timeout,
    )
    print(report.describe())
    return 0 if report.ok else 1
