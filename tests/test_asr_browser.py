"""The Dataset tab's Transcribe step in a real browser: the missing-model hint, then a transcription that
fills the dataset's `.list` on disk (faster-whisper with Whisper tiny.en in the studio's `pretrained/asr/`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import expect

from core.data.listfile import read_list
from core.data.slicer import SLICE_SR
from core.pretrained import ASR_DIR
from tests.browser import choose, chromium, running_studio
from tests.test_asr import TINY_EN, word_error_rate
from tests.test_browser_dataset import _wait_for
from tests.test_slicer import SENTENCES, _sentence

pytestmark = pytest.mark.browser


def test_the_transcribe_step_says_what_is_missing_then_fills_the_list(conformance_dir, tmp_path):
    pretrained = tmp_path / "pretrained"  # the fixture models, plus asr/tiny.en
    (pretrained / ASR_DIR).mkdir(parents=True)
    for entry in (conformance_dir / "models" / "pretrained").iterdir():
        (pretrained / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (pretrained / ASR_DIR / "tiny.en").symlink_to(TINY_EN, target_is_directory=True)
    workspace = tmp_path / "workspace"
    clips = workspace / "datasets" / "talks" / "clips"
    clips.mkdir(parents=True)
    for index, text in enumerate(SENTENCES[:2]):
        wav = np.pad(0.5 * _sentence(tmp_path, text, index), int(0.3 * SLICE_SR))
        sf.write(clips / f"talk.wav_{index}.wav", wav, SLICE_SR, subtype="PCM_16")
    list_file = workspace / "datasets" / "talks" / "talks.list"

    with running_studio(workspace, pretrained) as studio, chromium() as browser:
        page = browser.new_page(locale="en-US")
        page.goto(studio.url)
        page.get_by_role("tab", name="Dataset").click()
        page.locator("#data-name textarea").fill("talks")
        choose(page, "data-engine", "funasr")
        expect(page.locator("#data-asr-hint")).to_contain_text("Not ready to transcribe", timeout=30_000)
        expect(page.locator("#data-asr-hint")).to_contain_text("paraformer-zh")
        choose(page, "data-engine", "faster-whisper")  # tiny.en is present: nothing to say
        expect(page.locator("#data-asr-hint")).not_to_contain_text("Not ready", timeout=30_000)
        choose(page, "data-asr-lang", "en")
        page.locator("#data-transcribe").click()
        expect(page.locator("#data-status")).to_contain_text("2 clips transcribed", timeout=120_000)

    _wait_for(lambda: list_file.is_file(), "the .list")
    entries = read_list(list_file).entries
    assert [Path(e.path).name for e in entries] == ["talk.wav_0.wav", "talk.wav_1.wav"]
    assert all(e.speaker == "talks" and e.lang == "EN" for e in entries)
    assert word_error_rate(list(SENTENCES[:2]), [e.text for e in entries]) < 0.2
