"""Benchmark: the int8 T2S decode through Timbre's kernel against the same weights through fbgemm's products.

Full-size v2 T2S with random weights, in one process (so both see the same machine state): a request's
prefill and its decode steps (80 phones, a 125-token prompt, 125 tokens sampled with top_k 15), alternating
between the two paths; then the kernel's step alone (every layer, no sampling) with 1 and 300 positions in
the cache. Cells are "median (min-max)" over `--repeats`.

The step reads 77 MB of int8 weights and, at 300 positions, 29 MB of fp32 cache: `bench/roofline.py`'s
read bandwidth bounds it. Faster than that bound means part of the weights was still in the CPU's caches
from the step before (on this machine's 32 MB L3, how much depends on where the host places the two
cores: runs of one session differed by 1.5x).

    python bench/int8_decode.py [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from core.models import int8_decode  # noqa: E402
from core.models.precision import convert_linears, convert_t2s  # noqa: E402
from core.models.t2s import KVCache, T2SConfig, T2SDecodeSettings, T2SModel  # noqa: E402
from core.settings import INT8  # noqa: E402

PHONES, PROMPT_TOKENS, TOKENS = 80, 125, 125


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def request(
    model: T2SModel, phones: torch.Tensor, bert: torch.Tensor, prompt: torch.Tensor
) -> tuple[float, float]:
    """(prefill ms, mean ms per later decode step) of one request."""
    state = model.prefill([phones], [bert], prompt, T2SDecodeSettings(max_steps=TOKENS))
    start = time.perf_counter()
    model.step(state)  # step 0 runs the prefill through the layers
    prefilled = time.perf_counter()
    steps = 1
    while model.step(state):
        steps += 1
    return 1000 * (prefilled - start), 1000 * (time.perf_counter() - prefilled) / (steps - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if int8_decode.load_extension() is None:
        sys.exit(
            "the int8 decode kernel cannot run here (no AVX512-VNNI, or it did not build): nothing to compare"
        )
    torch.manual_seed(0)
    exact = T2SModel(T2SConfig()).eval()
    models = {"fbgemm": convert_linears(copy.deepcopy(exact), INT8), "kernel": convert_t2s(exact, INT8)}
    phones = torch.randint(0, 700, (PHONES,))
    bert = torch.randn(1024, PHONES)
    prompt = torch.randint(0, 1024, (1, PROMPT_TOKENS))
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            times[name].append(request(model, phones, bert, prompt))

    print(f"torch {torch.__version__}, {args.threads} thread(s), repeats {args.repeats}, full-size v2 T2S")
    print(f"{'int8 path':<34} | {'prefill, ms':<20} | decode step, ms")
    for name, rows in times.items():
        print(f"{name:<34} | {cell([p for p, _ in rows]):<20} | {cell([s for _, s in rows])}")
    kernel = models["kernel"]
    config = kernel.config
    head_dim = config.hidden_dim // config.n_head
    for length in (1, 300):
        cache = KVCache.allocate(
            config.n_layer, 1, config.n_head, length + 1, head_dim, torch.device("cpu"), torch.float32
        )
        for buffer in (*cache.keys, *cache.values):
            buffer.normal_()
        cache.length = length
        x = torch.randn(1, 1, config.hidden_dim)
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(50):
                kernel.int8_step(x, cache, None)
            runs.append(1000 * (time.perf_counter() - start) / 50)
        print(f"{f'kernel step alone, {length} cached':<34} | {'-':<20} | {cell(runs)}")


if __name__ == "__main__":
    main()
