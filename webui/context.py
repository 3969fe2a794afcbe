"""What every tab needs: the settings and the workspace, plus objects the app owns (loaded models)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import gradio as gr

from core.errors import TimbreError
from core.settings import Settings
from core.text import UserDictionary
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.synthesis import Synthesizer
    from core.text.g2pw import G2PW


@dataclass
class StudioContext:
    settings: Settings
    workspace: Workspace
    # The loaded GPT/SoVITS pair (one at a time: loading takes seconds) and the files it came from; the lock
    # lets one synthesis at a time use it (the job queue replaces this later).
    synthesizer: Synthesizer | None = None
    synthesizer_files: tuple[str, str] | None = None
    synthesis_lock: threading.Lock = field(default_factory=threading.Lock)

    @functools.cached_property
    def g2pw(self) -> G2PW | None:
        """The G2PW polyphone model when `pretrained/G2PWModel` exists (loaded once per app), else None."""
        from core.text.g2pw import load_if_present

        return load_if_present(self.settings.pretrained_dir)

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
