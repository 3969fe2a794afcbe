"""Benchmark: how far this machine's memory and bf16 arithmetic bound the fast mode's speed (issue 20).

T2S decodes one token per pass and reads every weight and the whole KV cache for it, so its floor is bytes
per token over the memory's read bandwidth; SoVITS's vocoder is convolutions, so its floor is their
arithmetic over the CPU's bf16 throughput. This prints both measured inputs, the floors they give for the
bench's request (bench/synthesis.py: 125 tokens = 5 s, full-size v2 models, int8 T2S and bf16 vocoder), and
the real-time factor no code could beat on this machine with these weights and formats.

- bandwidth: summing a 256 MB fp32 tensor (the best of 5 and the median);
- bf16 throughput: a 2048 x 2048 x 2048 bfloat16 matrix product, and the vocoder itself (its convolutions'
  FLOPs, counted with forward hooks, over the time SoVITS's bf16 decode takes, a little more than its
  convolutions alone);
- T2S bytes per token: its linear weights in int8 plus the fp32 KV cache, whose length grows from the
  prompt's positions to the prompt's plus 125 (the mean is used).

    python bench/roofline.py [--threads 2] [--prompt-positions 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from bench.synthesis import TOKENS, TOKENS_PER_SECOND  # noqa: E402
from core.models.precision import convert_vocoder  # noqa: E402
from core.models.sovits import SoVITS, SoVITSConfig  # noqa: E402
from core.models.t2s import T2SConfig  # noqa: E402
from core.settings import INT8  # noqa: E402


def best_and_median(run: Callable[[], object], repeats: int = 5) -> tuple[float, float]:
    """Seconds per call of `run`: the best and the median of `repeats` calls after one warm-up."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def read_bandwidth() -> tuple[float, float]:
    """GB/s reading memory (best, median)."""
    data = torch.randn(64 * 2**20)  # 256 MiB, far past any cache
    best, median = best_and_median(data.sum)
    return data.nbytes / best / 1e9, data.nbytes / median / 1e9


def bf16_matmul_gflops() -> tuple[float, float]:
    a, b = torch.randn(2, 2048, 2048, dtype=torch.bfloat16).unbind(0)
    best, median = best_and_median(lambda: a @ b)
    flops = 2 * 2048**3
    return flops / best / 1e9, flops / median / 1e9


def vocoder_gflop_and_seconds(seconds_of_audio: float) -> tuple[float, float]:
    """The SoVITS decode's convolution GFLOP for `seconds_of_audio` and its bf16 decode time (best of 5)."""
    sovits = SoVITS(SoVITSConfig()).eval()
    flops = [0]

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        weight = module.weight  # Conv1d (out, in/groups, k); ConvTranspose1d (in, out/groups, k)
        positions = inputs[0].shape[-1] if isinstance(module, nn.ConvTranspose1d) else output.shape[-1]
        flops[0] += 2 * positions * weight.shape[0] * weight.shape[1] * weight.shape[2]

    convolutions = [m for m in sovits.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]
    hooks = [m.register_forward_hook(count) for m in convolutions]
    frames = int(seconds_of_audio * TOKENS_PER_SECOND)
    codes = torch.randint(0, 1024, (1, 1, frames))
    phones = torch.randint(0, 300, (1, 60))
    spec = torch.randn(1, 1025, 156).abs()
    with torch.inference_mode():
        sovits.decode(codes, phones, [spec], noise_scale=0.5)
    for hook in hooks:
        hook.remove()
    convert_vocoder(sovits, INT8)  # what the default mode runs: the vocoder in bf16

    def decode() -> None:
        with torch.inference_mode():
            sovits.decode(codes, phones, [spec], noise_scale=0.5)

    best, _ = best_and_median(decode)
    return flops[0] / 1e9, best


def t2s_bytes_per_token(prompt_positions: int) -> tuple[float, float]:
    """MB read per decoded token in int8: (linear weights, mean fp32 KV cache)."""
    config = T2SConfig()
    width, ffn = config.hidden_dim, config.ffn_dim
    per_layer = 3 * width * width + width * width + 2 * width * ffn  # q/k/v, out, the MLP's two layers
    weights = config.n_layer * per_layer + config.vocab_size * width  # + the output head
    kv_per_position = 2 * config.n_layer * width * 4  # keys and values, fp32
    mean_positions = prompt_positions + TOKENS / 2
    return weights / 1e6, kv_per_position * mean_positions / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--prompt-positions",
        type=int,
        default=200,
        help="positions before the first decoded token (bench/synthesis.py: 77 phones + 125 prompt tokens)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seconds = TOKENS / TOKENS_PER_SECOND

    bandwidth, bandwidth_median = read_bandwidth()
    matmul, matmul_median = bf16_matmul_gflops()
    vocoder_gflop, vocoder_s = vocoder_gflop_and_seconds(seconds)
    weights_mb, kv_mb = t2s_bytes_per_token(args.prompt_positions)
    t2s_floor_ms = (weights_mb + kv_mb) / bandwidth  # MB / (GB/s) = ms
    vocoder_peak = max(matmul, vocoder_gflop / vocoder_s)
    sovits_floor = vocoder_gflop / vocoder_peak / seconds
    t2s_floor = t2s_floor_ms * TOKENS / 1000 / seconds

    rows = [
        ("memory read bandwidth", f"{bandwidth:.1f} GB/s (median {bandwidth_median:.1f})"),
        ("bf16 matrix product 2048^3", f"{matmul:.0f} GFLOP/s (median {matmul_median:.0f})"),
        ("vocoder convolutions, 5 s of audio", f"{vocoder_gflop:.0f} GFLOP"),
        ("SoVITS bf16 decode, 5 s of audio", f"{vocoder_s:.2f} s = {vocoder_gflop / vocoder_s:.0f} GFLOP/s"),
        ("T2S bytes per token (int8 weights + KV)", f"{weights_mb:.1f} + {kv_mb:.1f} MB"),
        ("T2S floor", f"{t2s_floor_ms:.1f} ms/token = {t2s_floor:.3f} s per s of audio"),
        ("SoVITS floor (at the best bf16 rate above)", f"{sovits_floor:.3f} s per s of audio"),
        ("RTF floor, clip kept (T2S + SoVITS only)", f"{t2s_floor + sovits_floor:.3f}"),
    ]
    capability = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__}, CPU {capability}, {args.threads} thread(s)")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}} | {value}")


if __name__ == "__main__":
    main()
