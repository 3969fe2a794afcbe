"""Text tab: see how Timbre reads a text (normalized text, pinyin, phones, ids) and fix readings
with the workspace's user dictionary."""

from __future__ import annotations

import gradio as gr

from core.text import LANGUAGES, UserDictionary, text_to_phones
from webui.context import StudioContext, shows_errors

EXAMPLE = "这把剑长<chang2>三十公分，2024年5月1日我们去银行。"


def _dict_rows(user_dict: UserDictionary) -> list[list[str]]:
    return [[word, reading] for word, reading in sorted(user_dict.entries.items())]


@shows_errors
def analyze(ctx: StudioContext, text: str, lang: str, reference_compat: bool) -> tuple[str, str, str, str]:
    """Run the text frontend; returns (normalized text, pinyin per character, phones, ids)."""
    result = text_to_phones(
        text, lang, user_dict=ctx.user_dictionary(), reference_compat=reference_compat, g2pw=ctx.g2pw
    )
    pinyin = " ".join(f"{char}({syllable})" for char, syllable in result.pinyin() if syllable)
    return result.norm_text, pinyin, " ".join(result.phones), " ".join(map(str, result.ids))


@shows_errors
def add_entry(ctx: StudioContext, word: str, reading: str) -> tuple[list[list[str]], str, str]:
    word, reading = word.strip(), reading.strip()
    if not word or not reading:
        raise gr.Error("Type a word and its reading: pinyin ('chang2 da4') or ARPAbet ('L IH1 V').")
    user_dict = ctx.user_dictionary()
    user_dict.add(word, reading)
    user_dict.save(ctx.workspace.userdict_path)
    return _dict_rows(user_dict), "", ""


@shows_errors
def remove_entry(ctx: StudioContext, word: str) -> tuple[list[list[str]], str]:
    user_dict = ctx.user_dictionary()
    word = word.strip()
    if word not in user_dict:
        raise gr.Error(f"'{word}' is not in the dictionary.")
    user_dict.remove(word)
    user_dict.save(ctx.workspace.userdict_path)
    return _dict_rows(user_dict), ""


def build(ctx: StudioContext) -> None:
    """Create the Text tab's components inside the caller's Blocks."""
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Text", value=EXAMPLE, lines=3, elem_id="text-input")
            with gr.Row():
                lang = gr.Dropdown(list(LANGUAGES), value="auto", label="Language", elem_id="text-lang")
                compat = gr.Checkbox(
                    value=False,
                    label="Read exactly like GPT-SoVITS (keep its known misreadings)",
                    elem_id="text-compat",
                )
            analyze_btn = gr.Button("Analyze", variant="primary", elem_id="text-analyze")
            gr.Markdown(
                "Fix a reading inline: `长<chang2>` (pinyin for the characters before it), "
                "`live<L IH1 V>` (ARPAbet for the English word before it)."
            )
        with gr.Column(scale=4):
            norm_text = gr.Textbox(label="Normalized text", interactive=False, elem_id="text-norm")
            pinyin = gr.Textbox(label="Pinyin per character", interactive=False, elem_id="text-pinyin")
            phones = gr.Textbox(label="Phones", interactive=False, elem_id="text-phones")
            ids = gr.Textbox(label="Phone ids", interactive=False, elem_id="text-ids")
    with gr.Accordion("User dictionary (this workspace)", open=False):
        table = gr.Dataframe(
            headers=["word", "reading"],
            value=shows_errors(lambda: _dict_rows(ctx.user_dictionary())),
            interactive=False,
            elem_id="userdict-table",
        )
        with gr.Row():
            word = gr.Textbox(label="Word", elem_id="userdict-word")
            reading = gr.Textbox(label="Reading", elem_id="userdict-reading")
            add_btn = gr.Button("Add / replace", elem_id="userdict-add")
            remove_btn = gr.Button("Remove", elem_id="userdict-remove")

    analyze_btn.click(
        lambda t, lg, c: analyze(ctx, t, lg, c),
        [text, lang, compat],
        [norm_text, pinyin, phones, ids],
        api_name="text_to_phones",
    )
    outputs = [norm_text, pinyin, phones, ids]
    text.submit(lambda t, lg, c: analyze(ctx, t, lg, c), [text, lang, compat], outputs)
    add_btn.click(lambda w, r: add_entry(ctx, w, r), [word, reading], [table, word, reading])
    remove_btn.click(lambda w: remove_entry(ctx, w), [word], [table, word])
