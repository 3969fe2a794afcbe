"""Saved voices: a reference clip, its transcript and language, and the GPT/SoVITS pair that reads with it,
under a name. The OpenAI-compatible API's `voice` is one of these (`POST /v1/audio/voices` saves one).

Each voice is one JSON file in the workspace's `voices/` folder; the clip lives in `uploads/` (named by its
content) and the weights wherever they were (the workspace or the pretrained folder).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import TimbreError
from core.workspace import Workspace, atomic_write_text

VOICES_DIR = "voices"
_NAME = re.compile(r"^\w[\w\-]{0,59}$", re.UNICODE)


class VoiceError(TimbreError):
    """A voice name that is not allowed, or a voice that is not saved."""


@dataclass(frozen=True)
class VoicePreset:
    """What a voice is made of; paths are absolute (inside the workspace or the pretrained folder)."""

    name: str
    ref_audio_path: str
    prompt_text: str
    prompt_lang: str
    gpt_path: str
    sovits_path: str
    consent: str = ""  # the statement the person who saved it agreed to (the watermark issue requires one)
    created_at: float = field(default_factory=time.time)


def check_name(name: str) -> str:
    """`name` if it can name a voice (letters, digits, `_` and `-`, at most 60, starting with a letter or
    digit), else a `VoiceError` saying so."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise VoiceError(
            f"voice name {name!r} is not allowed; use 1-60 letters, digits, '_' or '-' "
            "(starting with a letter or digit)"
        )
    return name


class VoiceStore:
    """The workspace's saved voices."""

    def __init__(self, workspace: Workspace) -> None:
        self.folder = workspace.root / VOICES_DIR

    def _path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.json"

    def save(self, voice: VoicePreset) -> VoicePreset:
        """Save `voice` under its name (replacing a voice of the same name)."""
        atomic_write_text(self._path(voice.name), json.dumps(asdict(voice), ensure_ascii=False, indent=1))
        return voice

    def get(self, name: str) -> VoicePreset:
        path = self._path(name)
        if not path.is_file():
            saved = ", ".join(v.name for v in self.all()) or "none yet"
            raise VoiceError(f"voice {name!r} is not saved in this studio (saved: {saved}); save it first")
        return VoicePreset(**json.loads(path.read_text(encoding="utf-8")))

    def all(self) -> list[VoicePreset]:
        """Every saved voice, by name."""
        if not self.folder.is_dir():
            return []
        return [
            VoicePreset(**json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(self.folder.glob("*.json"))
        ]

    def delete(self, name: str) -> None:
        path = self._path(name)
        if not path.is_file():
            raise VoiceError(f"voice {name!r} is not saved in this studio; nothing to delete")
        path.unlink()
