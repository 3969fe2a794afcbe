"""What every tab needs: the settings and the workspace, plus objects the app owns (model cache)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.settings import Settings
from core.workspace import Workspace


@dataclass
class StudioContext:
    settings: Settings
    workspace: Workspace
    # Objects owned by this app instance (e.g. loaded models), keyed by the tab that made them.
    cache: dict = field(default_factory=dict)
