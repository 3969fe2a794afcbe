"""Shared test fixtures: where the conformance data lives, fresh workspaces."""

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    return Path(os.environ.get("TIMBRE_SHARED", REPO_ROOT.parent / "shared")).resolve()


def manifest_entries(kind: str) -> list[dict]:
    """The conformance manifest's entries of one kind, read at collection time (for `parametrize`).

    A missing manifest or a kind without cases is an error, never an empty (silently skipped) parameter list.
    """
    path = _shared_dir() / "conformance" / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; set TIMBRE_SHARED to the shared/ folder")
    entries = [entry for entry in json.loads(path.read_text(encoding="utf-8")) if entry["kind"] == kind]
    if not entries:
        raise LookupError(f"{path} lists no {kind!r} cases")
    return entries


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """`../shared/conformance`: tiny official-format models and the reference's outputs for them."""
    path = _shared_dir() / "conformance"
    if not path.is_dir():
        pytest.fail(f"conformance fixtures not found at {path}; set TIMBRE_SHARED to the shared/ folder")
    return path


@pytest.fixture(scope="session")
def nltk_data_dir(conformance_dir: Path) -> Path:
    return conformance_dir / "text" / "nltk_data"
