"""Speaker consent per reference voice, remembered in the workspace (`.timbre/consent.jsonl`, append-only).

A voice is identified by its reference clip's content (SHA-256), so a renamed or re-uploaded copy of the same
recording is the same voice. The studio asks once per voice (the Synthesize tab's box), a saved voice records
the statement given when it was saved (`POST /v1/audio/voices` needs `consent=true`), and api_v2 requests with
a clip nobody confirmed run under the operator's `--consent-statement`, or are refused.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.ethics.install import INSTALL_DIR
from core.ethics.usage_log import append_json_line, read_json_lines, sha256_file

CONSENT_FILE = "consent.jsonl"


def consent_path(workspace_root: str | os.PathLike) -> Path:
    return Path(workspace_root) / INSTALL_DIR / CONSENT_FILE


class ConsentStore:
    """The consents confirmed in one workspace, by reference clip content."""

    def __init__(self, workspace_root: str | os.PathLike) -> None:
        self.path = consent_path(workspace_root)

    def statement(self, clip: str | os.PathLike) -> str | None:
        """The consent statement last confirmed for the voice of `clip` (None: never confirmed)."""
        digest = sha256_file(clip)
        found = [r for r in read_json_lines(self.path) if r.get("clip_sha256") == digest]
        return found[-1]["statement"] if found else None

    def confirm(
        self, clip: str | os.PathLike, statement: str, *, interface: str, user: str | None = None
    ) -> dict:
        """Record that `statement` was confirmed for the voice of `clip` (raises `WorkspaceError` if it
        cannot be written: then the generation it was asked for does not run)."""
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "clip_sha256": sha256_file(clip),
            "clip": Path(clip).name,
            "statement": statement,
            "interface": interface,
            "user": user,
        }
        append_json_line(self.path, record, "the consent record")
        return record
