"""The Detect tab in a real browser: a file the studio generated (through its API) is dragged in; the page
says the watermark is there, signed by this install, names its generation and shows its usage-log line.
A studio started with --no-watermark says so above the tabs."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from core.audio import load_audio
from core.ethics import detect, find_generation, load_install_key
from tests.browser import chromium, running_studio
from tests.jobs_fixtures import PROMPT_TEXT, voices
from tests.test_browser_dataset import _DROP

pytestmark = pytest.mark.browser

TEXT = "你好，我们来听听。这是第二句话，再听听。第三句话也在这里。"


def test_a_generated_file_dragged_into_the_detect_tab_is_found_with_its_log_line(
    conformance_dir: Path, tmp_path: Path
) -> None:
    workspace = (tmp_path / "ws").resolve()
    voice, _ = voices(conformance_dir, workspace)
    pretrained = conformance_dir / "models" / "pretrained"
    with running_studio(
        workspace, pretrained, extra_args=["--consent-statement", "test speakers"]
    ) as running:
        params = {
            "text": TEXT,
            "text_lang": "zh",
            "ref_audio_path": "uploads/a.wav",
            "prompt_text": PROMPT_TEXT,
            "prompt_lang": "zh",
            "seed": 11,
            "max_sec": 1.5,
        }
        answer = httpx.get(running.url + "tts", params=params, timeout=300)
        assert answer.status_code == 200, answer.text
        generated = tmp_path / "generated.wav"
        generated.write_bytes(answer.content)
        payload = detect(*load_audio(generated), [load_install_key(workspace)]).payload
        (line,) = find_generation(workspace, payload)

        with chromium() as browser:
            page = browser.new_page(locale="en-US")
            page.goto(running.url)
            expect(page.locator("#studio-watermark-off")).to_have_count(0)
            page.get_by_role("tab", name="Detect").click()
            files = [["generated.wav", base64.b64encode(answer.content).decode()]]
            page.evaluate(_DROP, ["#detect-files button", files])
            results = page.locator("#detect-results")
            expect(results).to_contain_text("detected", timeout=60_000)
            expect(results).to_contain_text("this install")
            expect(results).to_contain_text(str(payload.generation_id))
            expect(results).to_contain_text(line["output"])
            entries = page.locator("#detect-entries")
            expect(entries).to_contain_text(line["output_sha256"])
            expect(entries).to_contain_text("test speakers")  # the consent statement it ran under
            expect(page.locator("#detect-log-table")).to_contain_text(str(payload.generation_id))


def test_a_studio_started_with_no_watermark_says_so_above_the_tabs(conformance_dir: Path, tmp_path: Path):
    pretrained = conformance_dir / "models" / "pretrained"
    with running_studio(tmp_path / "ws", pretrained, extra_args=["--no-watermark"]) as running:
        with chromium() as browser:
            page = browser.new_page(locale="en-US")
            page.goto(running.url)
            expect(page.locator("#studio-watermark-off")).to_contain_text("--no-watermark", timeout=30_000)
        assert "the watermark was turned off" in running.log_path.read_text()
