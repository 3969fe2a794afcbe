"""The Dataset and Proofread tabs in a real browser: drop recordings, import and slice them, proofread the
clips (edit, merge, delete, undo, redo), reload, and find the edits in the page and in the `.list` on disk;
then sort, replace, split and fix what the check finds. Every wait is for the expected content (in the page
or on disk), never a fixed delay."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import expect

from core.data.listfile import read_list
from tests.browser import choose, chromium, running_studio

pytestmark = pytest.mark.browser

SR = 32000
NAMES = ("alpha", "bravo", "charlie", "delta")


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


def _wait_for(condition, what: str, timeout_s: float = 30.0) -> None:
    """Poll `condition` (a look at the files the studio writes) until it holds; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _lines(list_file: Path) -> list[tuple[str, str, str]]:
    """(clip file name, language, text) of each line of the `.list` on disk."""
    return [(Path(e.path).name, e.lang, e.text) for e in read_list(list_file).entries]


def _open_dataset(page, name: str, total: int) -> None:
    page.get_by_role("tab", name="Proofread").click()
    choose(page, "proof-dataset", name, listed=False)  # made during the test: not among the start's choices
    expect(page.locator("#proof-position")).to_contain_text(f"Clip 1 of {total}", timeout=30_000)


def _shows(page, text: str) -> None:
    expect(page.locator("#proof-position")).to_contain_text(text, timeout=30_000)


def _type_text(page, text: str) -> None:
    box = page.locator("#proof-text textarea")
    box.fill(text)
    expect(box).to_have_value(text)  # the page holds it before a button sends it


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
        expect(page.locator("#data-status")).to_contain_text(f"{len(NAMES)} clips", timeout=60_000)
        expect(page.locator("#data-clips")).to_contain_text("delta.wav_")
        page.locator("#data-clips td").filter(has_text="alpha.wav_").click()
        expect(page.locator("#data-player a[href*='alpha.wav_']").first).to_be_attached()
        _wait_for(lambda: list_file.is_file() and len(_lines(list_file)) == 4, "the sliced clips' .list")
        sliced = {Path(e.path).name.split("_")[0]: Path(e.path) for e in read_list(list_file).entries}

        _open_dataset(page, "voice", 4)
        _shows(page, "alpha.wav_")
        _type_text(page, "你好，世界。")
        page.locator("#proof-save").click()
        _wait_for(lambda: _lines(list_file)[0][2] == "你好，世界。", "the edit on disk")
        expect(page.locator("#proof-phones textarea")).to_have_value(re.compile("ao3"), timeout=30_000)

        page.locator("#proof-next").click()
        _shows(page, "bravo.wav_")
        _type_text(page, "再见")
        page.locator("#proof-merge").click()  # bravo + charlie: one new clip, the text typed kept
        _shows(page, "Clip 2 of 3")
        _shows(page, "~1.wav")
        expect(page.locator("#proof-text textarea")).to_have_value("再见")
        page.locator("#proof-next").click()
        _shows(page, "delta.wav_")
        page.locator("#proof-delete").click()  # delta goes; the merged clip is the last one
        _shows(page, "Clip 2 of 2")
        page.locator("#proof-delete").click()  # the merged clip goes too, then comes back
        _shows(page, "Clip 1 of 1")
        page.locator("#proof-undo").click()
        _shows(page, "Clip 2 of 2")
        page.locator("#proof-redo").click()
        _shows(page, "Clip 1 of 1")
        page.locator("#proof-undo").click()
        _shows(page, "Clip 2 of 2")
        _shows(page, "~1.wav")
        choose(page, "proof-lang", "EN")
        _wait_for(lambda: [line[1] for line in _lines(list_file)] == ["ZH", "EN"], "the language on disk")

        page.reload()
        _open_dataset(page, "voice", 2)
        expect(page.locator("#proof-text textarea")).to_have_value("你好，世界。")
        page.locator("#proof-next").click()
        _shows(page, "~1.wav")
        expect(page.locator("#proof-text textarea")).to_have_value("再见")
        expect(page.locator("#proof-lang input")).to_have_value("EN")
        page.close()

    entries = read_list(list_file).entries
    assert [(Path(e.path).name.split("_")[0], e.speaker, e.lang, e.text) for e in entries] == [
        ("alpha.wav", "voice", "ZH", "你好，世界。"),
        ("bravo.wav", "voice", "EN", "再见"),
    ]
    merged = Path(entries[1].path)
    assert merged.name.endswith("~1.wav") and merged.is_file()
    assert (
        sf.info(merged).frames == sf.info(sliced["bravo.wav"]).frames + sf.info(sliced["charlie.wav"]).frames
    )
    assert all(path.is_file() for path in sliced.values())  # clips no line uses are kept, for undo


def _tools_dataset(workspace: Path) -> Path:
    """Dataset `tools`: three clips (4 s, 0.3 s, 4 s) and what ASR heard in them, with its confidence."""
    clips = workspace / "datasets" / "tools" / "clips"
    clips.mkdir(parents=True)
    t = np.arange(4 * SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for name, samples in (("c0.wav", tone), ("c1.wav", tone[: int(0.3 * SR)]), ("c2.wav", tone)):
        sf.write(clips / name, samples, SR, subtype="PCM_16")
    lines = [
        "clips/c0.wav|tools|EN|hello world",
        "clips/c1.wav|tools|EN|",
        "clips/c2.wav|tools|EN|hello again",
    ]
    list_file = workspace / "datasets" / "tools" / "tools.list"
    list_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    heard = {
        "clips/c0.wav": {"confidence": 0.8, "language": "en", "text": "hello world"},
        "clips/c2.wav": {"confidence": 0.2, "language": "en", "text": "hello again"},
    }
    Path(f"{list_file}.confidence.json").write_text(
        json.dumps({"version": 1, "clips": heard}), encoding="utf-8"
    )
    return list_file


def test_proofread_sorts_replaces_splits_and_fixes_what_the_check_finds(studio_url, workspace):
    list_file = _tools_dataset(workspace)
    with chromium() as browser:
        page = browser.new_page(locale="en-US")
        page.goto(studio_url)
        _open_dataset(page, "tools", 3)
        _shows(page, "c0.wav")
        choose(page, "proof-sort", "Lowest ASR confidence first")
        _shows(page, "Clip 1 of 3 c2.wav")  # the least sure first; c1 has no confidence: last
        page.locator("#proof-next").click()
        _shows(page, "Clip 2 of 3 c0.wav")
        page.locator("#proof-prev").click()
        _shows(page, "c2.wav")

        page.locator("#proof-find textarea").fill("hello")
        page.locator("#proof-replacement textarea").fill("goodbye")
        page.locator("#proof-replace-all").click()
        expect(page.locator("#proof-status")).to_contain_text("2 replacement(s)", timeout=30_000)
        _wait_for(lambda: _lines(list_file)[0][2] == "goodbye world", "the replacements on disk")
        expect(page.locator("#proof-text textarea")).to_have_value("goodbye again")

        _type_text(page, "goodbye | again")
        page.locator("#proof-split-at input").fill("1.5")
        page.locator("#proof-split").click()  # c2 becomes c2~1 (0-1.5 s) and c2~2, the text cut at the bar
        _wait_for(lambda: len(_lines(list_file)) == 4, "the split on disk")
        assert _lines(list_file)[2:] == [("c2~1.wav", "EN", "goodbye"), ("c2~2.wav", "EN", "again")]
        _shows(page, "c2~1.wav")

        page.get_by_text("Check before training").click()
        page.locator("#proof-check").click()
        summary = page.locator("#proof-check-summary")
        expect(summary).to_contain_text("error(s) (training will not start)", timeout=60_000)
        problems = page.locator("#proof-problems")
        expect(problems).to_contain_text("transcript is empty")
        row = problems.locator("tr").filter(has_text="transcript is empty").first
        row.locator("td").filter(has_text="Drop line").click()  # one click: line 2 (c1) goes
        _wait_for(lambda: len(_lines(list_file)) == 3, "the dropped line on disk")
        expect(summary).to_contain_text("0 error(s)", timeout=30_000)
        expect(problems).not_to_contain_text("transcript is empty")
        problems.locator("tr").filter(has_text="c2~2.wav lasts").locator("td").first.click()  # go to it
        _shows(page, "c2~2.wav")
        page.close()

    assert _lines(list_file) == [
        ("c0.wav", "EN", "goodbye world"),
        ("c2~1.wav", "EN", "goodbye"),
        ("c2~2.wav", "EN", "again"),
    ]
    assert sf.info(list_file.parent / "clips" / "c2~1.wav").frames == int(1.5 * SR)
