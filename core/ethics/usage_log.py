"""The usage log: one JSON line per delivered file, appended to `workspace/logs/usage.jsonl`.

Append-only: each record is one `os.write` on a file opened with O_APPEND, under an exclusive `flock` (workers
in several processes share it), then `fsync`. A record that cannot be written raises `WorkspaceError`, so the
caller (core/output.deliver) can refuse to hand out an unlogged file. Looking up a detected watermark's
generation id finds the line of the generation that made it.

Record fields: `time` (UTC, ISO 8601), `interface` ("ui", "api", "cli", "batch", "stream", ...), `user`,
`output` (workspace-relative path), `output_sha256`, `install_id`, `generation_id` (the watermark payload;
null when the watermark was turned off, with `watermark: "off"`), `models` (name -> SHA-256),
`reference_sha256`, `text` or `text_sha256` (privacy mode), and `extra`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import WorkspaceError
from core.ethics.watermark import Payload

if TYPE_CHECKING:
    from core.synthesis import SynthesisRequest

LOG_DIR = "logs"
LOG_FILE = "usage.jsonl"
_HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class UsageRecord:
    """One delivered file. Build it with `usage_record`; hashes are hex SHA-256."""

    time: str
    interface: str
    output: str
    output_sha256: str | None  # None for a stream: its line is written before its first byte leaves
    install_id: int | None
    generation_id: int | None
    watermark: str  # "on" or "off" (turned off by the operator at start-up)
    user: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    reference_sha256: str | None = None
    text: str | None = None
    text_sha256: str | None = None
    extra: dict = field(default_factory=dict)


def usage_log_path(workspace_root: str | os.PathLike) -> Path:
    return Path(workspace_root) / LOG_DIR / LOG_FILE


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=64)
def _sha256_of_version(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def sha256_file_cached(path: str | os.PathLike) -> str:
    """`sha256_file`, remembered per (path, size, modification time): weights are hundreds of MB and every
    generation logs their hashes."""
    stat = os.stat(path)
    return _sha256_of_version(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Provenance:
    """What a generation was made from, for its usage-log line (paths are hashed by content when logged)."""

    text: str | None = None
    reference_path: str | None = None
    model_paths: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None  # the logged-in user, when the studio asks for a login
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. the consent statement it ran under

    @classmethod
    def of(
        cls,
        request: SynthesisRequest,
        gpt_path: str | os.PathLike,
        sovits_path: str | os.PathLike,
        *,
        user: str | None = None,
        consent: str | None = None,
    ) -> Provenance:
        """The provenance of one synthesis request read by the (`gpt_path`, `sovits_path`) pair."""
        extra = {"consent": consent} if consent else {}
        models = {"gpt": str(gpt_path), "sovits": str(sovits_path)}
        return cls(request.text, request.ref_audio_path, models, user, extra)


def usage_record(
    workspace_root: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    interface: str,
    payload: Payload | None,
    text: str | None = None,
    privacy: bool = False,
    user: str | None = None,
    model_paths: Mapping[str, str | os.PathLike] | None = None,
    reference_path: str | os.PathLike | None = None,
    extra: Mapping | None = None,
    streamed: bool = False,
) -> UsageRecord:
    """The record for `output_path` (already written, unless `streamed`: then it is not hashed, since the
    line goes out before the stream's first byte). `payload` None means the watermark is off.

    `privacy`: keep only the text's SHA-256. Model and reference files are hashed by content.
    """
    output_path = Path(output_path)
    root = Path(workspace_root).resolve()
    resolved = output_path.resolve()
    shown = str(resolved.relative_to(root)) if root in resolved.parents else str(resolved)
    text_hash = None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()
    return UsageRecord(
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        interface=interface,
        output=shown,
        output_sha256=None if streamed else sha256_file(output_path),
        install_id=None if payload is None else payload.install_id,
        generation_id=None if payload is None else payload.generation_id,
        watermark="off" if payload is None else "on",
        user=user,
        models={name: sha256_file_cached(path) for name, path in (model_paths or {}).items()},
        reference_sha256=None if reference_path is None else sha256_file(reference_path),
        text=None if privacy else text,
        text_sha256=text_hash,
        extra=dict(extra or {}),
    )


@contextlib.contextmanager
def _locked_append(path: Path) -> Iterator[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        if os.name == "posix":
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)  # released by close
            yield fd
        else:  # Windows: lock the first byte (the position of a fresh descriptor); every writer takes it
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # retries for 10 s, then OSError
            try:
                yield fd
            finally:  # Windows wants a region unlocked before its file is closed
                os.lseek(fd, 0, os.SEEK_SET)  # the write moved the position to the end
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(fd)


def append_usage(workspace_root: str | os.PathLike, record: UsageRecord) -> Path:
    """Append `record` as one JSON line, fsync'd; raise `WorkspaceError` if it cannot be written."""
    return append_json_line(usage_log_path(workspace_root), asdict(record), "the usage log")


def append_json_line(path: Path, record: Mapping, what: str) -> Path:
    """Append `record` to `what`, the JSON Lines file `path`, as one locked, fsync'd write; `WorkspaceError`
    (naming `what`) if it cannot be written."""
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    try:
        with _locked_append(path) as fd:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"short write ({written} of {len(line)} bytes)")
            os.fsync(fd)
    except OSError as exc:
        raise WorkspaceError(
            f"cannot write {what} {path}: {exc.strerror or exc}; generation refused until it can be "
            "written (check the disk and the folder's permissions)"
        ) from exc
    return path


def read_usage(workspace_root: str | os.PathLike) -> list[dict]:
    """Every record, oldest first (no log: empty). A torn last line (crash mid-write) is skipped."""
    return read_json_lines(usage_log_path(workspace_root))


def read_json_lines(path: Path) -> list[dict]:
    """Every record of a JSON Lines file, oldest first (no file: empty); torn lines are skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return records


def find_generation(workspace_root: str | os.PathLike, payload: Payload) -> list[dict]:
    """The records whose watermark payload (install id, generation id) matches `payload`."""
    return [
        r
        for r in read_usage(workspace_root)
        if r.get("install_id") == payload.install_id and r.get("generation_id") == payload.generation_id
    ]
