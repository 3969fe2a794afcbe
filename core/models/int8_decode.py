"""The int8 T2S decode step as one C++ call (`int8_decode.cpp`), built on first use where the CPU has VNNI.

Why: with int8 weights through fbgemm, one decode token of the full-size T2S took 11.6 ms at two threads
(2026-12-07), 3.3x its memory-bandwidth floor (bench/roofline.py): fbgemm's products reach ~17 GB/s on
matrices this small, and the token's ~250 small PyTorch operations cost 1-2 ms on their own. The kernel does
a whole step (24 layers: products, KV-cache write, attention, norms) in one call, reading weights laid out
for AVX512-VNNI; the same packed weights serve the prefill's products (`KernelLinear`), while its
attention and everything outside the transformer stay in PyTorch.

The extension is compiled with the machine's C++ compiler through `torch.utils.cpp_extension` (ninja, from
requirements.txt) the first time an int8 T2S loads, about 30 s, then reused from `TORCH_EXTENSIONS_DIR`
(default ~/.cache/torch_extensions), one folder per CPU model (`build_directory`). Where the CPU lacks
AVX512-VNNI or the build fails, int8 decoding stays on fbgemm's products, as before: slower, the same
quality check.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # t2s imports BERT's module, which imports precision, which imports this one
    from core.models.t2s import KVCache, T2SModel

log = logging.getLogger("timbre.int8_decode")

SOURCE = Path(__file__).with_suffix(".cpp")
EXTENSION_NAME = "timbre_int8_decode"
_CFLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno"]
STALE_LOCK_SECONDS = 180


def can_run() -> bool:
    """Whether this CPU has what the kernel needs (AVX512-VNNI); it may still fail to build."""
    return torch._C._cpu._is_avx512_vnni_supported()


@functools.cache
def load_extension() -> ModuleType | None:
    """The compiled kernel, building it if needed; None (with the reason logged once) where it cannot run."""
    if not can_run():
        log.info("int8 decode kernel: this CPU has no AVX512-VNNI; int8 T2S uses fbgemm's products")
        return None
    try:
        # on a CUDA build of torch without a GPU its import warns that it found no CUDA runtime: not needed
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        from torch.utils import cpp_extension

        directory = build_directory()
        directory.mkdir(parents=True, exist_ok=True)
        _clear_stale_lock(directory)
        return cpp_extension.load(
            name=EXTENSION_NAME, sources=[str(SOURCE)], extra_cflags=_CFLAGS, build_directory=str(directory)
        )
    except Exception as error:  # no compiler, no ninja, a build error: the slower path still works
        log.warning("int8 decode kernel: could not build it (%s); int8 T2S uses fbgemm's products", error)
        return None


def build_directory() -> Path:
    """Where the kernel is built and kept: one folder per CPU model and torch version, since it is compiled
    for this CPU (-march=native) and a build made elsewhere (a shared home folder) may not run here."""
    root = Path(os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache" / "torch_extensions")
    cpuinfo = Path("/proc/cpuinfo")
    flags = ""
    if cpuinfo.exists():
        flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "")
    machine = f"{platform.machine()} {platform.processor()} {flags} torch {torch.__version__}"
    return root / f"{EXTENSION_NAME}-{hashlib.sha256(machine.encode()).hexdigest()[:12]}"


def _clear_stale_lock(directory: Path) -> None:
    """cpp_extension holds `lock` in the build folder while it builds, and waits without a limit while one
    exists: a build cut off (Ctrl-C during a studio's first start) leaves it behind. Wait for a build under
    way, at most `STALE_LOCK_SECONDS` from the lock's creation (this kernel builds in ~30 s); then remove
    the lock."""
    lock = directory / "lock"
    while True:
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return
        if age > STALE_LOCK_SECONDS:
            log.warning("int8 decode kernel: removing a build lock left %.0f s ago by a build cut off", age)
            lock.unlink(missing_ok=True)
            return
        time.sleep(1)


def build_in_background() -> threading.Thread:
    """Build (or load) the kernel on a daemon thread: a studio started in int8 then has it ready before its
    first request, which would otherwise wait for the compiler (~30 s, the first time only)."""
    thread = threading.Thread(target=load_extension, name="int8-kernel-build", daemon=True)
    thread.start()
    return thread


class KernelLinear(nn.Module):
    """An int8 linear layer computed by the kernel, from the kernel's layout of its weights. x (..., in) float
    -> (..., out) in x's dtype. weight: (out, in) qint8 with one scale per row (`precision.quantize_int8`).

    For many positions at once (a prefill's ~200) it is slower than fbgemm (1.4x, about 30 ms more per
    request: bench/int8_decode.py), but the decode step reads these same weights, so fbgemm's copy would be
    76 MB more memory; and each row is quantized on its own, so a row's result does not depend on the other
    rows of its batch.
    """

    def __init__(self, extension: ModuleType, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        bias = torch.zeros(self.out_features) if bias is None else bias.detach().float()
        self.packed = extension.Int8Linear(weight.int_repr(), weight.q_per_channel_scales().float(), bias)
        self.packed_bytes = int(self.packed.bytes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.packed(x.reshape(-1, self.in_features))  # (N, out) float
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, int8 (kernel)"


class Int8DecodeStep:
    """One decode step of a T2S whose linear layers are `KernelLinear`s, in one kernel call: x (B, 1, C)
    float at the cache's next position, `cache` (reserved for one more position), key_ok (B, length + 1)
    bool or None (every key allowed) -> the last layer's output (B, 1, C). Writes the new keys/values; the
    caller advances the cache. Shares the layers' weights; holds only their norms' small tensors.
    """

    def __init__(self, extension: ModuleType, model: T2SModel) -> None:
        self.decoder = extension.Int8Decoder(model.config.n_head, model.layers[0].norm1.eps)
        for block in model.layers:
            self.decoder.add_layer(
                *(linear.packed for linear in (block.attn.qkv, block.attn.out, block.mlp.fc1, block.mlp.fc2)),
                block.norm1.weight,
                block.norm1.bias,
                block.norm2.weight,
                block.norm2.bias,
            )

    def __call__(self, x: torch.Tensor, cache: KVCache, key_ok: torch.Tensor | None) -> torch.Tensor:
        return self.decoder.step(x, cache.keys, cache.values, cache.length, key_ok)
