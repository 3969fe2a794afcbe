"""What every tab needs: the settings, the workspace, the job queue and core's model cache.

The UI owns no model, lock or voice: heavy work is submitted to `queue` and its record polled; the model
cache belongs to core (the worker in this process uses the same one, so G2PW is loaded once).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import gradio as gr

from core.errors import TimbreError
from core.jobs import JobQueue, ModelCache
from core.settings import Settings
from core.text import UserDictionary
from core.workspace import Workspace


@dataclass(frozen=True)
class StudioContext:
    settings: Settings
    workspace: Workspace
    queue: JobQueue
    models: ModelCache

    @classmethod
    def open(cls, settings: Settings) -> StudioContext:
        """The workspace, the queue it names (SQLite inside it, or `settings.queue_url`) and a model cache."""
        workspace = Workspace.open(settings.workspace)
        queue = JobQueue.open(workspace, settings.queue_url)
        models = ModelCache(settings.pretrained_dir, device=settings.device, precision=settings.precision)
        return cls(settings, workspace, queue, models)

    def user_dictionary(self) -> UserDictionary:
        """The workspace's dictionary of fixed readings, read fresh (the Text tab may have changed it)."""
        path = self.workspace.userdict_path
        return UserDictionary.load(path) if path.exists() else UserDictionary()


P = ParamSpec("P")
R = TypeVar("R")


def shows_errors(handler: Callable[P, R]) -> Callable[P, R]:
    """Turn a `TimbreError` raised by a handler into a `gr.Error`: the user sees the message, not a trace."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        except TimbreError as exc:
            raise gr.Error(str(exc)) from exc

    return wrapper
