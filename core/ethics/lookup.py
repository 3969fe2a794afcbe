"""Where a file came from: detect the mark, tell this install's marks from foreign ones, find the usage-log
line of the generation it names; and the usage log searched and exported (the Detect tab, the CLI).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field, fields

from core.errors import TimbreError
from core.ethics.install import install_key_path, load_install_key
from core.ethics.usage_log import UsageRecord, find_generation
from core.ethics.watermark import Detection, InstallKey, detect

EXPORT_FORMATS = ("csv", "jsonl")
USAGE_COLUMNS = tuple(f.name for f in fields(UsageRecord))


def this_install_keys(workspace_root: str | os.PathLike) -> list[InstallKey]:
    """The workspace's install key, if it has one (never created here: checking a file makes no key)."""
    return [load_install_key(workspace_root)] if install_key_path(workspace_root).exists() else []


@dataclass(frozen=True)
class FileCheck:
    """One file checked: the detector's answer (None when the file could not be read, then `error` says
    why) and the usage-log lines of the generation its payload names (this install's marks only)."""

    file: str
    detection: Detection | None
    error: str | None = None
    records: list[dict] = field(default_factory=list)

    @property
    def origin(self) -> str:
        """ "this install", "foreign" (readable payload not signed here: another install, or forged),
        "unreadable" (mark present, payload not read), "none" (no mark) or "error"."""
        found = self.detection
        if found is None:
            return "error"
        if not found.detected:
            return "none"
        if found.payload is None:
            return "unreadable"
        return "this install" if found.signed_by_this_install else "foreign"


def check_file(path: str | os.PathLike, workspace_root: str | os.PathLike) -> FileCheck:
    """Detect Timbre's mark in the audio file `path` and look its generation up in the workspace's log."""
    from core.audio import load_audio  # deferred: reading audio pulls in soundfile and ffmpeg helpers

    try:
        audio, sr = load_audio(path)
        found = detect(audio, sr, this_install_keys(workspace_root))
    except TimbreError as exc:
        return FileCheck(str(path), None, str(exc))
    records = find_generation(workspace_root, found.payload) if found.signed_by_this_install else []
    return FileCheck(str(path), found, None, records)


def search_usage(records: list[dict], query: str) -> list[dict]:
    """The records whose any field contains every word of `query` (case-insensitive), newest first."""
    words = query.lower().split()
    matches = [r for r in records if all(w in json.dumps(r, ensure_ascii=False).lower() for w in words)]
    return matches[::-1]


def export_usage(records: list[dict], fmt: str) -> bytes:
    """`records` as UTF-8 CSV (one column per record field; nested fields as JSON) or JSON Lines."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode()
    if fmt != "csv":
        raise ValueError(f"export format {fmt!r} is unknown; use one of {', '.join(EXPORT_FORMATS)}")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(USAGE_COLUMNS)
    for record in records:
        writer.writerow([_cell(record.get(name)) for name in USAGE_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def _cell(value: object) -> str:
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, dict) else str(value)
