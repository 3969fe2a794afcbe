"""Settings parsed once by `app.py` (or the CLI) and passed down; nothing in `core` reads flags or env."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 7860
    workspace: Path = Path("workspace")
    pretrained_dir: Path = Path("pretrained")
    device: str = "cpu"
    share: bool = False
