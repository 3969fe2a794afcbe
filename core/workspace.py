"""The workspace: one folder holding everything a user makes, and the only place Timbre writes to.

Layout (created on demand):
    weights/        fine-tuned or imported GPT (.ckpt) and SoVITS (.pth) files
    outputs/        generated audio
    uploads/        files people gave the studio (reference clips, text files), named by their content
    jobs/           the job queue (SQLite) when it is not on Redis
    userdict.json   the user's pronunciation dictionary

Every write is atomic (temp file in the same folder, then `os.replace`), so a crash or a full disk never
leaves a half-written file where a good one used to be. Paths coming from users are confined to the
workspace with `Workspace.resolve`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import WorkspaceError


@contextlib.contextmanager
def atomic_replace(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; when the block succeeds, fsync it and rename it over `path`.

    For writers that want a file name (torch.save, soundfile). If the block raises, the temp file is
    removed and `path` is untouched. File-system failures (no such folder, read-only, disk full) become a
    `WorkspaceError` naming the file.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise WorkspaceError(f"cannot write {path}: {exc.strerror or exc}; choose another folder") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a saved file should read like any other
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkspaceError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output_folder(path: str | os.PathLike) -> Path:
    """Fail early (before minutes of work) if `path`'s folder does not exist or cannot be written."""
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        raise WorkspaceError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WorkspaceError(f"cannot write {path}: the folder {folder} is not writable")
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically: a temp file beside it, fsync, then rename over the target."""
    with atomic_replace(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@dataclass(frozen=True)
class Workspace:
    """A user's workspace folder. Construct it with an existing or new directory."""

    root: Path

    @classmethod
    def open(cls, root: str | os.PathLike) -> Workspace:
        root = Path(root).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root} is not a folder; pass --workspace a folder path")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot create the workspace folder {root}: {exc.strerror}") from exc
        return cls(root)

    @property
    def weights_dir(self) -> Path:
        return self.root / "weights"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"

    @property
    def uploads_dir(self) -> Path:
        return self.root / "uploads"

    def import_upload(self, source: str | os.PathLike) -> Path:
        """Copy a file someone uploaded (a temporary file that may vanish before a queued job runs) into
        `uploads/`, named by the SHA-256 of its bytes (same file, same name: caches keyed by path keep
        working); returns the copy. Reading errors become a `WorkspaceError` naming the file."""
        source = Path(source)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise WorkspaceError(f"cannot read the upload {source.name}: {exc.strerror or exc}") from exc
        suffix = "".join(c for c in source.suffix.lower() if c.isalnum() or c == ".")[:10]
        target = self.uploads_dir / f"{hashlib.sha256(data).hexdigest()[:24]}{suffix}"
        if not target.exists():
            atomic_write_bytes(target, data)
        return target

    @property
    def userdict_path(self) -> Path:
        return self.root / "userdict.json"

    def owns_weights(self, path: str | os.PathLike) -> bool:
        """Whether `path` lies in the workspace's `weights/` (what `delete_weights` may delete)."""
        return self.weights_dir.resolve() in Path(path).expanduser().resolve().parents

    def delete_weights(self, path: str | os.PathLike) -> Path:
        """Delete a GPT/SoVITS file from `weights/` (nothing outside it: pretrained models stay)."""
        target = Path(path).expanduser().resolve()
        if not self.owns_weights(target):
            raise WorkspaceError(f"{Path(path).name}: only voices in the workspace's weights/ can be deleted")
        try:
            target.unlink()
        except FileNotFoundError as exc:
            raise WorkspaceError(f"{target.name} is already gone") from exc
        except OSError as exc:
            raise WorkspaceError(f"cannot delete {target.name}: {exc.strerror or exc}") from exc
        return target

    def resolve(self, relative: str | os.PathLike) -> Path:
        """The absolute path of `relative` inside the workspace; refuses anything that escapes it."""
        candidate = (self.root / relative).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise WorkspaceError(f"{relative}: paths must stay inside the workspace {self.root}")
        return candidate


def confine(path: str | os.PathLike, roots: tuple[Path, ...], what: str = "path") -> Path:
    """The existing file `path` names, resolved (symlinks followed) and inside one of `roots`.

    For paths that come from people over the network (the HTTP API, the UI): a relative path is looked up
    under each root in turn (the workspace first); an absolute one must already lie inside a root. `..`
    parts, NUL bytes, `~` and anything that resolves outside every root (a symlink pointing out included)
    raise a `WorkspaceError` naming `what` and the allowed folders.
    """
    text = os.fspath(path)
    allowed = " or ".join(str(root) for root in roots)
    if not text.strip():
        raise WorkspaceError(f"{what} is empty; give the path of a file inside {allowed}")
    if "\x00" in text or text.startswith("~") or ".." in Path(text.replace("\\", "/")).parts:
        raise WorkspaceError(
            f"{what} {text!r} is refused: '..', '~' and NUL are not allowed; give a path inside {allowed}"
        )
    given = Path(text)
    resolved_roots = [root.expanduser().resolve() for root in roots]
    candidates = [given] if given.is_absolute() else [root / given for root in resolved_roots]
    for candidate in candidates:
        real = candidate.resolve()  # a relative path without '..' only leaves its root through a link
        if not any(real == root or root in real.parents for root in resolved_roots):
            raise WorkspaceError(
                f"{what} {text!r} is outside the allowed folders (after following links); "
                f"copy the file into {allowed} and give its path relative to that folder"
            )
        if real.is_file():
            return real
    raise WorkspaceError(f"{what} {text!r}: no such file in {allowed}; check the name (relative to a folder)")
