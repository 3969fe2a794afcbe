"""What every tab needs: the settings and the workspace, plus objects the app owns (model cache)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

import gradio as gr

from core.errors import TimbreError
from core.settings import Settings
from core.text import UserDictionary
from core.workspace import Workspace


@dataclass
class StudioContext:
    settings: Settings
    workspace: Workspace
    # Objects owned by this app instance (e.g. loaded models), keyed by the tab that made them.
    cache: dict = field(default_factory=dict)

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
