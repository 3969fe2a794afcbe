"""Uploaded recordings copied into the workspace under their own names (a browser's temporary files vanish
before a queued import runs; the name is what the import's report and the dataset's files are called)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from core.errors import WorkspaceError
from core.workspace import Workspace, atomic_write_bytes

_MAX_NAME = 120


def stage_upload(workspace: Workspace, source: str | os.PathLike) -> Path:
    """Copy `source` to `<workspace>/uploads/<sha256 prefix>/<its file name>` (same bytes and name: same
    copy) and return the copy. Reading errors become a `WorkspaceError` naming the file."""
    source = Path(source)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise WorkspaceError(f"cannot read the upload {source.name}: {exc.strerror or exc}") from exc
    name = "".join(c for c in source.name if c.isprintable() and c not in '/\\:*?"<>|').strip(" .")
    name = name[-_MAX_NAME:] or "upload"
    target = workspace.uploads_dir / hashlib.sha256(data).hexdigest()[:24] / name
    if not target.exists():
        atomic_write_bytes(target, data)
    return target
