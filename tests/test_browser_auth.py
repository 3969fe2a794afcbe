"""A studio started with `--auth` (and `--share`, which fails offline) in a real browser: Gradio's login page,
logging in, the share banner, and the API refusing callers without credentials."""

import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import choose, chromium, running_studio
from webui.i18n import table

pytestmark = pytest.mark.browser

USER, PASSWORD = "anna", "s3cret-pass"


@pytest.fixture(scope="module")
def studio(tmp_path_factory, conformance_dir: Path, monkeypatch_module):
    # A share server nobody listens on: the tunnel fails the same way with or without internet access.
    monkeypatch_module.setenv("GRADIO_SHARE_SERVER_ADDRESS", "127.0.0.1:9")
    workspace = tmp_path_factory.mktemp("auth") / "workspace"
    pretrained = conformance_dir / "models" / "pretrained"
    with running_studio(
        workspace, pretrained, extra_args=["--auth", f"{USER}:{PASSWORD}", "--share"]
    ) as running:
        yield running


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_a_failed_share_link_leaves_the_studio_running_locally_and_says_why(studio):
    deadline = time.monotonic() + 30  # the server answers a moment before app.py prints its lines
    while (
        "public link" not in (log := studio.log_path.read_text(errors="replace"))
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert "* Running on local URL:" in log
    assert "* No public link, the studio runs on this machine only:" in log
    assert "Could not create share link" in log  # gradio's reason, kept on that one line
    assert "Please check your internet connection" not in log  # gradio's paragraph is not repeated
    assert "WARNING" not in log  # a login is asked, so nothing to warn about


def test_the_api_refuses_callers_without_credentials(studio):
    assert httpx.get(studio.url + "v1/models", timeout=30).status_code == 401
    assert httpx.get(studio.url + "v1/models", auth=(USER, PASSWORD), timeout=30).status_code == 200


def test_the_ui_asks_for_a_login_and_logging_in_opens_the_studio(studio):
    en = table("en")
    with chromium() as browser:
        page = browser.new_page(locale="en-US")
        page.goto(studio.url)
        password = page.locator("input[type=password]")
        expect(password).to_be_visible(timeout=30_000)
        expect(page.get_by_role("tab", name=en["studio.tab_synthesize"])).to_have_count(0)
        page.locator("input[type=text]").first.fill(USER)
        password.fill("wrong")
        page.get_by_role("button", name="Login").click()
        expect(page.get_by_text("Incorrect Credentials")).to_be_visible(timeout=10_000)
        page.locator("input[type=text]").first.fill(USER)  # a failed login empties the form
        password.fill(PASSWORD)
        page.get_by_role("button", name="Login").click()
        expect(page.get_by_role("tab", name=en["studio.tab_synthesize"])).to_be_visible(timeout=30_000)
        # the note is filled by the page's load event, queued like any event (slow on a busy machine)
        expect(page.locator("#studio-share-note")).to_contain_text(en["studio.share_failed"], timeout=30_000)
        expect(page.locator("#studio-open-warning")).to_have_count(0)
        _save_a_voice_and_fill_the_controls_from_it(page, studio, en)


def _save_a_voice_and_fill_the_controls_from_it(page, studio, en) -> None:
    """Save as voice (refused until consent is ticked), the API lists it, choosing it fills the controls."""
    conformance = Path(__file__).resolve().parent / "conformance"
    gpt = "pretrained: gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"
    choose(page, "synth-gpt", gpt)
    choose(page, "synth-sovits", "pretrained: gsv-v2final-pretrained/s2G2333k.pth")
    page.locator("#synth-ref input[type=file]").set_input_files(
        str(conformance / "cases/_inputs/ref_16k.wav")
    )
    page.locator("#synth-ref-text textarea").fill("这是一段用于测试的参考音频。")
    page.get_by_text(en["synth.presets"]).click()
    page.locator("#synth-preset-name textarea").fill("anna")
    page.locator("#synth-preset-save").click()
    expect(page.get_by_text("to save a voice", exact=False).first).to_be_visible(timeout=15_000)
    page.locator("#synth-preset-consent input").check()
    page.locator("#synth-preset-save").click()
    expect(page.locator("#synth-preset-status")).to_contain_text("Saved voice anna", timeout=15_000)
    voices = httpx.get(studio.url + "v1/audio/voices", auth=(USER, PASSWORD), timeout=30).json()["data"]
    assert [(v["id"], v["text"]) for v in voices] == [("anna", "这是一段用于测试的参考音频。")]

    page.reload()  # a fresh page: empty controls
    page.get_by_text(en["synth.presets"]).click()
    choose(page, "synth-preset", "anna")
    expect(page.locator("#synth-ref-text textarea")).to_have_value(
        "这是一段用于测试的参考音频。", timeout=15_000
    )
    expect(page.locator("#synth-gpt input")).to_have_value(gpt)
    expect(page.locator("#synth-preset-status")).to_contain_text("Voice anna is in the controls")
