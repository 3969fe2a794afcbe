"""What every tab needs: the settings and the workspace, plus objects the app owns (model cache)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
