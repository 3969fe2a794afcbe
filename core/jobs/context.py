"""What a running job sees: progress, log, cancellation, pausing for interactive work, and the models.

A job kind's `run(params, job)` takes a `JobContext`. Called from the queue's worker, the context writes
the job's record and talks to the device lease; made with `JobContext.standalone` (tests, the CLI), it
only keeps the progress and log in memory and never cancels or pauses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from core.errors import TimbreError
from core.jobs.lease import DeviceLease, Urgency
from core.jobs.records import JobRecord, JobStore
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.jobs.models import ModelCache

SAVE_INTERVAL_S = 0.25  # progress is written at most this often (the final state always)


class JobCancelled(TimbreError):
    """Raised inside a job at the step after someone cancelled it."""


class JobContext:
    def __init__(
        self,
        record: JobRecord,
        *,
        workspace: Workspace,
        models: ModelCache,
        store: JobStore | None = None,
        lease: DeviceLease | None = None,
        interactive_queued: Callable[[], bool] = lambda: False,
    ) -> None:
        self.record = record
        self.workspace = workspace
        self.models = models
        self._store = store
        self._lease = lease
        self._interactive_queued = interactive_queued
        self._saved_at = 0.0
        self.holding = False  # whether this job holds a device lease slot now

    @classmethod
    def standalone(cls, workspace: Workspace, models: ModelCache, kind: str = "direct") -> JobContext:
        record = JobRecord(JobRecord.new_id(), kind, None, kind, Urgency.INTERACTIVE)
        return cls(record, workspace=workspace, models=models)

    @property
    def job_id(self) -> str:
        return self.record.id

    # -- reporting -----------------------------------------------------------------------------------------

    def save(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._store is not None and (force or now - self._saved_at >= SAVE_INTERVAL_S):
            self._store.save(self.record)
            self._saved_at = now

    def progress(self, fraction: float, message: str = "") -> None:
        self.record.progress = min(max(float(fraction), 0.0), 1.0)
        if message:
            self.record.message = message
        self.save()

    def log(self, line: str) -> None:
        self.record.add_log(line)
        self.save()

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Record a named step's start and end times (the proof of ordering in tests and the Jobs tab)."""
        start = time.time()
        try:
            yield
        finally:
            self.record.steps.append((label, start, time.time()))
            self.save(force=True)

    # -- control ---------------------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise `JobCancelled` if someone cancelled this job (one key read: cheap next to a decode step)."""
        if self._store is not None and self._store.cancel_requested(self.job_id):
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def on_progress(self, fraction: float, message: str) -> None:
        """A `core.synthesis.ProgressCallback`: report, and stop at this step if cancelled."""
        self.progress(fraction, message)
        self.check()

    def between_steps(self) -> None:
        """For long jobs, between two steps: stop if cancelled; give the device to interactive work that is
        waiting and take it back when that work is served (this job's state stays in its frames)."""
        self.check()
        lease = self._lease
        if lease is None or self.record.urgency is Urgency.INTERACTIVE:
            return
        if not (lease.interactive_waiting() or self._interactive_queued()):
            return
        self.log("paused: interactive work goes first")
        self.end_hold()
        lease.release()
        ticket = lease.ticket(Urgency.RESUMING)
        # Interactive work still in the queue has not reached the lease yet: wait until a worker took it.
        while self._interactive_queued() or not lease.wait(ticket, timeout=0.1):
            try:
                self.check()
            except JobCancelled:
                lease.withdraw(ticket)
                raise
            time.sleep(0.02)
        self.start_hold()
        self.log("resumed")

    def start_hold(self) -> None:
        self.holding = True
        self.record.holds.append((time.time(), None))
        self.save(force=True)

    def end_hold(self) -> None:
        self.holding = False
        if self.record.holds and self.record.holds[-1][1] is None:
            self.record.holds[-1] = (self.record.holds[-1][0], time.time())
        self.save(force=True)
