"""The job queue in one process: real huey on SQLite in a fresh workspace, a real worker, tiny models."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.ethics import ResponsibleUse, start_marking
from core.jobs import (
    BatchSynthesisJob,
    JobContext,
    JobQueue,
    JobState,
    ModelCache,
    QueueError,
    SynthesisJob,
    Worker,
)
from core.jobs import synthesis as synthesis_kind
from core.workspace import Workspace
from tests.jobs_fixtures import LINES, holds, peak_overlap, read_audio, request, voices


@pytest.fixture(scope="module")
def models(conformance_dir: Path) -> ModelCache:
    return ModelCache(conformance_dir / "models" / "pretrained")


@pytest.fixture()
def workspace(tmp_path: Path) -> Workspace:
    workspace = Workspace.open(tmp_path / "ws")
    # These tests compare audio made together with the same requests made alone (model numerics): marking
    # is off here, since each file's mark carries its own generation id (tests/test_watermark_paths.py).
    start_marking(workspace.root, ResponsibleUse(watermark=False))
    return workspace


@pytest.fixture()
def queue(workspace: Workspace) -> JobQueue:
    return JobQueue.open(workspace)


def _alone(conformance_dir: Path, workspace: Workspace, params: SynthesisJob) -> np.ndarray:
    """The request run by itself: the task function called directly, with a fresh model cache."""
    fresh = ModelCache(conformance_dir / "models" / "pretrained")
    result = synthesis_kind.run(params, JobContext.standalone(workspace, fresh))
    return read_audio(result.files[0])


def _lines_file(workspace: Workspace, n: int) -> str:
    path = workspace.root / "uploads" / f"lines_{n}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(LINES[:n]) + "\n", encoding="utf-8")
    return str(path)


def test_the_task_runs_without_the_queue_and_writes_into_the_workspace(conformance_dir, workspace, models):
    a, _ = voices(conformance_dir, workspace.root)
    result = synthesis_kind.run(
        SynthesisJob(request(a), a.gpt, a.sovits), JobContext.standalone(workspace, models)
    )
    (path,) = result.files
    assert Path(path).parent == workspace.root / "outputs"
    assert read_audio(path).size > 0 and result.info["seed"] == 11


def test_concurrent_requests_with_two_voices_equal_each_request_alone(
    conformance_dir, workspace, queue, models
):
    a, b = voices(conformance_dir, workspace.root)
    params = [
        SynthesisJob(request(voice, text=f"第{i}个请求，我们来听听。", seed=100 + i), voice.gpt, voice.sovits)
        for i, voice in enumerate([a, b, a, b, a, b])
    ]
    batch = BatchSynthesisJob(request(a), a.gpt, a.sovits, _lines_file(workspace, 50))
    worker = Worker(queue, models, gpu_jobs=1).start()
    try:
        # two "browser sessions" submitting at once, plus direct submissions, plus the batch
        submitted, lock = [], threading.Lock()

        def session(items: list[SynthesisJob]) -> None:
            for item in items:
                record = queue.submit(item)
                with lock:
                    submitted.append((item, record.id))

        batch_record = queue.submit(batch)
        sessions = [threading.Thread(target=session, args=(params[i::3],)) for i in range(3)]
        for thread in sessions:
            thread.start()
        for thread in sessions:
            thread.join()
        done = {job_id: queue.wait(job_id, timeout=600) for _, job_id in submitted}
        batch_done = queue.wait(batch_record.id, timeout=600)
    finally:
        worker.stop()

    assert all(record.state is JobState.DONE for record in done.values()), [r.error for r in done.values()]
    assert batch_done.state is JobState.DONE and len(batch_done.result.files) == 50
    assert peak_overlap(holds([*done.values(), batch_done])) == 1
    for item, job_id in submitted:
        together = read_audio(done[job_id].result.files[0])
        assert np.array_equal(together, _alone(conformance_dir, workspace, item)), item.request.text


def test_an_interactive_request_goes_before_the_next_line_of_a_running_batch(
    conformance_dir, workspace, queue, models
):
    a, b = voices(conformance_dir, workspace.root)
    worker = Worker(queue, models, gpu_jobs=1).start()
    try:
        batch = queue.submit(BatchSynthesisJob(request(a), a.gpt, a.sovits, _lines_file(workspace, 12)))
        while len(queue.get(batch.id).steps) < 2:  # the batch is running: two lines are written
            threading.Event().wait(0.01)
        submitted = queue.submit(SynthesisJob(request(b), b.gpt, b.sovits))
        submitted_at = time.time()  # from now on the request is in the queue for everyone to see
        interactive = queue.wait(submitted.id, timeout=300)
        batch = queue.wait(batch.id, timeout=300)
    finally:
        worker.stop()
    assert interactive.state is JobState.DONE and batch.state is JobState.DONE
    (_, end), *_ = interactive.holds
    line_starts = [step_start for _, step_start, _ in batch.steps]
    next_line = min(s for s in line_starts if s > submitted_at)
    assert end <= next_line  # it started and finished before the batch's next line started
    assert peak_overlap(holds([interactive, batch])) == 1
    assert any("paused" in line for line in batch.log)


def test_two_slots_overlap_two_long_jobs_and_never_three(conformance_dir, workspace, queue, models):
    a, _ = voices(conformance_dir, workspace.root)
    lines = _lines_file(workspace, 6)
    worker = Worker(queue, models, gpu_jobs=2).start()
    try:
        ids = [queue.submit(BatchSynthesisJob(request(a), a.gpt, a.sovits, lines)).id for _ in range(4)]
        records = [queue.wait(job_id, timeout=600) for job_id in ids]
    finally:
        worker.stop()
    assert all(record.state is JobState.DONE for record in records)
    assert peak_overlap(holds(records)) == 2


def test_cancel_stops_a_running_batch_at_the_next_line_and_leaves_no_partial_file(
    conformance_dir, workspace, queue, models
):
    a, _ = voices(conformance_dir, workspace.root)
    worker = Worker(queue, models, gpu_jobs=1).start()
    try:
        job = queue.submit(BatchSynthesisJob(request(a), a.gpt, a.sovits, _lines_file(workspace, 50)))
        while len(queue.get(job.id).steps) < 3:
            threading.Event().wait(0.005)
        queue.cancel(job.id)
        cancelled_at = time.time()
        record = queue.wait(job.id, timeout=120)
    finally:
        worker.stop()
    assert record.state is JobState.CANCELLED
    assert 3 <= len(record.steps) < 50
    assert all(start <= cancelled_at for _, start, _ in record.steps)  # no line started after the cancel
    outputs = sorted((workspace.root / "outputs").iterdir())
    assert not [p for p in outputs if p.name.startswith(".")]  # no temp file left behind
    for path in outputs:
        assert read_audio(str(path)).size > 0


def test_cancel_inside_a_synthesis_takes_effect_at_the_next_decode_step(
    conformance_dir, workspace, queue, models
):
    a, _ = voices(conformance_dir, workspace.root)
    record = queue.submit(SynthesisJob(request(a, max_sec=None), a.gpt, a.sovits))
    job = JobContext(record, workspace=workspace, models=models, store=queue.store)
    calls = []

    def on_progress(fraction: float, message: str) -> None:
        calls.append(fraction)
        if len(calls) == 4:
            queue.cancel(record.id)
        job.on_progress(fraction, message)

    synth = models.synthesizer(a.gpt, a.sovits)
    with pytest.raises(Exception, match="cancelled"):
        synth.synthesize_result(record.params.request, on_progress=on_progress)
    assert len(calls) == 4  # the step after the cancel never ran


def test_queued_jobs_cancel_retry_and_delete(conformance_dir, workspace, queue, models):
    a, _ = voices(conformance_dir, workspace.root)
    first = queue.submit(SynthesisJob(request(a), a.gpt, a.sovits))
    second = queue.submit(SynthesisJob(request(a, seed=5), a.gpt, a.sovits))
    assert queue.position(first.id) == 1 and queue.position(second.id) == 2
    assert queue.cancel(first.id).state is JobState.CANCELLED
    with pytest.raises(QueueError, match="cancel it"):
        queue.delete(second.id)
    worker = Worker(queue, models).start()
    try:
        done = queue.wait(second.id, timeout=120)
        assert queue.get(first.id).state is JobState.CANCELLED  # a cancelled job never runs
        retried = queue.wait(queue.retry(first.id).id, timeout=120)
    finally:
        worker.stop()
    assert done.state is JobState.DONE and retried.state is JobState.DONE and retried.attempts == 1
    with pytest.raises(QueueError, match="only failed, cancelled or interrupted"):
        queue.retry(done.id)
    output = Path(done.result.files[0])
    queue.delete(done.id)
    assert not output.exists()
    assert [r.id for r in queue.jobs()] == [first.id]


def test_a_failing_job_keeps_its_error_and_the_worker_goes_on(conformance_dir, workspace, queue, models):
    a, _ = voices(conformance_dir, workspace.root)
    broken = queue.submit(SynthesisJob(request(a, text="，。！"), a.gpt, a.sovits))
    fine = queue.submit(SynthesisJob(request(a), a.gpt, a.sovits))
    worker = Worker(queue, models).start()
    try:
        broken, fine = queue.wait(broken.id, timeout=120), queue.wait(fine.id, timeout=120)
    finally:
        worker.stop()
    assert broken.state is JobState.FAILED and "nothing to read" in broken.error
    assert fine.state is JobState.DONE
