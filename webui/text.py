"""Text tab: see how Timbre reads a text (normalized text, pinyin, phones, ids) and fix readings
with the workspace's user dictionary."""

from __future__ import annotations

import gradio as gr

from core.text import LANGUAGES, UserDictionary, check_text_length, text_to_phones
from webui.context import StudioContext, shows_errors
from webui.i18n import error, request_lang, t, translate

EXAMPLE = "这把剑长<chang2>三十公分，2024年5月1日我们去银行。"
# The result boxes grow with their text up to this many lines and show it from its start.
RESULT_MAX_LINES = 40


def _dict_table(user_dict: UserDictionary, lang: str) -> dict:
    """The dictionary as the table shows it: headers in `lang`, one (word, reading) row per entry."""
    rows = [[word, reading] for word, reading in sorted(user_dict.entries.items())]
    return {
        "headers": [translate("text.column_word", lang), translate("text.column_reading", lang)],
        "data": rows,
    }


@shows_errors
def analyze(ctx: StudioContext, text: str, lang: str, reference_compat: bool) -> tuple[str, str, str, str]:
    """Run the text frontend; returns (normalized text, pinyin per character, phones, ids)."""
    check_text_length(text, ctx.settings.max_text_chars)  # the bound a request has: long texts take minutes
    result = text_to_phones(
        text, lang, user_dict=ctx.user_dictionary(), reference_compat=reference_compat, g2pw=ctx.models.g2pw()
    )
    pinyin = " ".join(f"{char}({syllable})" for char, syllable in result.pinyin() if syllable)
    return result.norm_text, pinyin, " ".join(result.phones), " ".join(map(str, result.ids))


@shows_errors
def add_entry(ctx: StudioContext, word: str, reading: str, lang: str = "en") -> tuple[dict, str, str]:
    """Add or replace `word` in the workspace dictionary; returns (table, "", "") to clear the inputs."""
    word, reading = word.strip(), reading.strip()
    if not word or not reading:
        raise error("text.need_word_and_reading", lang)
    user_dict = ctx.user_dictionary()
    user_dict.add(word, reading)
    user_dict.save(ctx.workspace.userdict_path)
    return _dict_table(user_dict, lang), "", ""


@shows_errors
def remove_entry(ctx: StudioContext, word: str, lang: str = "en") -> tuple[dict, str]:
    """Remove `word` from the workspace dictionary; returns (table, "") to clear the input."""
    user_dict = ctx.user_dictionary()
    word = word.strip()
    if word not in user_dict:
        raise error("text.not_in_dictionary", lang, word=word)
    user_dict.remove(word)
    user_dict.save(ctx.workspace.userdict_path)
    return _dict_table(user_dict, lang), ""


def _result_box(key: str, elem_id: str) -> gr.Textbox:
    """A read-only result that shows all of its text from the start (Gradio grows a textbox to fit a new
    value only when `lines` > 1, and `autoscroll` would scroll it to the end)."""
    return gr.Textbox(
        label=t(key),
        interactive=False,
        lines=2,
        max_lines=RESULT_MAX_LINES,
        autoscroll=False,
        elem_id=elem_id,
    )


def build(ctx: StudioContext) -> None:
    """Create the Text tab's components inside the caller's Blocks."""
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label=t("text.text"), value=EXAMPLE, lines=3, elem_id="text-input")
            with gr.Row():
                lang = gr.Dropdown(
                    list(LANGUAGES),
                    value="auto",
                    label=t("text.lang"),
                    info=t("studio.lang_codes"),
                    elem_id="text-lang",
                )
                compat = gr.Checkbox(value=False, label=t("text.compat"), elem_id="text-compat")
            analyze_btn = gr.Button(t("text.analyze"), variant="primary", elem_id="text-analyze")
            gr.Markdown(t("text.inline_hint"))
        with gr.Column(scale=4):
            norm_text = _result_box("text.norm", "text-norm")
            pinyin = _result_box("text.pinyin", "text-pinyin")
            phones = _result_box("text.phones", "text-phones")
            ids = _result_box("text.ids", "text-ids")
    with gr.Accordion(t("text.userdict"), open=False, elem_id="userdict"):

        @shows_errors
        def current_table(request: gr.Request | None = None) -> dict:
            return _dict_table(ctx.user_dictionary(), request_lang(request))

        table = gr.Dataframe(value=current_table, interactive=False, elem_id="userdict-table")
        with gr.Row():
            word = gr.Textbox(label=t("text.word"), elem_id="userdict-word")
            reading = gr.Textbox(label=t("text.reading"), elem_id="userdict-reading")
            add_btn = gr.Button(t("text.add"), elem_id="userdict-add")
            remove_btn = gr.Button(t("text.remove"), elem_id="userdict-remove")

    def on_add(word_value: str, reading_value: str, request: gr.Request):
        return add_entry(ctx, word_value, reading_value, request_lang(request))

    def on_remove(word_value: str, request: gr.Request):
        return remove_entry(ctx, word_value, request_lang(request))

    outputs = [norm_text, pinyin, phones, ids]
    analyze_btn.click(
        lambda t, lg, c: analyze(ctx, t, lg, c),
        [text, lang, compat],
        outputs,
        api_name="text_to_phones",
    )
    text.submit(lambda t, lg, c: analyze(ctx, t, lg, c), [text, lang, compat], outputs)
    add_btn.click(on_add, [word, reading], [table, word, reading])
    remove_btn.click(on_remove, [word], [table, word])
