"""`return_freed_memory` gives pages freed in the middle of the heap back to the system (glibc keeps them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.memory import _malloc_trim, return_freed_memory


def _resident_bytes() -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


@pytest.mark.skipif(_malloc_trim() is None or not Path("/proc/self/status").exists(), reason="glibc on Linux")
def test_freed_heap_pages_are_given_back():
    block_bytes, count = 64 * 1024, 4096  # 256 MiB in blocks small enough for the heap (not their own maps)
    blocks = [torch.ones(block_bytes // 4) for _ in range(count)]
    del blocks[: count - 1]  # the last block keeps the heap's top in use, so glibc cannot shrink it by itself
    held = _resident_bytes()
    return_freed_memory()
    assert held - _resident_bytes() > 128 * 2**20
    assert torch.equal(blocks[0], torch.ones(block_bytes // 4))  # what is still in use is untouched
