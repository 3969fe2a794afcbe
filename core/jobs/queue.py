"""The job queue: huey on SQLite in the workspace (default) or on Redis (several machines), plus the worker
that runs jobs under the device lease.

    queue = JobQueue.open(workspace)                    # or JobQueue.open(workspace, "redis://host:6379/0")
    record = queue.submit(SynthesisJob(request, gpt, sovits))
    worker = Worker(queue, ModelCache(pretrained_dir), gpu_jobs=1).start()
    queue.wait(record.id)

A huey task carries only the job id; the job's params, state, progress, log and result live in its record
(`core.jobs.records`), in the same store. The worker's dispatcher takes tasks in priority order (interactive
first) only when they can soon run: an interactive task whenever none is already waiting for the device
(long jobs then pause at their next step), a long task only when a slot is free.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from huey import Huey, PriorityRedisHuey, SqliteHuey

from core.errors import TimbreError
from core.jobs import (
    batch,
    dataset_features,
    dataset_import,
    dataset_slice,
    dataset_transcribe,
    synthesis,
    voice_training,
)
from core.jobs.context import JobCancelled, JobContext
from core.jobs.kind import JobKind
from core.jobs.lease import DeviceLease, Urgency
from core.jobs.models import ModelCache
from core.jobs.records import JobRecord, JobState, JobStore
from core.workspace import Workspace

log = logging.getLogger("timbre.jobs")

KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        synthesis.KIND,
        batch.KIND,
        dataset_import.KIND,
        dataset_slice.KIND,
        dataset_features.KIND,
        dataset_transcribe.KIND,
        voice_training.KIND,
    )
}
QUEUE_FILE = Path("jobs") / "queue.sqlite3"  # inside the workspace
HEARTBEAT_S = 2.0  # a worker writes that it is alive this often
STALE_S = 30.0  # a worker silent this long is dead: its running jobs are marked interrupted
_TASK_NAME = "timbre.job"


class QueueError(TimbreError):
    """A queue that cannot be opened, or a job action that does not apply (unknown job, wrong state)."""


def _carry(job_id: str) -> None:
    """The huey task: it only carries the job id (the worker reads the job's record, it never runs this)."""


def open_huey(workspace: Workspace, url: str | None = None, name: str = "timbre") -> Huey:
    """SQLite in the workspace when `url` is None, else Redis (`redis://HOST:PORT/DB`)."""
    if url is None:
        path = workspace.root / QUEUE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        huey: Huey = SqliteHuey(name, filename=str(path), results=False)
    elif url.startswith(("redis://", "rediss://", "unix://")):
        huey = PriorityRedisHuey(name, url=url, blocking=False, results=False)
        try:
            huey.storage.conn.ping()
        except Exception as exc:  # redis raises its own ConnectionError family
            raise QueueError(f"cannot reach the Redis queue at {url} ({exc}); is redis-server up?") from exc
    else:
        raise QueueError(f"--queue {url!r}: use redis://HOST:PORT/DB (or leave it out for SQLite)")
    return huey


class JobQueue:
    """Submit, list, cancel, retry and delete jobs; every process that opens the same queue sees them."""

    def __init__(self, workspace: Workspace, huey: Huey) -> None:
        self.workspace = workspace
        self.huey = huey
        self.store = JobStore(huey)
        self._carrier = huey.task(name=_TASK_NAME)(_carry)

    @classmethod
    def open(cls, workspace: Workspace, url: str | None = None) -> JobQueue:
        return cls(workspace, open_huey(workspace, url))

    # -- submitting ----------------------------------------------------------------------------------------

    def submit(self, params: Any) -> JobRecord:
        kind = kind_of(params)
        record = JobRecord(JobRecord.new_id(), kind.name, params, kind.title(params), kind.urgency)
        record.add_log("queued")
        self._enqueue(record)
        return record

    def _enqueue(self, record: JobRecord) -> None:
        task = self._carrier.s(record.id, priority=int(record.urgency))
        record.task_id = task.id
        self.store.save(record)  # before the task exists, so a worker always finds the record
        self.huey.enqueue(task)

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        record = self.store.load(job_id)
        if record is None:
            raise QueueError(f"job {job_id} does not exist (deleted?)")
        return record

    def jobs(self) -> list[JobRecord]:
        """Every job, newest first."""
        return self.store.all()

    def pending_ids(self) -> list[str]:
        """Ids of the jobs still in the queue, in the order they will be taken."""
        return [task.args[0] for task in self.huey.pending()]

    def position(self, job_id: str) -> int | None:
        """1 for the next job to be taken, 2 for the one after...; None when not waiting in the queue."""
        ids = self.pending_ids()
        return ids.index(job_id) + 1 if job_id in ids else None

    def head_urgency(self) -> Urgency | None:
        tasks = self.huey.pending(limit=1)
        return Urgency(int(tasks[0].priority or 0)) if tasks else None

    def interactive_queued(self) -> bool:
        return self.head_urgency() is Urgency.INTERACTIVE

    def wait(self, job_id: str, timeout: float | None = None, poll_s: float = 0.05) -> JobRecord:
        """Block until the job is finished (done, failed, cancelled, interrupted); returns its record."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.get(job_id)
            if record.state.finished:
                return record
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {record.state} after {timeout} s")
            time.sleep(poll_s)

    # -- acting ----------------------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> JobRecord:
        """Stop a job: a queued one never runs; a running one stops at its next step."""
        record = self.get(job_id)
        if record.state.finished:
            return record
        self.store.request_cancel(job_id)
        if record.state is JobState.QUEUED and record.worker is None:
            record.state, record.finished_at = JobState.CANCELLED, time.time()
            record.add_log("cancelled before it started")
            self.store.save(record)
        return record

    def retry(self, job_id: str) -> JobRecord:
        """Queue a failed, cancelled or interrupted job again with the same params."""
        record = self.get(job_id)
        if record.state not in (JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED):
            raise QueueError(
                f"job {job_id} is {record.state}: only failed, cancelled or interrupted jobs retry"
            )
        self.store.clear_cancel(job_id)
        record.state, record.worker, record.error, record.result = JobState.QUEUED, None, None, None
        record.progress, record.message, record.started_at, record.finished_at = 0.0, "", None, None
        record.add_log("queued again (retry)")
        self._enqueue(record)
        return record

    def delete(self, job_id: str, *, files: bool = True) -> None:
        """Forget a finished job and (with `files`) delete the files it made inside the workspace."""
        record = self.get(job_id)
        if not record.state.finished:
            raise QueueError(f"job {job_id} is {record.state}; cancel it before deleting it")
        if files and record.result is not None:
            for name in record.result.files:
                with contextlib.suppress(TimbreError, OSError):
                    self.workspace.resolve(name).unlink(missing_ok=True)
        self.store.delete(job_id)


def kind_of(params: Any) -> JobKind:
    for kind in KINDS.values():
        if isinstance(params, kind.params_type):
            return kind
    raise QueueError(f"no job kind takes {type(params).__name__}")


def _this_host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check: the heartbeat decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    """Runs queued jobs in this process, at most `gpu_jobs` at once (the device lease)."""

    def __init__(self, queue: JobQueue, models: ModelCache, gpu_jobs: int = 1, poll_s: float = 0.05) -> None:
        self.queue = queue
        self.store = queue.store
        self.models = models
        self.lease = DeviceLease(gpu_jobs)
        self.poll_s = poll_s
        self.id = f"{_this_host()}:{os.getpid()}:{int(time.time() * 1000)}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: set[str] = set()

    def start(self) -> Worker:
        self.store.beat(self.id)
        self.recover()
        for target, name in ((self._dispatch, "dispatcher"), (self._heartbeat, "heartbeat")):
            thread = threading.Thread(target=target, name=f"timbre-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self.store.forget_worker(self.id)

    # -- after a crash ---------------------------------------------------------------------------------------

    def _worker_dead(self, worker: str) -> bool:
        if worker == self.id:
            return False
        host, pid, _ = (worker.split(":") + ["", "", ""])[:3]
        if host == _this_host() and pid.isdigit() and not _pid_alive(int(pid)):
            return True
        beat = self.store.last_beat(worker)
        return beat is None or time.time() - beat > STALE_S

    def recover(self) -> None:
        """Jobs whose worker died: running ones are marked interrupted; claimed-but-not-started ones go back
        into the queue."""
        for record in self.queue.jobs():
            if record.state.finished or record.worker is None or not self._worker_dead(record.worker):
                continue
            if record.state is JobState.RUNNING:
                record.state, record.finished_at = JobState.INTERRUPTED, time.time()
                record.error = "the studio stopped while this job ran; retry it to run it again"
                if record.holds and record.holds[-1][1] is None:
                    record.holds[-1] = (record.holds[-1][0], record.finished_at)
                record.add_log("interrupted: its worker stopped")
                self.store.save(record)
            else:  # claimed by a worker that died before it started: queue it again
                record.worker = None
                record.add_log("queued again: its worker stopped before it started")
                self.queue._enqueue(record)  # noqa: SLF001

    def _heartbeat(self) -> None:
        last_sweep = time.monotonic()
        while not self._stop.wait(HEARTBEAT_S):
            self.store.beat(self.id)
            if time.monotonic() - last_sweep > STALE_S / 3:
                last_sweep = time.monotonic()
                with contextlib.suppress(Exception):
                    self.recover()

    # -- running ---------------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            try:
                took = self._take_one()
            except Exception:  # the queue's storage failed (Redis gone...): say so, retry later
                log.exception("the job queue failed; retrying in 1 s")
                took = False
                self._stop.wait(1.0)
            if not took:
                self._stop.wait(self.poll_s)

    def _take_one(self) -> bool:
        urgency = self.queue.head_urgency()
        if urgency is None:
            return False
        if urgency is Urgency.INTERACTIVE and self.lease.interactive_waiting():
            return False  # one interactive job waits for the device at a time; the rest keep their place
        if urgency is not Urgency.INTERACTIVE and self.lease.free_slots() == 0:
            return False
        ticket = self.lease.ticket(urgency)  # in line before the task leaves the queue: long jobs see it
        task = self.queue.huey.dequeue()
        if task is None:
            self.lease.withdraw(ticket)
            return False
        if int(task.priority or 0) != int(urgency):  # another worker took the head meanwhile
            self.lease.withdraw(ticket)
            ticket = self.lease.ticket(Urgency(int(task.priority or 0)))
        thread = threading.Thread(target=self._run, args=(task, ticket), name="timbre-job", daemon=True)
        thread.start()
        return True

    def _run(self, task, ticket) -> None:
        job_id = task.args[0]
        record = self.store.load(job_id)
        if record is None or record.task_id != task.id or record.state is not JobState.QUEUED:
            self.lease.withdraw(ticket)  # deleted, cancelled or retried under another task meanwhile
            return
        record.worker = self.id
        self.store.save(record)
        while not self.lease.wait(ticket, timeout=0.2):
            if self.store.cancel_requested(job_id):
                self.lease.withdraw(ticket)
                record.state, record.finished_at = JobState.CANCELLED, time.time()
                record.add_log("cancelled before it started")
                self.store.save(record)
                return
        job = JobContext(
            record,
            workspace=self.queue.workspace,
            models=self.models,
            store=self.store,
            lease=self.lease,
            interactive_queued=self.queue.interactive_queued,
        )
        record.state, record.started_at, record.attempts = JobState.RUNNING, time.time(), record.attempts + 1
        record.add_log(f"started on {self.id}")
        job.start_hold()
        try:
            job.check()
            record.result = KINDS[record.kind].run(record.params, job)
            record.state, record.progress = JobState.DONE, 1.0
            record.add_log("done")
        except JobCancelled:
            record.state = JobState.CANCELLED
            record.add_log("cancelled")
        except TimbreError as exc:
            record.state, record.error = JobState.FAILED, str(exc)
            record.add_log(f"failed: {exc}")
        except Exception as exc:  # a bug: keep the trace in the job's log, not just the server's
            record.state, record.error = JobState.FAILED, f"unexpected error: {type(exc).__name__}: {exc}"
            for line in traceback.format_exc().splitlines()[-12:]:
                record.add_log(line)
            log.exception("job %s failed", job_id)
        finally:
            if job.holding:
                job.end_hold()
                self.lease.release()
            record.finished_at = time.time()
            self.store.save(record)
