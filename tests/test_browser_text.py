"""The Text tab in a real browser: type a sentence, read the phones back."""

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser import CHROMIUM_ARGS, chromium_path, running_studio

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory, conformance_dir: Path):
    root = tmp_path_factory.mktemp("studio")
    with running_studio(root / "workspace", conformance_dir / "models" / "pretrained") as url:
        yield url


@pytest.fixture(scope="module")
def page(studio_url):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(studio_url)
        page.get_by_role("tab", name="Text").click()
        yield page
        browser.close()


def test_text_tab_shows_phones_for_a_chinese_sentence(page):
    page.locator("#text-input textarea").fill("我们去银行。")
    page.locator("#text-lang input").fill("zh")
    page.locator("#text-lang input").press("Enter")
    page.locator("#text-analyze").click()
    phones = page.locator("#text-phones textarea")
    expect(phones).to_have_value("w o3 m en5 q v4 y in2 h ang2 .", timeout=30_000)
    expect(page.locator("#text-pinyin textarea")).to_have_value(
        "我(wo3) 们(men5) 去(qu4) 银(yin2) 行(hang2)", timeout=5_000
    )


def test_text_tab_reports_empty_text_as_an_error(page):
    page.locator("#text-input textarea").fill("   ")
    page.locator("#text-analyze").click()
    expect(page.get_by_text("nothing to read", exact=False).first).to_be_visible(timeout=15_000)
