"""Marking and logging for one workspace in this process: the install key, whether the operator turned the
watermark off (`--no-watermark`), and the verdict of the start-up self-check.

`app.py`, `python -m core tts` and `python -m core worker` call `start_marking` at start (it runs the
self-check and remembers the result for the process); `core.output` asks `marking_for` on every delivery, so
a process that never called `start_marking` (a test, a script) still marks, after its own self-check. When the
self-check failed, every generation is refused with its reason; the watermark is never silently skipped.

    marking = start_marking(workspace_root, ResponsibleUse(watermark=True))
    if marking.failure: print(marking.failure)            # generation will be refused with this reason
    payload = marking.new_payload()                        # raises WatermarkError when refused
    audio = marking.mark(audio, sr, payload)
    marking.log(path, interface="cli", payload=payload, provenance=Provenance(text=...))
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import WatermarkError
from core.ethics import watermark
from core.ethics.install import load_install_key, new_generation_id
from core.ethics.usage_log import Provenance, UsageRecord, append_usage, usage_record
from core.ethics.watermark import InstallKey, Payload, sign


@dataclass(frozen=True)
class ResponsibleUse:
    """How the operator started this process. `watermark` False: `--no-watermark` (logged in every usage
    line, shown in the studio); `privacy`: the usage log keeps the text's SHA-256, not the text."""

    watermark: bool = True
    privacy: bool = False


NO_WATERMARK_NOTICE = "the watermark was turned off by the operator (--no-watermark)"


class Marking:
    """One workspace's marking in this process. Build it with `start_marking` (it runs the self-check)."""

    def __init__(self, workspace_root: str | os.PathLike, use: ResponsibleUse = ResponsibleUse()) -> None:  # noqa: B008
        self.root = Path(workspace_root).resolve()
        self.use = use
        self.key: InstallKey | None = None
        self.failure: str | None = None  # why generation is refused (None: it is not)
        try:
            self.key = load_install_key(self.root)
            if use.watermark:
                watermark.self_check(self.key)
        except WatermarkError as exc:
            self.failure = str(exc)

    @property
    def enabled(self) -> bool:
        return self.use.watermark

    @property
    def notice(self) -> str | None:
        """What the operator and users must be told (marking is off, or generation is refused), else None."""
        if not self.enabled:
            return NO_WATERMARK_NOTICE
        return None if self.failure is None else f"generation is refused: {self.failure}"

    def ready(self) -> None:
        """Raise `WatermarkError` with the reason when generation must be refused (a failed self-check)."""
        if self.enabled and self.failure is not None:
            raise WatermarkError(
                f"generation refused: {self.failure}. Nothing is made without the watermark; reinstall "
                "Timbre's dependencies (numpy, soxr) and start again, or (operator only) start with "
                "--no-watermark"
            )

    def new_payload(self) -> Payload | None:
        """A fresh payload for one generation (None: the watermark is off); `WatermarkError` if refused."""
        self.ready()
        if not self.enabled:
            return None
        assert self.key is not None  # no key: `failure` is set and `ready` raised
        return sign(self.key, new_generation_id())

    def mark(self, audio: np.ndarray, sample_rate: int, payload: Payload | None) -> np.ndarray:
        """`audio` with `payload` embedded (unchanged when `payload` is None: the watermark is off)."""
        return audio if payload is None else watermark.embed(audio, sample_rate, payload)

    def log(
        self,
        output: str | os.PathLike,
        *,
        interface: str,
        payload: Payload | None,
        provenance: Provenance | None = None,
        streamed: bool = False,
    ) -> UsageRecord:
        """Append the usage line of `output` (hashed unless `streamed`); `WorkspaceError` if it cannot."""
        prov = provenance or Provenance()
        extra = dict(prov.extra)
        if not self.enabled:
            extra["watermark_off"] = NO_WATERMARK_NOTICE
        if streamed:
            extra["stream"] = True
        record = usage_record(
            self.root,
            output,
            interface=interface,
            payload=payload,
            text=prov.text,
            privacy=self.use.privacy,
            user=prov.user,
            model_paths=prov.model_paths,
            reference_path=prov.reference_path,
            extra=extra,
            streamed=streamed,
        )
        append_usage(self.root, record)
        return record


_started: dict[Path, Marking] = {}  # workspace root -> its marking in this process
_started_lock = threading.Lock()


def start_marking(
    workspace_root: str | os.PathLike,
    use: ResponsibleUse = ResponsibleUse(),  # noqa: B008 (frozen dataclass)
) -> Marking:
    """Run the self-check for the workspace at `workspace_root` and remember how this process marks there
    (replacing what an earlier call said). Never raises: a failure is kept in `failure` and refuses
    generation; the caller shows it."""
    marking = Marking(workspace_root, use)
    with _started_lock:
        _started[marking.root] = marking
    return marking


def marking_for(workspace_root: str | os.PathLike) -> Marking:
    """This process's marking for the workspace at `workspace_root` (started with defaults on first use)."""
    root = Path(workspace_root).resolve()
    with _started_lock:
        found = _started.get(root)
    return found if found is not None else start_marking(root)
