"""The studio in English and Chinese: one table per language (`webui/locales/<lang>.json`), a key per string.

Components take `label=t("synth.generate")` (also `info=`, `placeholder=`, Markdown and Button values, tab
and accordion labels); Gradio's frontend swaps in the table of the browser's language: `zh`, `zh-CN`,
`zh-TW`... read `zh`, every other language reads `en`. Text the server writes itself (error messages, table
headers) goes through `translate(key, lang)` with `lang = request_lang(request)`: the language the page shows.

The language switch (`language_switch()`) keeps its choice in the browser's localStorage and reloads the page;
`HEAD` makes Gradio see that choice as the browser's language and mirrors the language the page shows into
the `timbre_lang` cookie, so handlers answer in it. Adding a string: add its key to every table.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

import gradio as gr
from gradio.i18n import I18nData

from core.errors import TimbreError

LANGS = ("en", "zh")
DEFAULT_LANG = "en"
LANG_COOKIE = "timbre_lang"
_LOCALES_DIR = Path(__file__).with_name("locales")

# Runs in <head> before Gradio picks its locale (it reads navigator.language): a choice made with the switch
# (localStorage) overrides the browser's language, and the language the page shows (Gradio sets <html lang>)
# is copied into a cookie for the server.
HEAD = f"""
<script>
(() => {{
  const chosen = localStorage.getItem("{LANG_COOKIE}");
  if (chosen) {{
    const tag = chosen === "zh" ? "zh-CN" : "en";
    Object.defineProperty(navigator, "language", {{ get: () => tag, configurable: true }});
    Object.defineProperty(navigator, "languages", {{ get: () => [tag], configurable: true }});
  }}
  const mirror = () => {{
    const lang = document.documentElement.lang.toLowerCase().startsWith("zh") ? "zh" : "en";
    document.cookie = `{LANG_COOKIE}=${{lang}}; path=/; SameSite=Lax`;
  }};
  mirror();
  const watched = {{ attributes: true, attributeFilter: ["lang"] }};
  new MutationObserver(mirror).observe(document.documentElement, watched);
}})();
</script>
"""
_SHOWN_LANG_JS = "() => document.documentElement.lang.toLowerCase().startsWith('zh') ? 'zh' : 'en'"
_CHOOSE_LANG_JS = f"(lang) => {{ localStorage.setItem('{LANG_COOKIE}', lang); window.location.reload(); }}"


@functools.cache
def table(lang: str) -> Mapping[str, str]:
    """The translation table of `lang` ("en" or "zh"): key -> text (read once, read-only)."""
    if lang not in LANGS:
        raise ValueError(f"no translation table for {lang!r}; expected one of {', '.join(LANGS)}")
    return MappingProxyType(json.loads((_LOCALES_DIR / f"{lang}.json").read_text(encoding="utf-8")))


def t(key: str) -> I18nData:
    """A string the browser shows in its language; pass it as a component's label, info, value..."""
    if key not in table(DEFAULT_LANG):
        raise KeyError(f"{key!r} is not in webui/locales/{DEFAULT_LANG}.json; add it to every table")
    return I18nData(key)


def translate(key: str, lang: str, **fields: object) -> str:
    """The text of `key` in `lang` (unknown languages read English), with `{name}` fields filled in."""
    return table(lang if lang in LANGS else DEFAULT_LANG)[key].format(**fields)


def error(key: str, lang: str, **fields: object) -> gr.Error:
    """A `gr.Error` to raise for a user's mistake: message and title in `lang`."""
    return gr.Error(translate(key, lang, **fields), title=translate("studio.error", lang))


@contextlib.contextmanager
def user_errors(lang: str) -> Iterator[None]:
    """Show a `TimbreError` raised inside as a `gr.Error` titled in `lang` (the message stays core's)."""
    try:
        yield
    except TimbreError as exc:
        raise gr.Error(str(exc), title=translate("studio.error", lang)) from exc


def studio_i18n() -> gr.I18n:
    """Every table, for `launch(i18n=...)`."""
    return gr.I18n(**{lang: dict(table(lang)) for lang in LANGS})


def request_lang(request: gr.Request | None) -> str:
    """The language shown by the page that sent `request`: its cookie, else its Accept-Language, else en."""
    if request is None:
        return DEFAULT_LANG
    shown = (getattr(request, "cookies", None) or {}).get(LANG_COOKIE)
    if shown in LANGS:
        return shown
    headers = getattr(request, "headers", None) or {}
    accepted = (headers.get("accept-language") or "").split(",")[0].strip().lower()
    return "zh" if accepted.startswith("zh") else DEFAULT_LANG


def language_switch(blocks: gr.Blocks) -> gr.Radio:
    """The interface-language choice, created inside `blocks`: it shows the page's language when the page
    loads, and choosing the other one reloads the page in it (all in the browser)."""
    switch = gr.Radio(
        [("English", "en"), ("中文", "zh")],
        label=t("studio.language"),
        elem_id="ui-lang",
        scale=0,
        min_width=240,
    )
    blocks.load(None, None, switch, js=_SHOWN_LANG_JS)
    switch.input(None, switch, None, js=_CHOOSE_LANG_JS)
    return switch
