"""`python -m core train {sovits,gpt}`: fine-tune SoVITS (s2) or the GPT (s1) from an experiment folder.

    python -m core train sovits --exp DIR --pretrained DIR --name NAME --epochs N --batch-size B
        --save-every K --out DIR [--lr-scale X] [--keep-last N] [--device auto|cpu|cuda] [--epoch-items N]
    python -m core train gpt ... (the same flags) [--warmup-steps N]

`--exp` is an experiment folder in the reference's layout (`python -m core dataset features` writes one; a
folder the reference made works too). Files go to `--out` as the reference names them:
`NAME_e{epoch}_s{step}.pth` (SoVITS) and `NAME-e{epoch}.ckpt` (GPT). Running the same command again after a
crash or Ctrl-C continues from the last finished epoch. Several GPUs: `torchrun --nproc_per_node N -m core
train ...`. Exit status 0 when done, 2 with a message when training cannot run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_MODELS = ("sovits", "gpt")
_DEFAULT_EPOCHS = {"sovits": 8, "gpt": 15}  # the reference web UI's defaults


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="fine-tune SoVITS or the GPT", description=__doc__.split("\n")[0]
    )
    models = parser.add_subparsers(dest="model", required=True)
    for model in _MODELS:
        sub = models.add_parser(
            model, help=f"fine-tune {'SoVITS (s2)' if model == 'sovits' else 'the GPT (s1)'}"
        )
        sub.add_argument("--exp", required=True, type=Path, help="experiment folder (the training features)")
        sub.add_argument(
            "--pretrained", type=Path, default=Path("pretrained"), help="pretrained models folder"
        )
        sub.add_argument("--name", required=True, help="model name used in the file names")
        sub.add_argument("--out", required=True, type=Path, help="folder for the trained weights")
        sub.add_argument("--epochs", type=int, default=_DEFAULT_EPOCHS[model], help="total epochs")
        sub.add_argument(
            "--batch-size", type=int, default=4, help="clips per batch (lower it if memory runs out)"
        )
        sub.add_argument(
            "--save-every", type=int, default=4, help="write weights every K epochs and at the end"
        )
        sub.add_argument("--lr-scale", type=float, default=1.0, help="multiply every learning rate")
        sub.add_argument(
            "--keep-last", type=int, default=0, help="keep only the newest N weight files (0: all)"
        )
        sub.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
        sub.add_argument("--version", default="v2", help="model version (v2)")
        sub.add_argument(
            "--epoch-items", type=int, default=100, help="repeat small datasets to this many items per epoch"
        )
        if model == "sovits":
            sub.add_argument(
                "--segment-size",
                type=int,
                default=None,
                help="samples decoded per clip and step (default: the pretrained config's, 20480)",
            )
        if model == "gpt":
            sub.add_argument(
                "--warmup-steps",
                type=int,
                default=0,
                help="ramp the learning rate up over N optimiser steps (0: the reference's fixed rate)",
            )
        sub.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from core.training.run import TrainEvent, TrainSettings

    settings = TrainSettings(
        exp_dir=args.exp,
        pretrained_dir=args.pretrained,
        name=args.name,
        out_dir=args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        save_every=args.save_every,
        lr_scale=args.lr_scale,
        warmup_steps=getattr(args, "warmup_steps", 0),
        keep_last=args.keep_last,
        version=args.version,
        device=args.device,
        epoch_items=args.epoch_items,
        segment_size=getattr(args, "segment_size", None),
    )
    start = time.monotonic()
    sums: dict[str, float] = {}
    count = 0

    def on_event(event: TrainEvent) -> None:
        nonlocal count
        if event.kind == "step":
            count += 1
            for name, value in event.losses.items():
                sums[name] = sums.get(name, 0.0) + value
            return
        if event.kind == "resumed":
            print(f"resuming after epoch {event.epoch} (step {event.step})", flush=True)
            return
        means = " ".join(f"{name}={value / max(count, 1):.4g}" for name, value in sums.items())
        elapsed = time.monotonic() - start
        print(f"epoch {event.epoch}/{event.epochs} step {event.step} {means} ({elapsed:.0f} s)", flush=True)
        for path in event.files:
            print(f"saved {path}", flush=True)
        sums.clear()
        count = 0

    if args.model == "sovits":
        from core.training.sovits import train_sovits as train
    else:
        from core.training.gpt import train_gpt as train
    train(settings, on_event, log=lambda line: print(line, file=sys.stderr, flush=True))
    return 0
