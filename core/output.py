"""The one output path: every interface (Synthesize tab, CLI, HTTP API, batch jobs, streams) hands the audio
it made to `deliver` (or streams it through `AudioStream`), which writes the file atomically and returns it.

Watermarking and the usage log (core/ethics) hook in here once, for every interface: the log line is written
before the first byte leaves (`AudioStream` calls the hooks before yielding its first chunk).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.audio import write_wav
from core.workspace import Workspace

_UNSAFE_NAME = re.compile(r"[^\w\-]+", re.UNICODE)
MAX_NAME_CHARS = 60


@dataclass(frozen=True)
class Delivery:
    """What was delivered, for the caller and for hooks (watermark, usage log)."""

    path: Path
    sample_rate: int
    n_samples: int
    interface: str  # "ui", "cli", "api", "batch", ...
    meta: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.n_samples / self.sample_rate if self.sample_rate else 0.0


def output_name(stem: str = "tts") -> str:
    """A new, unique, file-system-safe file name in `outputs/`: `{stem}_{date}_{time}_{6 hex}.wav`."""
    safe = _UNSAFE_NAME.sub("_", stem).strip("_")[:MAX_NAME_CHARS] or "tts"
    return f"{safe}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}.wav"


def deliver(
    audio: np.ndarray, sample_rate: int, path: str | Path, *, interface: str, meta: dict | None = None
) -> Delivery:
    """Write int16 (or float) `audio` (n,) at `sample_rate` to `path` as 16-bit WAV, atomically."""
    path = Path(path)
    write_wav(path, audio, sample_rate)
    return Delivery(path, int(sample_rate), int(np.asarray(audio).shape[-1]), interface, dict(meta or {}))


def deliver_to_workspace(
    workspace: Workspace,
    audio: np.ndarray,
    sample_rate: int,
    *,
    interface: str,
    name: str | None = None,
    meta: dict | None = None,
) -> Delivery:
    """`deliver` into the workspace's `outputs/` under `name` (a new unique name when None)."""
    path = workspace.resolve(Path("outputs") / (name or output_name()))
    return deliver(audio, sample_rate, path, interface=interface, meta=meta)


class AudioStream:
    """Pass int16 chunks through to a client while keeping them; `close()` writes the whole file.

        stream = AudioStream(path, sr, interface="api")
        for chunk in stream.relay(chunks):   # yields each chunk as it comes
            send(chunk)
        delivery = stream.delivery          # set once the last chunk has passed

    If the stream is abandoned (client gone, error), nothing is written.
    """

    def __init__(self, path: str | Path, sample_rate: int, *, interface: str, meta: dict | None = None):
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.interface = interface
        self.meta = dict(meta or {})
        self._chunks: list[np.ndarray] = []
        self.delivery: Delivery | None = None

    def relay(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for chunk in chunks:
            chunk = np.asarray(chunk)
            self._chunks.append(chunk)
            yield chunk
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        self.delivery = deliver(audio, self.sample_rate, self.path, interface=self.interface, meta=self.meta)
