"""The one output path: every interface (Synthesize tab, CLI, HTTP API, batch jobs, streams) hands the audio
it made to `deliver` (or streams it through `AudioStream`), which marks it, writes the file atomically, logs
it and returns it.

Marking and the usage log (core/ethics) happen here once, for every interface: `deliver` embeds a fresh
watermark payload (one generation id per file), writes the file, then appends the usage line; a line that
cannot be written removes the file and raises, so nothing goes out unlogged. A stream (`AudioStream`) marks
each piece as it goes (the mark continues across pieces) and writes its line before its first piece leaves.
A failed start-up self-check refuses every delivery with its reason (`core.ethics.marking`).
"""

from __future__ import annotations

import io
import os
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
from core.ethics.marking import marking_for
from core.ethics.usage_log import Provenance, UsageRecord
from core.ethics.watermark import Payload, StreamEmbedder
from core.workspace import Workspace

_UNSAFE_NAME = re.compile(r"[^\w\-]+", re.UNICODE)
MAX_NAME_CHARS = 60


@dataclass(frozen=True)
class Delivery:
    """What was delivered: the file, its watermark payload (None: the operator turned marking off) and its
    usage-log line."""

    path: Path
    sample_rate: int
    n_samples: int
    interface: str  # "ui", "cli", "api", "batch", ...
    meta: dict = field(default_factory=dict)
    payload: Payload | None = None
    record: UsageRecord | None = None

    @property
    def seconds(self) -> float:
        return self.n_samples / self.sample_rate if self.sample_rate else 0.0


def output_name(stem: str = "tts") -> str:
    """A new, unique, file-system-safe file name in `outputs/`: `{stem}_{date}_{time}_{6 hex}.wav`."""
    safe = _UNSAFE_NAME.sub("_", stem).strip("_")[:MAX_NAME_CHARS] or "tts"
    return f"{safe}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}.wav"


def output_path(workspace: Workspace, name: str | None = None) -> Path:
    """Where output `name` (a new unique name when None) goes: straight into the workspace's `outputs/`."""
    name = name or output_name()
    if Path(name).name != name or name in ("", ".", ".."):
        raise WorkspaceError(f"{name!r} is not a plain file name; outputs go straight into outputs/")
    return workspace.resolve(Path("outputs") / name)


def deliver(
    audio: np.ndarray,
    sample_rate: int,
    path: str | Path,
    *,
    interface: str,
    workspace_root: str | os.PathLike,
    provenance: Provenance | None = None,
    meta: dict | None = None,
) -> Delivery:
    """Mark int16 (or float) `audio` (n,) at `sample_rate`, write it to `path` as 16-bit WAV atomically and
    log it in the usage log of the workspace at `workspace_root` (which also holds the install key).

    Raises `WatermarkError` when marking is refused (failed self-check) and `WorkspaceError` when the log
    line cannot be written (the file is then removed).
    """
    path = Path(path)
    marking = marking_for(workspace_root)
    payload = marking.new_payload()
    write_wav(path, marking.mark(audio, sample_rate, payload), sample_rate)
    try:
        record = marking.log(path, interface=interface, payload=payload, provenance=provenance)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    n_samples = int(np.asarray(audio).shape[-1])
    return Delivery(path, int(sample_rate), n_samples, interface, dict(meta or {}), payload, record)


def deliver_to_workspace(
    workspace: Workspace,
    audio: np.ndarray,
    sample_rate: int,
    *,
    interface: str,
    name: str | None = None,
    provenance: Provenance | None = None,
    meta: dict | None = None,
) -> Delivery:
    """`deliver` into the workspace's `outputs/` under `name` (a new unique name when None)."""
    path = output_path(workspace, name)
    return deliver(
        audio,
        sample_rate,
        path,
        interface=interface,
        workspace_root=workspace.root,
        provenance=provenance,
        meta=meta,
    )


class AudioStream:
    """One generation delivered piece by piece: `add` marks each int16 piece (the mark continues across
    pieces, as if the whole were marked at once) and returns it to send; the usage line is written before the
    first piece is returned; `finish` writes the whole file (the marked pieces, joined).

        stream = AudioStream(workspace.root, path, sr, interface="api", provenance=...)
        for chunk in stream.relay(chunks):   # yields each marked chunk as it comes
            send(chunk)
        delivery = stream.delivery          # set once the last chunk has passed

    If the stream is abandoned (client gone, error), no file is written; its log line stays (its audio left).
    """

    def __init__(
        self,
        workspace_root: str | os.PathLike,
        path: str | Path,
        sample_rate: int,
        *,
        interface: str,
        provenance: Provenance | None = None,
        meta: dict | None = None,
    ):
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.interface = interface
        self.provenance = provenance
        self.meta = dict(meta or {})
        self._marking = marking_for(workspace_root)
        self.payload = self._marking.new_payload()  # refused here, before any audio exists
        self._embedder = None if self.payload is None else StreamEmbedder(self.sample_rate, self.payload)
        self._chunks: list[np.ndarray] = []
        self.record: UsageRecord | None = None
        self.delivery: Delivery | None = None

    def _log(self) -> None:
        if self.record is None:
            self.record = self._marking.log(
                self.path,
                interface=self.interface,
                payload=self.payload,
                provenance=self.provenance,
                streamed=True,
            )

    def add(self, chunk: np.ndarray) -> np.ndarray:
        """`chunk` marked, to send; the first call writes the usage line first (raising if it cannot)."""
        chunk = np.asarray(chunk)
        self._log()
        marked = chunk if self._embedder is None else self._embedder.mark(chunk)
        self._chunks.append(marked)
        return marked

    def finish(self) -> Delivery:
        """Write the whole stream (the marked pieces, joined) to `path` and return its delivery."""
        self._log()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        write_wav(self.path, audio, self.sample_rate)
        self.delivery = Delivery(
            self.path,
            self.sample_rate,
            int(audio.shape[-1]),
            self.interface,
            self.meta,
            self.payload,
            self.record,
        )
        return self.delivery

    def relay(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for chunk in chunks:
            yield self.add(chunk)
        self.finish()


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
