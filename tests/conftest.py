"""Shared test fixtures: where the conformance data lives, fresh workspaces; system tools set up first."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from core.models import int8_decode
from tests.system_tools import ensure_system_tools

REPO_ROOT = Path(__file__).resolve().parents[1]
# The public conformance set, carried by the repository (see tests/conformance/README.md for its origin).
BUNDLED_CONFORMANCE = REPO_ROOT / "tests" / "conformance"


def conformance_root() -> Path:
    """`tests/conformance`, or `$TIMBRE_SHARED/conformance` when TIMBRE_SHARED names a newer set."""
    shared = os.environ.get("TIMBRE_SHARED")
    return (Path(shared) / "conformance").resolve() if shared else BUNDLED_CONFORMANCE


def pytest_sessionstart(session: pytest.Session) -> None:
    # Browser, audio and queue tests need Debian packages: install what is missing, or stop with one line.
    if not session.config.option.collectonly:
        ensure_system_tools()
        # The int8 decode kernel compiles the first time it is needed (~30 s): here, once, rather than inside
        # whichever test first loads an int8 model, perhaps a studio the test gives a minute to answer.
        int8_decode.load_extension()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    stats = terminalreporter.stats
    n_run = sum(len(stats.get(key, [])) for key in ("passed", "failed", "error", "xfailed", "xpassed"))
    skipped = stats.get("skipped", [])
    need_cuda = sum("CUDA" in str(report.longrepr) for report in skipped)
    terminalreporter.write_line(
        f"timbre: {n_run} tests ran; {len(skipped)} skipped ({need_cuda} of them need a CUDA GPU)"
    )


def manifest_entries(kind: str) -> list[dict]:
    """The conformance manifest's entries of one kind, read at collection time (for `parametrize`).

    A missing manifest or a kind without cases is an error, never an empty (silently skipped) parameter list.
    """
    path = conformance_root() / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; TIMBRE_SHARED must name a folder holding conformance/")
    entries = [entry for entry in json.loads(path.read_text(encoding="utf-8")) if entry["kind"] == kind]
    if not entries:
        raise LookupError(f"{path} lists no {kind!r} cases")
    return entries


@pytest.fixture(scope="session", autouse=True)
def gradio_uploads_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files tests hand the tabs' handlers stand for Gradio's temporary uploads, which the handlers take only
    from Gradio's upload folder (`webui.uploads`): that folder is the tests' temporary root."""
    root = tmp_path_factory.getbasetemp()
    os.environ["GRADIO_TEMP_DIR"] = str(root)
    return root


@pytest.fixture(scope="session")
def t2s_inputs(conformance_dir: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixture prompt + text 0 as TTS.to_batch combines them: phones (T,), BERT (1024, T), prompt codes
    (1, T_prompt)."""
    folder = conformance_dir / "cases" / "_t2s_inputs"
    phones = np.concatenate(
        [np.load(folder / "prompt_phones.npy").reshape(-1), np.load(folder / "text0_phones.npy")]
    )
    bert = np.concatenate(
        [np.load(folder / "prompt_bert.npy"), np.load(folder / "text0_bert.npy")], axis=1
    ).astype(np.float32)
    prompt = torch.from_numpy(np.load(folder / "prompt_semantic.npy")).long().reshape(1, -1)
    return torch.from_numpy(phones).long(), torch.from_numpy(bert), prompt


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """Tiny official-format models and the reference's outputs for them (tests/conformance by default)."""
    path = conformance_root()
    if not path.is_dir():
        pytest.fail(f"conformance fixtures not found at {path}; set TIMBRE_SHARED to a folder with them")
    return path


@pytest.fixture(scope="session")
def nltk_data_dir(conformance_dir: Path) -> Path:
    return conformance_dir / "text" / "nltk_data"
