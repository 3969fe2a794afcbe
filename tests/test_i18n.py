"""The studio's two translation tables and how the server picks a language (browser side: test_browser)."""

import re
from pathlib import Path

import gradio as gr
import pytest

from core.jobs.voice_training import knob_fields as training_knob_fields
from core.settings import Settings
from core.synthesis import knob_fields
from webui import StudioContext, build_studio
from webui.i18n import LANGS, request_lang, t, table, translate
from webui.text import add_entry, remove_entry

WEBUI_DIR = Path(__file__).resolve().parents[1] / "webui"
KEY = re.compile(r"""["']((?:studio|synth|text|jobs|data|proof|detect|train)\.[a-z_]+)["']""")
# Keys made from the tunable fields of a request and of a training job (webui `knob_control`): a label and
# a hint each.
KNOB_KEYS = {f"knob.{name}{suffix}" for name, _, _ in knob_fields() for suffix in ("", "_info")} | {
    f"train.knob.{name}{suffix}" for name, _, _ in training_knob_fields() for suffix in ("", "_info")
}
FIELD = re.compile(r"\{(\w*)\}")


def _ctx(tmp_path: Path, conformance_dir: Path) -> StudioContext:
    settings = Settings(workspace=tmp_path / "ws", pretrained_dir=conformance_dir / "models" / "pretrained")
    return StudioContext.open(settings)


def test_both_tables_have_the_same_keys_and_fields():
    en, zh = table("en"), table("zh")
    assert sorted(en) == sorted(zh)
    for key in en:
        assert zh[key].strip(), key
        assert FIELD.findall(en[key]) == FIELD.findall(zh[key]), key


def test_every_key_the_webui_names_is_in_the_tables_and_every_entry_is_used():
    named = {key for path in WEBUI_DIR.glob("*.py") for key in KEY.findall(path.read_text(encoding="utf-8"))}
    named |= KNOB_KEYS
    assert named, "no translation keys found in webui/*.py"
    assert named - set(table("en")) == set(), "keys missing from webui/locales/*.json"
    assert set(table("en")) - named == set(), "table entries no tab uses"


def test_an_unknown_key_fails_when_the_tab_is_built():
    with pytest.raises(KeyError, match="synth.genrate"):
        t("synth.genrate")


def test_every_label_and_text_of_the_studio_goes_through_the_tables(tmp_path, conformance_dir):
    studio = build_studio(_ctx(tmp_path, conformance_dir))
    untranslated = []
    for block in studio.blocks.values():
        for attribute in ("label", "info", "placeholder"):
            value = getattr(block, attribute, None)
            if isinstance(value, str) and value:
                untranslated.append(f"{type(block).__name__}.{attribute}={value!r}")
        if isinstance(block, gr.Button | gr.Markdown) and block.value and "__i18n__" not in str(block.value):
            untranslated.append(f"{type(block).__name__}.value={block.value!r}")
    assert untranslated == []


class _Request:
    """What `request_lang` reads of a `gr.Request`."""

    def __init__(self, headers: dict[str, str], cookies: dict[str, str]):
        self.headers, self.cookies = headers, cookies


@pytest.mark.parametrize(
    ("accept_language", "cookie", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh"),
        ("zh-TW", None, "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", None, "en"),
        ("fr-FR", None, "en"),
        ("", None, "en"),
        ("zh-CN,zh;q=0.9", "en", "en"),  # the page was switched to English
        ("en-US", "zh", "zh"),
        ("zh-CN", "klingon", "zh"),
    ],
)
def test_handlers_answer_in_the_language_the_page_shows(accept_language, cookie, expected):
    cookies = {"timbre_lang": cookie} if cookie else {}
    assert request_lang(_Request({"accept-language": accept_language}, cookies)) == expected


def test_handlers_called_without_a_request_answer_in_english():
    assert request_lang(None) == "en"


def test_dictionary_mistakes_are_reported_in_the_users_language(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    with pytest.raises(gr.Error) as error:
        add_entry(ctx, "银行", "  ", "zh")
    assert error.value.message == table("zh")["text.need_word_and_reading"]
    assert error.value.title == "错误"
    with pytest.raises(gr.Error) as error:
        remove_entry(ctx, "银行", "zh")
    assert error.value.message == "词典中没有“银行”。"


def test_the_dictionary_table_headers_follow_the_language(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    for lang in LANGS:
        shown, _, _ = add_entry(ctx, "银行", "yin2 hang2", lang)
        assert shown["headers"] == [
            translate("text.column_word", lang),
            translate("text.column_reading", lang),
        ]
        assert shown["data"] == [["银行", "yin2 hang2"]]
