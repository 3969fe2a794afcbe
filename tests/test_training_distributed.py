"""Training on several processes (torch.distributed, gloo on CPU): one GPT step on two processes, each with
half the batch, equals one step on one process over the merged batch.

Dropout is off (eval mode) so that both runs compute the same function; the GPT's text mask depends on the
batch's longest phone sequence (a quirk kept from the reference), so both halves hold the longest item.
The averaged gradients agree to float precision; the weights after the step to 2e-5: Adam-type steps
divide each gradient by its own magnitude, so entries whose true gradient is 0 (the attention's key bias)
move by rounding noise, up to ~1e-5 here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from core.checkpoints.s1 import load_t2s
from core.training.data import Experiment, GPTData
from core.training.gpt import batch_loss
from core.training.optim import ScaledAdam

CPU = torch.device("cpu")


def _model(path: Path) -> torch.nn.Module:
    return load_t2s(path).model.eval()


def _step(model: torch.nn.Module, trained: torch.nn.Module, batch: dict, world: int) -> dict:
    optimizer = ScaledAdam(model.parameters())
    loss, _ = batch_loss(trained, batch, CPU)
    (loss * world).backward()  # as `train_gpt`: the summed loss times the number of processes
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    optimizer.step()
    return grads


def _worker(rank: int, world: int, port: int, model_path: Path, halves: list[dict], out: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = _model(model_path)
        grads = _step(model, DistributedDataParallel(model), halves[rank], world)
        if rank == 0:
            torch.save({"weights": model.state_dict(), "grads": grads}, out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_make_the_same_step_as_one_over_the_merged_batch(conformance_dir, tmp_path):
    model_path = next((conformance_dir / "models" / "pretrained" / "gsv-v2final-pretrained").glob("s1*.ckpt"))
    data = GPTData(Experiment(conformance_dir / "dataprep" / "exp" / "dp_public"), epoch_items=1)
    items = sorted(data.items, key=lambda item: -len(item.phone_ids))
    assert len(items) >= 3
    longest, others = items[0], items[1:]
    halves = [data.collate([longest, others[0]]), data.collate([longest, others[1]])]
    merged = data.collate([longest, others[0], longest, others[1]])

    out = tmp_path / "rank0.pt"
    mp.spawn(_worker, args=(2, _free_port(), model_path, halves, out), nprocs=2, join=True)
    distributed = torch.load(out, weights_only=True)

    model = _model(model_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = _step(model, model, merged, 1)
    for name, grad in grads.items():
        scale = float(grad.abs().max())
        torch.testing.assert_close(distributed["grads"][name], grad, rtol=1e-5, atol=1e-6 * scale, msg=name)
    changed = 0
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(distributed["weights"][name], tensor, rtol=1e-4, atol=2e-5, msg=name)
        changed += not torch.equal(before[name], tensor)
    assert changed > len(before) // 2  # the step moved most tensors
