"""Benchmark: fine-tuning steps of the full-size v2 models (random weights) on CPU, and on CUDA when present.

Seconds per training step and peak memory, for the Train tab's default settings (batch 4) on a batch shaped
like a one-minute dataset's (clips of about 6 s: 300 spectrogram frames, 60 phones, 150 semantic codes).
SoVITS: one discriminator + one generator update (segment 20480 samples); GPT: one forward/backward of the
summed loss plus a ScaledAdam step. Each model runs in its own process so that its peak memory (resident
set on CPU, allocated on CUDA) is its own. `--memory-fraction 0.15` on an 80 GB GPU emulates 12 GB.
From the steps per epoch (100 items / batch size) it prints the time one epoch takes.

    python bench/training.py [--threads 2] [--steps 3] [--batch-size 4] [--device cpu|cuda|all]
        [--memory-fraction F]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from core.checkpoints.s2 import TRAINING_WEIGHT_NORM_LAYERS  # noqa: E402
from core.models.bert import BERT_DIM  # noqa: E402
from core.models.discriminator import MultiPeriodDiscriminator  # noqa: E402
from core.models.sovits import SoVITS, SoVITSConfig  # noqa: E402
from core.models.t2s import T2SConfig, T2SModel  # noqa: E402
from core.training import weight_norm  # noqa: E402
from core.training.gpt import batch_loss  # noqa: E402
from core.training.optim import ScaledAdam  # noqa: E402
from core.training.run import TrainSettings  # noqa: E402
from core.training.sovits import S2_TRAIN_DEFAULTS, prepare, train_step  # noqa: E402

FRAMES, PHONES, CODES = 300, 60, 150  # one ~6 s clip
EPOCH_ITEMS = 100


def _sovits_batch(config: SoVITSConfig, batch: int) -> dict[str, torch.Tensor]:
    from core.audio import spectrogram

    wav = torch.randn(batch, FRAMES * config.hop_length) * 0.1
    spec = spectrogram(wav, config.filter_length, config.hop_length, config.win_length)
    return {
        "ssl": torch.randn(batch, 768, spec.shape[-1]),
        "spec": spec,
        "spec_lengths": torch.full((batch,), spec.shape[-1]),
        "wav": wav.unsqueeze(1),
        "wav_lengths": torch.full((batch,), wav.shape[-1]),
        "phones": torch.randint(1, 700, (batch, PHONES)),
        "phone_lengths": torch.full((batch,), PHONES),
    }


def _peak(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def measure(model: str, device: torch.device, steps: int, batch: int) -> dict:
    torch.manual_seed(0)
    times = []
    if model == "sovits":
        config = SoVITSConfig()
        generator = SoVITS(config, posterior_encoder=True)
        weight_norm.attach(generator, TRAINING_WEIGHT_NORM_LAYERS)
        settings = TrainSettings(exp_dir=".", pretrained_dir=".", name="bench", out_dir=".", batch_size=batch)
        raw_config = {"train": S2_TRAIN_DEFAULTS, "data": {}, "model": {}}
        run = prepare(generator, MultiPeriodDiscriminator(), raw_config, {}, settings, device)
        data = _sovits_batch(config, batch)
        for _ in range(steps + 1):  # the first step warms up
            start = time.perf_counter()
            train_step(run, data)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    else:
        gpt = T2SModel(T2SConfig()).to(device).train()
        optimizer = ScaledAdam(gpt.parameters())
        data = {
            "phones": torch.randint(1, 700, (batch, PHONES)),
            "phone_lengths": torch.full((batch,), PHONES),
            "codes": torch.randint(0, 1024, (batch, CODES)),
            "code_lengths": torch.full((batch,), CODES),
            "bert": torch.randn(batch, BERT_DIM, PHONES),
        }
        for _ in range(steps + 1):
            start = time.perf_counter()
            loss, _ = batch_loss(gpt, data, device, mixed=device.type == "cuda")
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    return {"times": times[1:], "peak_gib": _peak(device)}


def _child(args: argparse.Namespace, model: str, device: str) -> dict:
    command = [sys.executable, __file__, "--child", model, "--device", device, "--threads", str(args.threads),
               "--steps", str(args.steps), "--batch-size", str(args.batch_size)]  # fmt: skip
    if args.memory_fraction:
        command += ["--memory-fraction", str(args.memory_fraction)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "all"))
    parser.add_argument("--memory-fraction", type=float, default=None)
    parser.add_argument("--child", choices=("sovits", "gpt"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        device = torch.device(args.device)
        if device.type == "cuda" and args.memory_fraction:
            torch.cuda.set_per_process_memory_fraction(args.memory_fraction, device)
        print(json.dumps(measure(args.child, device, args.steps, args.batch_size)))
        return
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        devices.remove("cuda")
        print("no CUDA GPU here: CPU only")
    load = os.getloadavg()[0]
    print(
        f"load average {load:.2f}; threads {args.threads}; batch {args.batch_size}; torch {torch.__version__}"
    )
    header = ("device", "model", "s/step min", "median", "max", "peak GiB", "s/epoch")
    print("{:<6} {:<7} {:>10} {:>8} {:>8} {:>9} {:>8}".format(*header))
    for device in devices:
        for model in ("sovits", "gpt"):
            result = _child(args, model, device)
            if "error" in result:
                print(f"{device:<6} {model:<7} failed: {result['error']}")
                continue
            t = result["times"]
            median = statistics.median(t)
            steps = -(-EPOCH_ITEMS // args.batch_size)
            epoch = median * steps  # the GPT steps its optimiser every 4 batches: a slight overestimate
            row = (device, model, min(t), median, max(t), result["peak_gib"], epoch)
            print("{:<6} {:<7} {:>10.2f} {:>8.2f} {:>8.2f} {:>9.2f} {:>8.0f}".format(*row))


if __name__ == "__main__":
    main()
