"""The studio in a real browser (Debian's chromium through Playwright): the Text and Synthesize tabs, the
interface in Chinese, and what `python app.py` prints."""

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import expect

from core.settings import DEFAULT_PRECISION, check_precision
from core.synthesis import SynthesisRequest, Synthesizer
from tests.browser import RunningStudio, choose, chromium, running_studio
from webui.i18n import table

pytestmark = pytest.mark.browser

PROMPT_TEXT = "这是一段用于测试的参考音频。"


@pytest.fixture(scope="module")
def pretrained_dir(conformance_dir: Path) -> Path:
    return conformance_dir / "models" / "pretrained"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("studio") / "workspace"


@pytest.fixture(scope="module")
def studio(workspace: Path, pretrained_dir: Path):
    # The Synthesize tab's audio is compared with the library's (model numerics): unmarked here;
    # tests/test_watermark_paths.py and test_browser_detect.py check the marks.
    with running_studio(workspace, pretrained_dir, extra_args=["--no-watermark"]) as running:
        yield running


@pytest.fixture(scope="module")
def studio_url(studio: RunningStudio) -> str:
    return studio.url


@pytest.fixture(scope="module")
def browser(studio_url):
    with chromium() as browser:
        yield browser


@pytest.fixture()
def page(browser, studio_url):
    page = browser.new_page(locale="en-US")
    page.goto(studio_url)
    yield page
    page.close()


@pytest.fixture()
def chinese_page(browser, studio_url):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(studio_url)
    yield page
    context.close()


def test_text_tab_shows_phones_for_a_chinese_sentence(page):
    page.get_by_role("tab", name="Text").click()
    page.locator("#text-input textarea").fill("我们去银行。")
    choose(page, "text-lang", "zh")
    page.locator("#text-analyze").click()
    phones = page.locator("#text-phones textarea")
    expect(phones).to_have_value("w o3 m en5 q v4 y in2 h ang2 .", timeout=30_000)
    expect(page.locator("#text-pinyin textarea")).to_have_value(
        "我(wo3) 们(men5) 去(qu4) 银(yin2) 行(hang2)", timeout=5_000
    )


def test_text_tab_shows_long_results_whole_from_their_start(page):
    page.get_by_role("tab", name="Text").click()
    page.locator("#text-input textarea").fill("这把剑长三十公分，2024年5月1日我们去银行，然后回家吃饭。" * 4)
    page.locator("#text-analyze").click()
    expect(page.locator("#text-ids textarea")).not_to_have_value("", timeout=30_000)
    boxes = ["#text-norm", "#text-pinyin", "#text-phones", "#text-ids"]
    whole_from_start = """(ids) => ids.every((id) => {
        const box = document.querySelector(id + " textarea");
        const half_line = parseFloat(getComputedStyle(box).lineHeight) / 2;
        return box.scrollTop === 0 && box.scrollHeight - box.clientHeight < half_line;
    })"""
    try:
        page.wait_for_function(whole_from_start, arg=boxes, timeout=5_000)
    except Exception:
        sizes = {
            box: page.locator(f"{box} textarea").evaluate(
                "b => [b.scrollTop, b.scrollHeight, b.clientHeight]"
            )
            for box in boxes
        }
        pytest.fail(f"a result box is cut or scrolled ([scrollTop, scrollHeight, clientHeight]): {sizes}")
    assert len(page.locator("#text-ids textarea").input_value().split()) > 150  # several lines' worth


def test_text_tab_reports_empty_text_as_an_error(page):
    page.get_by_role("tab", name="Text").click()
    page.locator("#text-input textarea").fill("   ")
    page.locator("#text-analyze").click()
    expect(page.get_by_text("nothing to read", exact=False).first).to_be_visible(timeout=15_000)


def _fill_synthesize_tab(page, pretrained_dir: Path, ref: Path, text: str) -> tuple[Path, Path]:
    """Choose the conformance weights, the reference clip and the text; returns (gpt, sovits)."""
    gpt = pretrained_dir / "gsv-v2final-pretrained" / "s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"
    sovits = pretrained_dir / "gsv-v2final-pretrained" / "s2G2333k.pth"
    page.get_by_role("tab", name="Synthesize").click()
    choose(page, "synth-gpt", f"pretrained: {gpt.relative_to(pretrained_dir)}")
    choose(page, "synth-sovits", f"pretrained: {sovits.relative_to(pretrained_dir)}")
    page.locator("#synth-ref input[type=file]").set_input_files(str(ref))
    page.locator("#synth-ref-text textarea").fill(PROMPT_TEXT)
    page.locator("#synth-text textarea").fill(text)
    page.locator("#synth-consent input").check()  # a new voice: the speaker's consent is asked once
    page.get_by_text("Sampling").click()
    return gpt, sovits


def test_synthesize_tab_generates_the_same_audio_as_the_library(
    page, conformance_dir, pretrained_dir, workspace
):
    ref = conformance_dir / "cases" / "_inputs" / "ref_16k.wav"
    text = "欢迎来到音色工作室。"
    before = set((workspace / "outputs").glob("*.wav"))

    gpt, sovits = _fill_synthesize_tab(page, pretrained_dir, ref, text)
    page.locator("#synth-seed input").fill("1234")
    page.locator("#synth-generate").click()
    link = page.locator("#synth-download a").first
    expect(link).to_be_visible(timeout=120_000)

    outputs = sorted(set((workspace / "outputs").glob("*.wav")) - before)
    assert len(outputs) == 1
    audio, sr = sf.read(outputs[0], dtype="int16")
    # the studio runs in the default precision (`auto`): the library, loaded the same way, reads the same
    studio_precision = check_precision(DEFAULT_PRECISION)
    expected_sr, expected = Synthesizer.from_files(
        gpt, sovits, pretrained_dir, precision=studio_precision
    ).synthesize(
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


def test_a_failed_generation_keeps_the_last_result_and_says_why(page, conformance_dir, pretrained_dir):
    _fill_synthesize_tab(
        page, pretrained_dir, conformance_dir / "cases" / "_inputs" / "ref_16k.wav", "你好。"
    )
    page.locator("#synth-generate").click()
    link = page.locator("#synth-download a").first
    expect(link).to_be_visible(timeout=120_000)
    result_href = link.get_attribute("href")
    players = page.locator("#synth-result audio")
    result_audio = players.evaluate_all("players => players.map((player) => player.src)")
    assert any(result_audio), result_audio

    page.locator("#synth-seed input").fill("")
    page.locator("#synth-generate").click()

    expect(page.locator("#synth-status")).to_contain_text("Not generated", timeout=15_000)
    expect(page.locator("#synth-status")).to_contain_text("“seed” is empty")
    expect(link).to_be_visible()
    assert link.get_attribute("href") == result_href
    assert players.evaluate_all("players => players.map((player) => player.src)") == result_audio
    for output in ("#synth-result", "#synth-download"):  # no error badge over the last result
        expect(page.locator(f"{output} .error")).to_have_count(0)


def test_startup_log_points_to_the_share_flag(studio):
    deadline = time.monotonic() + 10
    while "Running on local URL" not in (log := studio.log_path.read_text(errors="replace")):
        assert time.monotonic() < deadline, f"no start-up lines in the log:\n{log}"
        time.sleep(0.2)
    assert f"Running on local URL:  {studio.url.rstrip('/')}" in log
    assert "--share" in log
    assert "share=True" not in log and "launch()" not in log


# Latin words a Chinese page may show: names, codes, the reading examples, file types, Gradio's footer.
_NOT_TRANSLATED = {"Timbre", "English", "GPT", "SoVITS", "ckpt", "pth", "ARPAbet", "API", "Gradio", "ID"}
_NOT_TRANSLATED |= {"auto", "zh", "en", "all_zh", "top_k", "top_p", "chang2", "live", "L", "IH1", "V"}
_NOT_TRANSLATED |= {f"cut{i}" for i in range(6)} | {"k", "txt", "zip"}  # top_k's k, file types
_NOT_TRANSLATED |= {"csv", "jsonl", "UTC"}  # the usage log's export formats, its times' zone
_NOT_TRANSLATED |= {"Demucs"}  # the separation model's name
_NOT_TRANSLATED |= {"rms", "vad"}  # the slicer's mode codes

_VISIBLE_TEXT = """() => {
    const texts = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const text = walker.currentNode.textContent.trim();
        const parent = walker.currentNode.parentElement;
        // table cells and code hold data (job ids, file names, dictionary words), not interface text
        if (text && parent && !parent.closest("script, style, code, td")
            && parent.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) texts.push(text);
    }
    for (const field of document.querySelectorAll("[placeholder]")) {
        const placeholder = field.getAttribute("placeholder").trim();
        if (placeholder && field.checkVisibility()) texts.push(placeholder);
    }
    return texts;
}"""


def _visible_text_of_every_tab(page) -> list[str]:
    """Open each tab and each of its accordions; the visible text nodes and placeholders seen."""
    texts = []
    tabs = page.get_by_role("tab")
    for i in range(tabs.count()):
        tabs.nth(i).click()
        closed = page.locator("button.label-wrap:not(.open)").filter(visible=True)
        while closed.count():
            closed.first.click()
        page.wait_for_timeout(300)
        texts += page.evaluate(_VISIBLE_TEXT)
    return texts


def test_a_chinese_browser_sees_the_studio_in_chinese(chinese_page):
    en, zh = table("en"), table("zh")
    expect(chinese_page.get_by_role("tab", name=zh["studio.tab_text"])).to_be_visible(timeout=15_000)
    texts = _visible_text_of_every_tab(chinese_page)

    assert {
        zh["studio.tab_synthesize"],
        zh["synth.generate"],
        zh["text.analyze"],
        zh["text.column_word"],
    } <= set(texts)
    english_only = {value for key, value in en.items() if value != zh[key]}
    untranslated = {text for text in texts if text in english_only}
    untranslated |= {text for text in texts for value in english_only if len(value) >= 8 and value in text}
    assert not untranslated, f"English table text on the Chinese page: {sorted(untranslated)}"
    latin_words = {word for text in texts for word in re.findall(r"[A-Za-z][A-Za-z0-9_]*", text)}
    assert latin_words <= _NOT_TRANSLATED, f"untranslated words: {sorted(latin_words - _NOT_TRANSLATED)}"


def test_language_switch_reloads_the_studio_in_english_and_handlers_answer_in_it(chinese_page):
    expect(chinese_page.get_by_role("tab", name="文本")).to_be_visible(timeout=15_000)
    expect(chinese_page.locator("#ui-lang input[value=zh]")).to_be_checked()

    chinese_page.locator("#ui-lang").get_by_text("English").click()

    expect(chinese_page.get_by_role("tab", name="Text")).to_be_visible(timeout=15_000)
    expect(chinese_page.locator("#ui-lang input[value=en]")).to_be_checked()
    chinese_page.get_by_role("tab", name="Text").click()
    chinese_page.get_by_text("User dictionary").click()
    chinese_page.locator("#userdict-add").click()  # no word: the error comes from the server, in English
    expect(chinese_page.get_by_text("Type a word and its reading", exact=False).first).to_be_visible(
        timeout=15_000
    )
