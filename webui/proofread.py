"""Proofread tab: page through a dataset's clips, hear each one, fix its transcript and language, delete a
clip, undo. Every change is written to the `.list` at once (atomically); the phones the text frontend will
train on are shown for the current text, so a wrong reading is seen before training."""

from __future__ import annotations

import gradio as gr

from core.data.listfile import LANGUAGE_CODES, audio_path, read_list
from core.data.proofread import ListEdits, datasets_with_lists, list_path
from core.errors import TimbreError
from core.text import text_to_phones
from webui.context import StudioContext
from webui.dataset import LIST_LANGS
from webui.i18n import request_lang, t, translate, user_errors


def phones_of(ctx: StudioContext, text: str, lang_column: str) -> str:
    """The phones the frontend reads for `text`, or why it cannot read it (shown beside the text)."""
    language = LANGUAGE_CODES.get(lang_column)
    if not text.strip() or language is None:
        return ""
    try:
        result = text_to_phones(text, language, user_dict=ctx.user_dictionary(), g2pw=ctx.models.g2pw())
    except TimbreError as exc:
        return str(exc)
    return " ".join(result.phones)


def load(ctx: StudioContext, name: str) -> ListEdits:
    """The `.list` of dataset `name`, fresh from disk, with no edits to undo."""
    return ListEdits(read_list(list_path(ctx.workspace, name)).entries)


def view(ctx: StudioContext, name: str, edits: ListEdits | None, index: int, lang_ui: str) -> tuple:
    """(edits, index, position, player, text, language, phones) for clip `index` (clamped to the list)."""
    if edits is None or not edits.entries:
        return edits, 0, translate("proof.empty", lang_ui), None, "", None, ""
    index = max(0, min(index, len(edits.entries) - 1))
    entry = edits.entries[index]
    wav = audio_path(entry, None, list_path(ctx.workspace, name).parent)
    position = translate("proof.position", lang_ui, index=index + 1, total=len(edits.entries))
    position += f" `{wav.name}`"
    player = str(wav) if wav.is_file() else None
    return edits, index, position, player, entry.text, entry.lang, phones_of(ctx, entry.text, entry.lang)


def build(ctx: StudioContext) -> None:
    """Create the Proofread tab's components inside the caller's Blocks."""
    with gr.Row():
        dataset = gr.Dropdown(
            datasets_with_lists(ctx.workspace),
            value=None,
            allow_custom_value=True,
            label=t("proof.dataset"),
            elem_id="proof-dataset",
        )
        refresh = gr.Button(t("proof.refresh"), scale=0, elem_id="proof-refresh")
    position = gr.Markdown(elem_id="proof-position")
    player = gr.Audio(label=t("proof.clip"), type="filepath", interactive=False, elem_id="proof-player")
    with gr.Row():
        text = gr.Textbox(label=t("proof.text"), elem_id="proof-text", scale=3)
        lang = gr.Dropdown(
            list(LIST_LANGS), allow_custom_value=True, label=t("proof.lang"), elem_id="proof-lang", scale=1
        )
    phones = gr.Textbox(label=t("proof.phones"), interactive=False, elem_id="proof-phones")
    with gr.Row():
        prev = gr.Button(t("proof.prev"), elem_id="proof-prev")
        save = gr.Button(t("proof.save"), variant="primary", elem_id="proof-save")
        next_ = gr.Button(t("proof.next"), elem_id="proof-next")
        delete = gr.Button(t("proof.delete"), variant="stop", elem_id="proof-delete")
        undo = gr.Button(t("proof.undo"), elem_id="proof-undo")
    edits_state = gr.State(None)
    index_state = gr.State(0)
    shown = [edits_state, index_state, position, player, text, lang, phones]

    def apply(name: str, edits: ListEdits | None, index: int, text_value: str, lang_value: str, lang_ui: str):
        """The edits with the boxes' text and language applied to clip `index`, saved if they changed."""
        if edits is None or not edits.entries:
            return edits
        with user_errors(lang_ui):
            changed = edits.edit(index, text=text_value or "", lang=lang_value or edits.entries[index].lang)
            if changed is not edits:
                changed.save(list_path(ctx.workspace, name))
        return changed

    def on_dataset(request: gr.Request, name: str | None):
        lang_ui = request_lang(request)
        if not name:
            return view(ctx, "", None, 0, lang_ui)
        with user_errors(lang_ui):
            return view(ctx, name, load(ctx, name), 0, lang_ui)

    def on_move(step: int):
        def handler(request: gr.Request, name, edits, index, text_value, lang_value):
            lang_ui = request_lang(request)
            edits = apply(name, edits, index, text_value, lang_value, lang_ui)
            return view(ctx, name, edits, index + step, lang_ui)

        return handler

    def on_delete(request: gr.Request, name, edits, index):
        lang_ui = request_lang(request)
        if edits is None or not edits.entries:
            return view(ctx, name, edits, index, lang_ui)
        edits = edits.delete(index)
        edits.save(list_path(ctx.workspace, name))
        return view(ctx, name, edits, index, lang_ui)

    def on_undo(request: gr.Request, name, edits, index):
        lang_ui = request_lang(request)
        if edits is None or not edits.can_undo:
            gr.Info(translate("proof.nothing_to_undo", lang_ui))
            return view(ctx, name, edits, index, lang_ui)
        edits, touched = edits.undo()
        edits.save(list_path(ctx.workspace, name))
        return view(ctx, name, edits, touched, lang_ui)

    def on_refresh():
        return gr.Dropdown(choices=datasets_with_lists(ctx.workspace))

    refresh.click(on_refresh, None, dataset)
    dataset.change(on_dataset, dataset, shown)
    moving = [dataset, edits_state, index_state, text, lang]
    prev.click(on_move(-1), moving, shown)
    next_.click(on_move(+1), moving, shown)
    save.click(on_move(0), moving, shown)
    text.submit(on_move(0), moving, shown)
    lang.input(on_move(0), moving, shown)
    delete.click(on_delete, [dataset, edits_state, index_state], shown)
    undo.click(on_undo, [dataset, edits_state, index_state], shown)
