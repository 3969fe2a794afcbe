"""GPT (s1) fine-tuning, as the reference's `s1_train.py` + `t2s_lightning_module.py` do it.

From the pretrained s1 checkpoint: teacher-forced cross-entropy summed over the semantic codes and EOS
(`T2SModel.loss`), ScaledAdam with the reference's effective learning rate (`core.training.optim`), one
optimiser step every 4 batches (the first of an epoch after 5, as the reference counts `batch_idx > 0 and
batch_idx % 4 == 0`), batches of `min(batch_size, items // 4)` from 2-second length buckets. Mixed precision
on CUDA, float32 on CPU.

Two deliberate differences, both so that a resumed run equals an uninterrupted one: gradients left over at
the end of an epoch are dropped (the reference carries them into the next epoch's first step), and with
several processes the summed loss is multiplied by their number, so the averaged gradient equals that of
the merged batch (the reference halves it on two GPUs).

Output: `NAME-e{epoch}.ckpt`, the reference's half-precision export, loadable by Timbre and the reference.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from core.checkpoints.s1 import load_t2s, save_t2s
from core.errors import TrainingError
from core.pretrained import model_paths, require_supported
from core.training import preflight
from core.training.data import Experiment, GPTData, GPTOrder
from core.training.optim import ScaledAdam, gpt_learning_rate
from core.training.run import (
    OnEvent,
    TrainEvent,
    TrainSettings,
    load_state,
    out_of_memory_advice,
    pick_device,
    prune,
    restore_rng,
    rng_state,
    save_state,
    start_processes,
    state_path,
    weights_path,
)

ACCUMULATE = 4  # batches per optimiser step


def stored_config(raw: dict[str, Any], settings: TrainSettings, device: torch.device) -> dict[str, Any]:
    """The pretrained file's config with this run's settings written in, as `s1_train.py` stores it."""
    config = copy.deepcopy(raw)
    config["train"] = {
        **(config.get("train") or {}),
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "save_every_n_epoch": settings.save_every,
        "precision": "16-mixed" if device.type == "cuda" else "32",
        "if_save_every_weights": True,
        "if_save_latest": True,
        "if_dpo": False,
        "half_weights_save_dir": str(settings.out_dir),
        "exp_name": settings.name,
    }
    exp = settings.exp_dir
    config.update(
        pretrained_s1=str(model_paths(settings.pretrained_dir, settings.version).t2s),
        train_semantic_path=str(exp / "6-name2semantic.tsv"),
        train_phoneme_path=str(exp / "2-name2text.txt"),
        output_dir=str(exp / f"logs_s1_{settings.version}"),
    )
    return config


def batch_loss(
    trained: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device, mixed: bool = False
) -> tuple[torch.Tensor, float]:
    """The summed loss and top-3 accuracy of a batch from `GPTData.collate` (`trained`: the model or its
    DistributedDataParallel wrapper)."""
    b = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    with torch.autocast(device.type, dtype=torch.float16, enabled=mixed):
        return trained(b["phones"], b["phone_lengths"], b["codes"], b["code_lengths"], b["bert"])


def train_gpt(settings: TrainSettings, on_event: OnEvent | None = None, log=print) -> list[Path]:  # noqa: ANN001
    """Fine-tune the GPT; returns the `.ckpt` files written by this call (resuming when a state exists)."""
    on_event = on_event or (lambda event: None)
    device = pick_device(settings.device)
    processes = start_processes(device)
    device = pick_device(settings.device, processes)
    torch.manual_seed(settings.seed)
    path = model_paths(settings.pretrained_dir, require_supported(settings.version)).t2s
    if not path.is_file():
        raise TrainingError(f"no pretrained GPT at {path}; run: python -m core pretrained download")
    loaded = load_t2s(path)
    model = loaded.model.to(device)
    data = GPTData(
        Experiment(settings.exp_dir), settings.version, loaded.config.max_sec, settings.epoch_items
    )
    if data.skipped and processes.main:
        log(f"left out {len(set(data.skipped))} clips (too long, unreadable, or phones/second outside 3-25)")
    batch_size = max(min(settings.batch_size, len(data) // 4), 1)
    longest = max(len(item.phone_ids) + len(item.codes) for item in data.items)
    need = preflight.estimate("gpt", sum(p.numel() for p in model.parameters()), batch_size, longest, device)
    log(f"memory: {need.describe()}")
    preflight.require_fit(need)
    order = GPTOrder(data, batch_size, processes.world, processes.rank)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, sampler=order, collate_fn=data.collate)
    optimizer = ScaledAdam(model.parameters())
    mixed = device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=mixed)
    steps_per_epoch = len(loader)

    first_epoch, step, updates = 1, 0, 0
    saved = load_state(state_path(settings.exp_dir, "gpt"), "gpt", settings)
    if saved is not None:
        model.load_state_dict(saved["weights"])
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["scaler"])
        restore_rng(saved["rng"])
        first_epoch, step, updates = int(saved["epoch"]) + 1, int(saved["step"]), int(saved["updates"])
        on_event(TrainEvent("resumed", "gpt", first_epoch - 1, step, steps_per_epoch, settings.epochs))
    trained = model
    if processes.world > 1:
        trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    config = stored_config(loaded.raw_config, settings, device)
    written: list[Path] = []
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    for epoch in range(first_epoch, settings.epochs + 1):
        order.set_epoch(epoch - 1)  # Lightning counts epochs from 0
        trained.train()
        for index, batch in enumerate(loader):
            with out_of_memory_advice(batch_size):
                loss, accuracy = batch_loss(trained, batch, device, mixed)
                scaler.scale(loss * processes.world).backward()
                if index > 0 and index % ACCUMULATE == 0:
                    for group in optimizer.param_groups:
                        group["lr"] = gpt_learning_rate(updates, settings.warmup_steps, settings.lr_scale)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    updates += 1
            step += 1
            losses = {"loss": float(loss.detach()), "top3_acc": accuracy}
            on_event(TrainEvent("step", "gpt", epoch, step, steps_per_epoch, settings.epochs, losses))
        optimizer.zero_grad(set_to_none=True)
        if processes.main:
            files: tuple[str, ...] = ()
            if epoch % settings.save_every == 0 or epoch == settings.epochs:
                target = weights_path(settings.out_dir, settings.name, "gpt", epoch, step)
                out = save_t2s(model, config, target, f"GPT-e{epoch}")
                written.append(out)
                prune(settings.out_dir, settings.name, "gpt", settings.keep_last)
                files = (str(out),)
            state = {
                "model": "gpt",
                "version": settings.version,
                "epoch": epoch,
                "step": step,
                "updates": updates,
                "settings": settings.to_dict(),
                "weights": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rng_state(),
            }
            save_state(state_path(settings.exp_dir, "gpt"), state)
            event = "saved" if files else "epoch"
            on_event(TrainEvent(event, "gpt", epoch, step, steps_per_epoch, settings.epochs, files=files))
    return written
