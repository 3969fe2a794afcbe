"""The device lease: at most N heavy jobs use the GPU (or the CPU cores) at once, interactive work first.

A job holds one slot while it computes. Long jobs (batches, training) call `yield_to_interactive()` between
steps: when interactive work is waiting for a slot, the long job gives its slot up and waits, with its state
kept in its own frames, until no interactive work is waiting, then takes a slot again. Slots are handed out
interactive first, then to paused long jobs (oldest first), then to new long jobs.

The lease is per process (one worker process per machine and device); every hold is recorded as a
(start, end) interval so that tests and the Jobs tab can show what held the device when.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum


class Urgency(IntEnum):
    """Who gets a free slot first (higher first)."""

    LONG = 0  # a new long job
    RESUMING = 1  # a long job that paused for interactive work
    INTERACTIVE = 2  # a request someone is waiting for


@dataclass
class _Waiter:
    urgency: Urgency
    order: int

    def sort_key(self) -> tuple[int, int]:
        return (-int(self.urgency), self.order)


@dataclass
class DeviceLease:
    """`slots` heavy jobs at once; see the module docstring."""

    slots: int = 1
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _held: int = 0
    _waiting: list[_Waiter] = field(default_factory=list, repr=False)
    _counter: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"a device lease needs at least one slot, got {self.slots}")

    @property
    def held(self) -> int:
        with self._cond:
            return self._held

    def interactive_waiting(self) -> bool:
        with self._cond:
            return any(w.urgency is Urgency.INTERACTIVE for w in self._waiting)

    def ticket(self, urgency: Urgency) -> _Waiter:
        """Join the line for a slot now (so that running long jobs see the waiter), wait for it later."""
        waiter = _Waiter(urgency, next(self._counter))
        with self._cond:
            self._waiting.append(waiter)
            self._cond.notify_all()
        return waiter

    def withdraw(self, ticket: _Waiter) -> None:
        """Leave the line without taking a slot."""
        with self._cond:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                self._cond.notify_all()

    def wait(self, ticket: _Waiter, timeout: float | None = None) -> bool:
        """Take a slot for `ticket`: a free slot goes to the most urgent, then the longest-waiting, waiter.
        False (and `ticket` still in line) when `timeout` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not (self._held < self.slots and self._first() is ticket):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            self._waiting.remove(ticket)
            self._held += 1
            self._cond.notify_all()
            return True

    def acquire(self, urgency: Urgency) -> None:
        self.wait(self.ticket(urgency))

    def free_slots(self) -> int:
        """Slots nobody holds or waits for."""
        with self._cond:
            return max(0, self.slots - self._held - len(self._waiting))

    def release(self) -> None:
        with self._cond:
            if self._held <= 0:
                raise RuntimeError("release() without acquire()")
            self._held -= 1
            self._cond.notify_all()

    def _first(self) -> _Waiter | None:
        return min(self._waiting, key=_Waiter.sort_key, default=None)

    @contextmanager
    def hold(self, urgency: Urgency) -> Iterator[None]:
        self.acquire(urgency)
        try:
            yield
        finally:
            self.release()
