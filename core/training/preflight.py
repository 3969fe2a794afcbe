"""Before a run is queued: will it fit in memory? An estimate from the model sizes, the batch size and the
longest clip, compared with what the device has.

    peak = 0.5 GiB (the runtime) + 16 bytes per trainable parameter (fp32 weights, gradients, two
           optimiser moments) + batch x activations kept for the backward pass of the longest clip

Activations per clip are counted from the architecture (full-size v2, fp32; halved under CUDA mixed
precision): SoVITS keeps ~0.35 MB per spectrogram frame (prior and posterior encoders, flow) plus ~0.6 GB
per clip for the vocoder and the six discriminators on a 20480-sample segment (proportional to the
segment); the GPT ~3.1 MB per token position plus its attention maps (24 layers x 16 heads x L^2 x 8 bytes).
`bench/training.py` measures the real peaks these were checked against (CPU, batch 4: SoVITS with 300-frame
clips 4.9 GiB measured, 4.6 estimated; the GPT with 210 positions 4.7 measured, 4.6 estimated). A run whose
estimate exceeds 90% of the device's memory is refused before it starts, with the batch size that would fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import TrainingError

GIB = 2**30
BYTES_PER_PARAMETER = 16
SOVITS_BYTES_PER_FRAME = 0.35e6
SOVITS_BYTES_PER_SEGMENT_SAMPLE = 0.6e9 / 20480
RUNTIME_BYTES = 0.5 * 2**30
GPT_BYTES_PER_POSITION = 3.1e6
GPT_ATTENTION_BYTES = 24 * 16 * 8  # x L^2: layers x heads x (scores + probabilities, fp32)
HEADROOM = 0.9  # refuse above this share of the device's memory


@dataclass(frozen=True)
class MemoryEstimate:
    model: str
    peak_bytes: float
    available_bytes: float | None
    batch_size: int
    fitting_batch: int  # the largest batch size estimated to fit (0: not even 1)

    @property
    def fits(self) -> bool:
        return self.available_bytes is None or self.peak_bytes <= HEADROOM * self.available_bytes

    def describe(self) -> str:
        name = {"sovits": "SoVITS", "gpt": "GPT"}[self.model]
        need = f"about {self.peak_bytes / GIB:.1f} GiB at batch size {self.batch_size}"
        if self.available_bytes is None:
            return f"{name}: {need}"
        return f"{name}: {need}, {self.available_bytes / GIB:.1f} GiB available"


def available_memory(device: torch.device) -> float | None:
    """Total memory of a CUDA device, or the memory this machine has available now (None if unknown).

    On Linux that is MemAvailable, which counts the page cache the kernel gives back on demand; free pages
    alone (`SC_AVPHYS_PAGES`) fall to a few GiB once files have been read (a pip install, a dataset) and
    would refuse runs that fit. Elsewhere free pages are the best the system says.
    """
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[1])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _per_item(model: str, longest: int, segment: int) -> float:
    if model not in ("sovits", "gpt"):
        raise ValueError(f"unknown model {model!r}")
    if model == "sovits":
        return SOVITS_BYTES_PER_FRAME * longest + SOVITS_BYTES_PER_SEGMENT_SAMPLE * segment
    return GPT_BYTES_PER_POSITION * longest + GPT_ATTENTION_BYTES * longest**2


def estimate(
    model: str,
    parameters: int,
    batch_size: int,
    longest: int,
    device: torch.device,
    segment: int = 20480,
) -> MemoryEstimate:
    """`model`: "sovits" or "gpt"; `longest`: spectrogram frames (SoVITS) or phones + semantic codes (GPT)
    of the longest clip."""
    scale = 0.5 if device.type == "cuda" else 1.0  # mixed precision keeps half-size activations
    fixed = RUNTIME_BYTES + BYTES_PER_PARAMETER * parameters
    per_item = scale * _per_item(model, longest, segment)
    available = available_memory(device)
    fitting = batch_size
    if available is not None:
        fitting = max(0, int((HEADROOM * available - fixed) // per_item))
    return MemoryEstimate(model, fixed + batch_size * per_item, available, batch_size, fitting)


def require_fit(found: MemoryEstimate) -> None:
    """Refuse a run that will not fit, saying what would."""
    if found.fits:
        return
    advice = (
        f"try --batch-size {found.fitting_batch}"
        if found.fitting_batch >= 1
        else "even one clip does not fit: train on a GPU, or cut the longest clips shorter"
    )
    raise TrainingError(f"this run will not fit in memory ({found.describe()}); {advice}")
