"""Files a tab's handler is handed by name. Gradio passes the path of its own temporary copy of an upload, but
a crafted request can name any path instead (`/etc/passwd`, `../../`, a link pointing out). A handler takes a
file only when it resolves, links followed, inside Gradio's upload folder, the workspace or the pretrained
folder, and is not over the upload limit (`--max-upload-mb`); weights only from the workspace or the
pretrained folder. Nothing is read before that check.
"""

from __future__ import annotations

from pathlib import Path

from gradio.utils import get_upload_folder

from core.errors import WorkspaceError
from core.workspace import confine
from webui.context import StudioContext


def _folders(ctx: StudioContext, uploads: bool) -> dict[Path, str]:
    """The folders a handler may read from, with the names its messages give them (not their paths: a
    visitor through the share link need not learn them)."""
    named = {ctx.workspace.root: "the workspace", Path(ctx.settings.pretrained_dir): "the pretrained folder"}
    if uploads:
        named[Path(get_upload_folder())] = "the studio's uploads"
    return {root.expanduser().resolve(): name for root, name in named.items()}


def _confined(ctx: StudioContext, path: str, what: str, uploads: bool) -> Path:
    folders = _folders(ctx, uploads)
    try:
        return confine(path, tuple(folders), what)
    except WorkspaceError as exc:
        message = str(exc)
        for root, name in folders.items():
            message = message.replace(str(root), name)
        raise WorkspaceError(message) from exc


def checked_upload(ctx: StudioContext, path: str, what: str) -> Path:
    """The file `path` names if it is an upload (or a file of the workspace or the pretrained folder) within
    the upload limit, else a `WorkspaceError` saying why."""
    found = _confined(ctx, path, what, uploads=True)
    size = found.stat().st_size
    if size > ctx.settings.max_upload_bytes:
        raise WorkspaceError(
            f"{what} {found.name} is {size / 2**20:.1f} MB, over the studio's upload limit of "
            f"{ctx.settings.max_upload_mb:g} MB (set with --max-upload-mb)"
        )
    return found


def checked_weights(ctx: StudioContext, path: str, what: str) -> Path:
    """The weights file `path` names if it is in the workspace or the pretrained folder (never an upload)."""
    return _confined(ctx, path, what, uploads=False)
