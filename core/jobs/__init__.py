"""Every heavy task (synthesis, batches; later dataset features and training) runs as a job: a persistent
queue (huey on SQLite or Redis), a device lease that never oversubscribes the GPU, progress, cancel, retry.
"""

from core.jobs.batch import BatchSynthesisJob
from core.jobs.context import JobCancelled, JobContext
from core.jobs.lease import DeviceLease, Urgency
from core.jobs.models import ModelCache
from core.jobs.queue import KINDS, JobQueue, QueueError, Worker
from core.jobs.records import JobRecord, JobResult, JobState
from core.jobs.synthesis import SynthesisJob

__all__ = [
    "KINDS",
    "BatchSynthesisJob",
    "DeviceLease",
    "JobCancelled",
    "JobContext",
    "JobQueue",
    "JobRecord",
    "JobResult",
    "JobState",
    "ModelCache",
    "QueueError",
    "SynthesisJob",
    "Urgency",
    "Worker",
]
