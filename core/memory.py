"""Handing freed memory back to the system.

glibc's allocator keeps the pages a process frees for its own reuse, and reuses them poorly from one stage of
a request to the next (giving them back before SoVITS's decode lowered a full-size int8 request's peak by
0.15 GiB), so the resident size only falls when the process asks. Asking (`malloc_trim`) takes well under a
millisecond.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return None


def return_freed_memory() -> None:
    """Return the freed pages of every allocator arena to the system; does nothing where libc is not glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
