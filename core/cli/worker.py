"""`python -m core worker`: run the studio's queued jobs on this machine.

    python -m core worker --workspace /mnt/timbre --queue redis://studio-host:6379/0 --device cuda

Every machine that runs a worker must see the workspace at the same path (a shared folder: NFS, SMB, a
synced drive): jobs name their inputs and write their outputs there. The studio process runs a worker of its
own unless started with `--no-worker`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from core.cli.tts import add_precision_flag, add_watermark_flags, start_responsible_use
from core.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    defaults = Settings()
    parser = subparsers.add_parser(
        "worker",
        help="run queued jobs (synthesis, batches) on this machine",
        description="Take jobs from the studio's queue and run them here until Ctrl-C.",
    )
    parser.add_argument("--workspace", type=Path, default=defaults.workspace, help="the studio's workspace")
    parser.add_argument("--pretrained", type=Path, default=defaults.pretrained_dir, help="pretrained models")
    parser.add_argument(
        "--queue",
        default=None,
        help="redis://HOST:PORT/DB (default: SQLite in the workspace, one machine)",
    )
    parser.add_argument(
        "--gpu-jobs", type=int, default=defaults.gpu_jobs, help="heavy jobs at once (default 1)"
    )
    parser.add_argument("--device", default=defaults.device, help="cpu, cuda or cuda:N (default cpu)")
    add_precision_flag(parser)
    add_watermark_flags(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from core.jobs import JobQueue, ModelCache, Worker
    from core.models.precision import describe
    from core.settings import check_device, check_gpu_jobs, check_precision
    from core.workspace import Workspace

    check_device(args.device)
    check_gpu_jobs(args.gpu_jobs)
    args.precision = check_precision(args.precision, args.device)
    workspace = Workspace.open(args.workspace)
    queue = JobQueue.open(workspace, args.queue)
    marking = start_responsible_use(args)  # the self-check; a failure refuses every generation, with why
    if marking.notice:
        print(f"warning: {marking.notice}", flush=True)
    models = ModelCache(args.pretrained, device=args.device, precision=args.precision)
    print(describe(args.precision), flush=True)
    worker = Worker(queue, models, gpu_jobs=args.gpu_jobs).start()
    print(f"worker {worker.id}: taking jobs from {args.queue or workspace.root}; Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        worker.stop()
    return 0
