"""Crash and restart: SIGKILL the process running the queue's jobs, start it again, nothing is lost.

The studio (`python app.py`) on the queue in SQLite, and a bare worker (`python -m core worker`, what extra
machines run) on a real Redis server started by the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.ethics import ResponsibleUse, start_marking
from core.jobs import BatchSynthesisJob, JobContext, JobQueue, JobState, ModelCache
from core.jobs import batch as batch_kind
from core.workspace import Workspace
from tests.jobs_fixtures import LINES, read_audio, request, voices

REPO_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _redis_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not start in 20 s")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def _start(process: str, workspace: Workspace, pretrained: Path, queue_url: str | None, log: Path):
    """The studio (`app.py`, which runs a worker) or a bare `python -m core worker`."""
    if process == "app":
        command = [sys.executable, "app.py", "--port", str(_free_port())]
    else:
        command = [sys.executable, "-m", "core", "worker"]
    command += ["--workspace", str(workspace.root), "--pretrained", str(pretrained)]
    command += ["--no-watermark"]  # the retried batch is compared with the library's audio (model numerics)
    if queue_url:
        command += ["--queue", queue_url]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)


def _wait_for(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize(("process", "backend"), [("app", "sqlite"), ("worker", "redis")])
def test_sigkill_loses_nothing_and_the_interrupted_job_retries_to_the_right_result(
    process: str, backend: str, conformance_dir: Path, tmp_path: Path
):
    pretrained = conformance_dir / "models" / "pretrained"
    workspace = Workspace.open(tmp_path / "ws")
    a, b = voices(conformance_dir, workspace.root)
    lines = workspace.root / "uploads" / "lines.txt"
    lines.write_text("\n".join(LINES[:12]) + "\n", encoding="utf-8")
    short = workspace.root / "uploads" / "short.txt"
    short.write_text("\n".join(LINES[20:23]) + "\n", encoding="utf-8")
    log = tmp_path / "worker.log"

    with contextlib.ExitStack() as stack:
        queue_url = stack.enter_context(_redis_server(tmp_path)) if backend == "redis" else None
        queue = JobQueue.open(workspace, queue_url)
        long_job = queue.submit(BatchSynthesisJob(request(a), a.gpt, a.sovits, str(lines)))
        worker = _start(process, workspace, pretrained, queue_url, log)
        stack.callback(lambda: worker.poll() is None and worker.kill())
        _wait_for(lambda: len(queue.get(long_job.id).steps) >= 2, 120, "the batch to run", log)
        queued = [queue.submit(BatchSynthesisJob(request(v), v.gpt, v.sovits, str(short))) for v in (a, b)]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        assert queue.get(long_job.id).state is JobState.RUNNING  # as the dead worker left it
        assert [queue.get(job.id).state for job in queued] == [JobState.QUEUED] * 2

        restarted = _start(process, workspace, pretrained, queue_url, log)
        stack.callback(lambda: restarted.poll() is None and restarted.terminate())
        for job in queued:
            assert queue.wait(job.id, timeout=300).state is JobState.DONE
        interrupted = queue.get(long_job.id)
        assert interrupted.state is JobState.INTERRUPTED and "retry" in interrupted.error
        retried = queue.wait(queue.retry(long_job.id).id, timeout=300)
        assert retried.state is JobState.DONE and retried.attempts == 2

    start_marking(workspace.root, ResponsibleUse(watermark=False))  # as the worker ran it
    alone = batch_kind.run(
        BatchSynthesisJob(request(a), a.gpt, a.sovits, str(lines)),
        JobContext.standalone(workspace, ModelCache(pretrained)),
    )
    assert len(retried.result.files) == len(alone.files) == 12
    for mine, reference in zip(retried.result.files, alone.files, strict=True):
        assert np.array_equal(read_audio(mine), read_audio(reference))
    for path in (workspace.root / "outputs").iterdir():  # nothing half-written is left as a .wav
        if path.suffix == ".wav":
            assert read_audio(str(path)).size > 0
