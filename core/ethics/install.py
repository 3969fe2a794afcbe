"""This install's watermark identity: a 16-bit install id and a secret, kept in the workspace.

`workspace/.timbre/install.json` is created on first use (`secrets`, mode 0600) and never rewritten: losing
it means this install can no longer tell its own marks from forged ones (they are still detected and read).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from core.errors import WatermarkError
from core.ethics.watermark import GENERATION_ID_BITS, INSTALL_ID_BITS, InstallKey

INSTALL_DIR = ".timbre"
INSTALL_FILE = "install.json"
SECRET_BYTES = 32
_FILE_MODE = 0o600


def install_key_path(workspace_root: str | os.PathLike) -> Path:
    """Where the install key of the workspace at `workspace_root` lives."""
    return Path(workspace_root) / INSTALL_DIR / INSTALL_FILE


def _read(path: Path) -> InstallKey:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        key = InstallKey(int(data["install_id"]), bytes.fromhex(data["secret"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WatermarkError(
            f"{path}: unreadable install key ({exc}); restore it from a backup, or move it away to make a "
            "new one (marks made with the old one will then read as foreign)"
        ) from exc
    if not 0 <= key.install_id < 1 << INSTALL_ID_BITS or len(key.secret) < 16:
        raise WatermarkError(f"{path}: install id or secret out of range; restore the file from a backup")
    return key


def load_install_key(workspace_root: str | os.PathLike) -> InstallKey:
    """The install key of the workspace at `workspace_root`, created (atomically, once) on first use."""
    path = install_key_path(workspace_root)
    if path.exists():
        return _read(path)
    record = {
        "install_id": secrets.randbelow(1 << INSTALL_ID_BITS),
        "secret": secrets.token_hex(SECRET_BYTES),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = path.with_name(f".{INSTALL_FILE}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process made one first: then theirs wins
        except FileExistsError:
            pass
    except OSError as exc:
        raise WatermarkError(f"cannot create the install key {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def new_generation_id() -> int:
    """A random 24-bit generation id for one generated file (look it up in the usage log)."""
    return secrets.randbelow(1 << GENERATION_ID_BITS)
