"""What SoVITS and GPT training share: settings, events, the training-state file, pruning, devices and
torch.distributed.

A run reads an experiment folder and writes, into `out_dir`, the inference files the reference names
(`NAME_e{epoch}_s{step}.pth`, `NAME-e{epoch}.ckpt`) every `save_every` epochs and at the end. After every
epoch it also replaces one training-state file (`<exp>/timbre_train/{s2,s1}-state.pt`: weights, optimiser
and scaler states, step, random generators), so a crash or a cancel loses at most the epoch in progress;
starting the same run again continues from it. Every file is written atomically (temp file, rename).

Several GPUs: launch with `torchrun --nproc_per_node N -m core train ...`; each process trains on its share
of every epoch's batches and the gradients are averaged (`DistributedDataParallel`); only rank 0 writes.
Without torchrun the run is one process.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from core.errors import TrainingError, WorkspaceError
from core.workspace import atomic_replace

STATE_DIR = "timbre_train"
STATE_FORMAT = 1


@dataclass(frozen=True)
class TrainSettings:
    """One training run. Paths may be relative to the working directory.

    epochs: total epochs (a resumed run stops at the same total); save_every: write inference files every
    this many epochs (and at the end); keep_last: keep only the newest this many inference files of this
    run in `out_dir` (0 keeps all); lr_scale multiplies every learning rate; warmup_steps: GPT only, see
    `core.training.optim`; device: "cpu", "cuda", "cuda:1", or "auto" (CUDA when present, else CPU);
    epoch_items: datasets with fewer clips are repeated (at least twice) to about this many items per epoch,
    as the reference does with 100 (lower it for quick trial runs on a CPU); segment_size: SoVITS only,
    waveform samples decoded and judged per clip and step (None: the pretrained config's, 20480 = 0.64 s;
    a multiple of the hop, 640, and shorter than the shortest clip).
    """

    exp_dir: Path
    pretrained_dir: Path
    name: str
    out_dir: Path
    epochs: int = 8
    batch_size: int = 4
    save_every: int = 4
    lr_scale: float = 1.0
    warmup_steps: int = 0
    keep_last: int = 0
    version: str = "v2"
    device: str = "auto"
    seed: int = 1234
    epoch_items: int = 100
    segment_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("exp_dir", "pretrained_dir", "out_dir"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        if not re.fullmatch(r"[\w\-]+", self.name, re.UNICODE):
            raise TrainingError(f"model name {self.name!r}: use letters, digits, '-' and '_' only")
        for name in ("epochs", "batch_size", "save_every", "epoch_items"):
            if int(getattr(self, name)) < 1:
                raise TrainingError(f"{name.replace('_', ' ')} must be at least 1")
        if self.segment_size is not None and self.segment_size < 1:
            raise TrainingError("segment size must be a positive number of samples")
        if self.keep_last < 0 or self.warmup_steps < 0 or not self.lr_scale > 0:
            raise TrainingError("keep-last and warm-up steps must be >= 0, the learning-rate scale > 0")

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@dataclass
class TrainEvent:
    """What a run reports: after every step (`kind` "step", with its losses), at the end of an epoch
    ("epoch"), when inference files were written ("saved", with `files`), and when resuming ("resumed")."""

    kind: str
    model: str  # "sovits" or "gpt"
    epoch: int
    step: int
    steps_per_epoch: int
    epochs: int
    losses: dict[str, float] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    @property
    def fraction(self) -> float:
        total = self.steps_per_epoch * self.epochs
        return min(1.0, self.step / total) if total else 0.0


OnEvent = Callable[[TrainEvent], None]


# -- devices and processes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Processes:
    """This process's place in a distributed run (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def start_processes(device: torch.device) -> Processes:
    """Join the torchrun process group when launched by torchrun (WORLD_SIZE > 1), else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(name: str, processes: Processes | None = None) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("--device cuda: no CUDA GPU is available here; use --device cpu")
        if processes is not None and processes.world > 1 and device.index is None:
            device = torch.device("cuda", processes.local_rank)
        torch.cuda.set_device(device)
    return device


@contextmanager
def out_of_memory_advice(batch_size: int) -> Iterator[None]:
    """Turn running out of memory into a message that says what to try."""
    try:
        yield
    except torch.OutOfMemoryError as exc:
        smaller = max(1, batch_size // 2)
        raise TrainingError(
            f"out of memory at batch size {batch_size}; try --batch-size {smaller}"
            + (" or train on the GPU" if "CUDA" not in str(exc) else "")
        ) from exc


# -- state files -------------------------------------------------------------------------------------------


def state_path(exp_dir: Path, model: str) -> Path:
    return exp_dir / STATE_DIR / f"{'s2' if model == 'sovits' else 's1'}-state.pt"


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: Path, content: dict[str, Any]) -> None:
    """The training state, atomically (a half-written file never replaces the previous one)."""
    try:
        with atomic_replace(path) as tmp:
            torch.save({"format": STATE_FORMAT, **content}, tmp)
    except WorkspaceError as exc:
        raise TrainingError(f"could not save the training state ({exc}); free some disk space") from exc


def load_state(path: Path, model: str, settings: TrainSettings) -> dict[str, Any] | None:
    """The saved state of an earlier run of the same model on this experiment, or None."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a damaged file: say which, never silently start over
        raise TrainingError(
            f"{path}: the training state cannot be read ({exc}); delete it to start over"
        ) from exc
    if state.get("format") != STATE_FORMAT or state.get("model") != model:
        raise TrainingError(f"{path}: not a Timbre {model} training state; delete it to start over")
    if state.get("version") != settings.version:
        raise TrainingError(
            f"{path}: saved by a {state.get('version')} run; delete it to train {settings.version}"
        )
    return state


# the inference files a run writes, as the reference names them: (name format, pattern with the epoch)
WEIGHT_FILES = {
    "sovits": ("{name}_e{epoch}_s{step}.pth", r"_e(\d+)_s\d+\.pth"),
    "gpt": ("{name}-e{epoch}.ckpt", r"-e(\d+)\.ckpt"),
}


def weights_path(out_dir: Path, name: str, model: str, epoch: int, step: int) -> Path:
    return out_dir / WEIGHT_FILES[model][0].format(name=name, epoch=epoch, step=step)


def saved_weights(out_dir: Path, name: str, model: str) -> list[Path]:
    """The inference files of voice `name` for `model` in `out_dir`, oldest epoch first."""
    regex = re.compile(re.escape(name) + WEIGHT_FILES[model][1])
    found = []
    for path in out_dir.iterdir() if out_dir.is_dir() else ():
        match = regex.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def prune(out_dir: Path, name: str, model: str, keep_last: int) -> list[Path]:
    """Delete all but the newest `keep_last` inference files of voice `name`; returns the deleted."""
    if keep_last <= 0:
        return []
    deleted = saved_weights(out_dir, name, model)[:-keep_last]
    for path in deleted:
        path.unlink(missing_ok=True)
    return deleted
