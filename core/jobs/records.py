"""Job records: what the Jobs tab, the API and tests read about a job, stored with the queue itself.

A record lives in the queue's key-value store (huey's result store: the `kv` table of the SQLite file, or
a Redis hash), so it survives restarts and every process that shares the queue sees the same records.
Who writes a record: the submitter creates it (queued); the worker that claims it writes everything after
that; `JobStore.request_cancel` only sets a separate flag the worker reads between steps.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from huey import Huey

from core.jobs.lease import Urgency

MAX_LOG_LINES = 500
_RECORD = "timbre.job."
_CANCEL = "timbre.cancel."
_ALIVE = "timbre.alive."


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its worker died while it ran; retry runs it again

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED)


@dataclass(frozen=True)
class JobResult:
    """What a job made: files (absolute paths) and a few facts about them (seed, seconds, ...)."""

    files: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobRecord:
    id: str
    kind: str
    params: Any  # the kind's params dataclass (pickled with the record)
    title: str
    urgency: Urgency
    state: JobState = JobState.QUEUED
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    progress: float = 0.0
    message: str = ""
    log: list[str] = field(default_factory=list)
    result: JobResult | None = None
    error: str | None = None
    attempts: int = 0
    task_id: str | None = None  # the huey task that carries it now
    worker: str | None = None  # the worker that claimed it: "host:pid:start"
    holds: list[tuple[float, float | None]] = field(default_factory=list)  # device lease (start, end)
    steps: list[tuple[str, float, float]] = field(default_factory=list)  # named steps (start, end)

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:12]

    def add_log(self, line: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {line}")
        del self.log[:-MAX_LOG_LINES]

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    @property
    def eta(self) -> float | None:
        """Seconds left, from the pace so far (None until there is some progress)."""
        elapsed = self.elapsed
        if self.state is not JobState.RUNNING or elapsed is None or self.progress <= 0.02:
            return None
        return elapsed * (1 - self.progress) / self.progress


class JobStore:
    """Records, cancel flags and worker heartbeats in the queue's key-value store."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey

    def save(self, record: JobRecord) -> None:
        self.huey.put(_RECORD + record.id, record)

    def load(self, job_id: str) -> JobRecord | None:
        return self.huey.get(_RECORD + job_id, peek=True)

    def delete(self, job_id: str) -> None:
        self.huey.delete(_RECORD + job_id)
        self.huey.delete(_CANCEL + job_id)

    def all(self) -> list[JobRecord]:
        """Every record, newest first."""
        items = self.huey.storage.result_items()
        records = [
            self.huey.serializer.deserialize(value)
            for key, value in items.items()
            if (key.decode() if isinstance(key, bytes) else key).startswith(_RECORD)
        ]
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def request_cancel(self, job_id: str) -> None:
        self.huey.put(_CANCEL + job_id, True)

    def clear_cancel(self, job_id: str) -> None:
        self.huey.delete(_CANCEL + job_id)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.huey.get(_CANCEL + job_id, peek=True))

    def beat(self, worker: str) -> None:
        self.huey.put(_ALIVE + worker, time.time())

    def last_beat(self, worker: str) -> float | None:
        return self.huey.get(_ALIVE + worker, peek=True)

    def forget_worker(self, worker: str) -> None:
        self.huey.delete(_ALIVE + worker)
