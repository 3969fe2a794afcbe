"""The studio in a real browser (Debian's chromium through Playwright): the Text and Synthesize tabs."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import expect, sync_playwright

from core.synthesis import SynthesisRequest, Synthesizer
from tests.browser import CHROMIUM_ARGS, chromium_path, running_studio

pytestmark = pytest.mark.browser

PROMPT_TEXT = "这是一段用于测试的参考音频。"


@pytest.fixture(scope="module")
def pretrained_dir(conformance_dir: Path) -> Path:
    return conformance_dir / "models" / "pretrained"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("studio") / "workspace"


@pytest.fixture(scope="module")
def studio_url(workspace: Path, pretrained_dir: Path):
    with running_studio(workspace, pretrained_dir) as url:
        yield url


@pytest.fixture(scope="module")
def browser(studio_url):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, studio_url):
    page = browser.new_page()
    page.goto(studio_url)
    yield page
    page.close()


def _choose(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.fill(value)
    box.press("Enter")


def test_text_tab_shows_phones_for_a_chinese_sentence(page):
    page.get_by_role("tab", name="Text").click()
    page.locator("#text-input textarea").fill("我们去银行。")
    _choose(page, "text-lang", "zh")
    page.locator("#text-analyze").click()
    phones = page.locator("#text-phones textarea")
    expect(phones).to_have_value("w o3 m en5 q v4 y in2 h ang2 .", timeout=30_000)
    expect(page.locator("#text-pinyin textarea")).to_have_value(
        "我(wo3) 们(men5) 去(qu4) 银(yin2) 行(hang2)", timeout=5_000
    )


def test_text_tab_reports_empty_text_as_an_error(page):
    page.get_by_role("tab", name="Text").click()
    page.locator("#text-input textarea").fill("   ")
    page.locator("#text-analyze").click()
    expect(page.get_by_text("nothing to read", exact=False).first).to_be_visible(timeout=15_000)


def test_synthesize_tab_generates_the_same_audio_as_the_library(
    page, conformance_dir, pretrained_dir, workspace
):
    gpt = pretrained_dir / "gsv-v2final-pretrained" / "s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"
    sovits = pretrained_dir / "gsv-v2final-pretrained" / "s2G2333k.pth"
    ref = conformance_dir / "cases" / "_inputs" / "ref_16k.wav"
    text = "欢迎来到音色工作室。"

    page.get_by_role("tab", name="Synthesize").click()
    _choose(page, "synth-gpt", f"pretrained: {gpt.relative_to(pretrained_dir)}")
    _choose(page, "synth-sovits", f"pretrained: {sovits.relative_to(pretrained_dir)}")
    page.locator("#synth-ref input[type=file]").set_input_files(str(ref))
    page.locator("#synth-ref-text textarea").fill(PROMPT_TEXT)
    page.locator("#synth-text textarea").fill(text)
    page.get_by_text("Sampling").click()
    page.locator("#synth-seed input").fill("1234")
    page.locator("#synth-generate").click()
    link = page.locator("#synth-download a").first
    expect(link).to_be_visible(timeout=120_000)

    outputs = sorted((workspace / "outputs").glob("*.wav"))
    assert len(outputs) == 1
    audio, sr = sf.read(outputs[0], dtype="int16")
    expected_sr, expected = Synthesizer.from_files(gpt, sovits, pretrained_dir).synthesize(
        SynthesisRequest(
            text=text,
            text_lang="zh",
            ref_audio_path=ref,
            prompt_text=PROMPT_TEXT,
            prompt_lang="zh",
            seed=1234,
        )
    )
    assert sr == expected_sr == 32000
    assert audio.shape == expected.shape and len(audio) > sr // 2
    assert np.array_equal(audio, expected)


def test_synthesize_tab_asks_for_a_reference_clip_before_generating(page):
    page.get_by_role("tab", name="Synthesize").click()
    page.locator("#synth-text textarea").fill("你好。")
    page.locator("#synth-generate").click()
    expect(page.get_by_text("Drop in a reference clip", exact=False).first).to_be_visible(timeout=15_000)
