"""The Dataset and Proofread tabs in a real browser: drop recordings, import and slice them, proofread the
clips (edit, delete, undo), reload, and find the edits in the page and in the `.list` on disk."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import expect

from core.data.listfile import read_list
from tests.browser import chromium, running_studio

pytestmark = pytest.mark.browser

SR = 32000
NAMES = ("alpha", "bravo", "charlie")


def _recording(path: Path, f0_hz: float, seconds: float = 1.6) -> Path:
    """A voiced-sounding tone (harmonics, syllable-rate tremolo) between 0.3 s silences: one clip each."""
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * f0_hz * k * t) / k for k in range(1, 6))
    tone *= 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) * 0.25
    silence = np.zeros(int(0.3 * SR))
    sf.write(path, np.concatenate([silence, tone, silence]).astype(np.float32), SR, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("studio") / "workspace"


@pytest.fixture(scope="module")
def studio_url(workspace: Path, conformance_dir: Path):
    with running_studio(workspace, conformance_dir / "models" / "pretrained") as running:
        yield running.url


_DROP = """([selector, files]) => {
    const transfer = new DataTransfer();
    for (const [name, b64] of files) {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], name, { type: "audio/wav" }));
    }
    const target = document.querySelector(selector);
    for (const type of ["dragenter", "dragover", "drop"]) {
        const event = new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer });
        target.dispatchEvent(event);
    }
}"""


def _choose(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.fill(value)
    box.press("Enter")


def _wait_for(condition, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _open_dataset(page, name: str, total: int) -> None:
    page.get_by_role("tab", name="Proofread").click()
    _choose(page, "proof-dataset", name)
    expect(page.locator("#proof-position")).to_contain_text(f"Clip 1 of {total}", timeout=30_000)


def test_dropped_recordings_are_imported_sliced_and_proofread_and_the_edits_survive_a_reload(
    studio_url, workspace, tmp_path
):
    recordings = [_recording(tmp_path / f"{name}.wav", 110.0 * (i + 1)) for i, name in enumerate(NAMES)]
    list_file = workspace / "datasets" / "voice" / "voice.list"
    files = [[p.name, base64.b64encode(p.read_bytes()).decode()] for p in recordings]
    with chromium() as browser:
        page = browser.new_page(locale="en-US")
        page.goto(studio_url)
        page.get_by_role("tab", name="Dataset").click()
        page.locator("#data-name textarea").fill("voice")
        page.evaluate(_DROP, ["#data-files button", files])
        for name in NAMES:
            expect(page.locator(f"#data-files a[href$='/{name}.wav']")).to_be_visible(timeout=15_000)

        page.locator("#data-import").click()
        expect(page.locator("#data-status")).to_contain_text("Done", timeout=60_000)
        table = page.locator("#data-recordings")
        for name in NAMES:
            expect(table).to_contain_text(f"{name}.wav")
        page.locator("#data-slice").click()
        expect(page.locator("#data-status")).to_contain_text("3 clips", timeout=60_000)
        expect(page.locator("#data-clips")).to_contain_text("charlie.wav_")
        page.locator("#data-clips td").filter(has_text="alpha.wav_").click()
        expect(page.locator("#data-player a[href*='alpha.wav_']").first).to_be_attached()

        _open_dataset(page, "voice", 3)
        expect(page.locator("#proof-position")).to_contain_text("alpha.wav_")
        page.locator("#proof-text textarea").fill("你好，世界。")
        page.locator("#proof-save").click()
        expect(page.locator("#proof-phones textarea")).to_have_value(re.compile("ao3"), timeout=30_000)
        page.locator("#proof-next").click()
        expect(page.locator("#proof-position")).to_contain_text("bravo.wav_", timeout=15_000)
        page.locator("#proof-delete").click()  # bravo goes; charlie takes its place
        expect(page.locator("#proof-position")).to_contain_text("Clip 2 of 2", timeout=15_000)
        expect(page.locator("#proof-position")).to_contain_text("charlie.wav_")
        page.locator("#proof-delete").click()  # charlie goes too, then comes back
        expect(page.locator("#proof-position")).to_contain_text("Clip 1 of 1", timeout=15_000)
        page.locator("#proof-undo").click()
        expect(page.locator("#proof-position")).to_contain_text("Clip 2 of 2", timeout=15_000)
        expect(page.locator("#proof-position")).to_contain_text("charlie.wav_")
        _choose(page, "proof-lang", "EN")
        _wait_for(lambda: [e.lang for e in read_list(list_file).entries] == ["ZH", "EN"])

        page.reload()
        _open_dataset(page, "voice", 2)
        expect(page.locator("#proof-text textarea")).to_have_value("你好，世界。")
        page.locator("#proof-next").click()
        expect(page.locator("#proof-position")).to_contain_text("charlie.wav_", timeout=15_000)
        expect(page.locator("#proof-lang input")).to_have_value("EN")
        page.close()

    entries = read_list(list_file).entries
    assert [(Path(e.path).name.split("_")[0], e.speaker, e.lang, e.text) for e in entries] == [
        ("alpha.wav", "voice", "ZH", "你好，世界。"),
        ("charlie.wav", "voice", "EN", ""),
    ]
    assert all(Path(e.path).is_file() for e in entries)
