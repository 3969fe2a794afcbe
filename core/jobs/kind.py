"""What a job kind is: a name, a params dataclass, a plain `run(params, job)` function and its urgency.

Adding a kind (dataset, training) is one small module that defines a `JobKind` and is listed in
`core.jobs.queue.KINDS`. `run` works without the queue: pass `JobContext.standalone(...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.jobs.context import JobContext
from core.jobs.lease import Urgency
from core.jobs.records import JobResult


@dataclass(frozen=True)
class JobKind:
    name: str
    params_type: type
    run: Callable[[Any, JobContext], JobResult]
    urgency: Urgency
    title: Callable[[Any], str]  # what the job works on, in a few words (the Jobs tab names the kind)
