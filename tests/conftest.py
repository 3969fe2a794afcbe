"""Shared test fixtures: where the conformance data lives, fresh workspaces."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    return Path(os.environ.get("TIMBRE_SHARED", REPO_ROOT.parent / "shared")).resolve()


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
