"""The one output path: every interface (Synthesize tab, CLI, HTTP API, batch jobs, streams) hands the audio
it made to `deliver` (or streams it through `AudioStream`), which writes the file atomically and returns it.

Watermarking and the usage log (core/ethics) hook in here once, for every interface: the log line is written
before the first byte leaves (`AudioStream` calls the hooks before yielding its first chunk).
"""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from core.audio import write_wav
from core.errors import AudioError, WorkspaceError
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
    name = name or output_name()
    if Path(name).name != name or name in ("", ".", ".."):
        raise WorkspaceError(f"{name!r} is not a plain file name; outputs go straight into outputs/")
    path = workspace.resolve(Path("outputs") / name)
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


STREAMS_DIR = Path("outputs") / ".streams"  # inside the workspace


class FragmentSpool:
    """A job's audio fragments as they finish, handed from the worker (which may be another process on
    this machine) to the stream that sends them: `put` writes `{index}.wav` atomically into
    `outputs/.streams/{job_id}/`, `take` reads it back (None until it is there); `remove` when sent.

        spool = FragmentSpool(workspace, job_id)
        spool.put(0, audio_int16, sr)           # worker side, in reading order
        piece = spool.take(0)                   # stream side: (audio, sr) or None
    """

    def __init__(self, workspace: Workspace, job_id: str) -> None:
        self.folder = workspace.resolve(STREAMS_DIR / _UNSAFE_NAME.sub("_", job_id))

    def _path(self, index: int) -> Path:
        return self.folder / f"{int(index):05d}.wav"

    def put(self, index: int, audio: np.ndarray, sample_rate: int) -> Path:
        """Write fragment `index` (int16 (n,) at `sample_rate`)."""
        return write_wav(self._path(index), audio, sample_rate)

    def take(self, index: int) -> tuple[np.ndarray, int] | None:
        """Fragment `index` as (int16 (n,), sample rate), or None while it is not written yet."""
        path = self._path(index)
        if not path.is_file():
            return None
        audio, sample_rate = sf.read(str(path), dtype="int16")
        return audio, int(sample_rate)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Encoding for HTTP replies

# media type -> (content type, ffmpeg output arguments or None when soundfile / plain bytes write it)
ENCODINGS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "wav": ("audio/wav", None),
    "raw": ("audio/raw", None),  # api_v2's name for 16-bit little-endian mono PCM
    "pcm": ("audio/pcm", None),  # OpenAI's name for the same
    "flac": ("audio/flac", None),
    "ogg": ("audio/ogg", ("-c:a", "libvorbis", "-q:a", "5", "-f", "ogg")),
    "aac": ("audio/aac", ("-c:a", "aac", "-b:a", "192k", "-f", "adts")),
    "mp3": ("audio/mpeg", ("-c:a", "libmp3lame", "-b:a", "192k", "-f", "mp3")),
    "opus": ("audio/ogg", ("-c:a", "libopus", "-b:a", "64k", "-f", "ogg")),
}
_ENCODE_TIMEOUT_S = 120


def encode_audio(audio: np.ndarray, sample_rate: int, media_type: str) -> bytes:
    """int16 `audio` (n,) at `sample_rate` as the bytes of a `media_type` file (a key of `ENCODINGS`).

    wav/flac are written by soundfile, raw/pcm are the samples themselves, the lossy formats go through the
    ffmpeg CLI (AAC as ADTS, Opus in Ogg). Raises `AudioError` for an unknown type or a missing ffmpeg.
    """
    if media_type not in ENCODINGS:
        raise AudioError(f"media type {media_type!r} is unknown; use one of {', '.join(ENCODINGS)}")
    pcm = np.ascontiguousarray(audio, dtype="<i2")
    if media_type in ("raw", "pcm"):
        return pcm.tobytes()
    if media_type in ("wav", "flac"):
        buffer = io.BytesIO()
        sf.write(buffer, pcm, int(sample_rate), subtype="PCM_16", format=media_type.upper())
        return buffer.getvalue()
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(f"{media_type} needs ffmpeg on PATH; install it or ask for wav")
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-f", "s16le", "-ar", str(int(sample_rate)), "-ac", "1"]
    cmd += ["-i", "pipe:0", "-vn", *ENCODINGS[media_type][1], "pipe:1"]
    try:
        proc = subprocess.run(cmd, input=pcm.tobytes(), capture_output=True, timeout=_ENCODE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"ffmpeg took longer than {_ENCODE_TIMEOUT_S} s to encode {media_type}") from exc
    if proc.returncode != 0:
        raise AudioError(
            f"ffmpeg could not encode {media_type}: {proc.stderr.decode(errors='replace')[-300:]}"
        )
    return proc.stdout


WAV_STREAM_SIZE = 0xFFFFFFFF  # "length unknown": what players expect in the header of a WAV stream


def wav_stream_header(sample_rate: int) -> bytes:
    """The 44-byte header that starts a streamed 16-bit mono WAV whose length is not known yet: RIFF and data
    sizes 0xFFFFFFFF, so players (and soundfile, ffmpeg) read samples until the stream ends."""
    sr = int(sample_rate)
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)  # PCM, mono, 16-bit
    return (
        b"RIFF"
        + struct.pack("<I", WAV_STREAM_SIZE)
        + b"WAVEfmt "
        + fmt
        + b"data"
        + struct.pack("<I", WAV_STREAM_SIZE)
    )
