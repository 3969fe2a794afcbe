"""Proofread tab: page through a dataset's clips (in list order, by lowest ASR confidence, or by duration),
hear each one, fix its transcript and language, delete it, merge it with the next, split it at a time,
search and replace across the set, undo and redo. Every change is written to the `.list` at once
(atomically); the phones the text frontend will train on are shown for the current text, so a wrong reading
is seen before training. A check lists the problems training would meet, with one-click fixes (drop the
line, or go to it)."""

from __future__ import annotations

import gradio as gr

from core.data.listfile import LANGUAGE_CODES, audio_path
from core.data.proofread import (
    SORT_KEYS,
    ListEdits,
    datasets_with_lists,
    list_path,
    review_scores,
    view_order,
)
from core.data.validate import DatasetProblem, relocate, validate_entries
from core.errors import TimbreError
from core.features import clean_line
from core.text import check_text_length, text_to_phones
from webui.context import StudioContext
from webui.dataset import LIST_LANGS
from webui.i18n import error, request_lang, t, translate, user_errors

SPLIT_MARK = "|"  # where the user cuts the transcript for a split (a `.list` text cannot hold it otherwise)
PROBLEM_COLUMNS = ("proof.column_line", "proof.column_severity", "proof.column_problem", "proof.column_fix")
_DROP_COLUMN = 3  # clicking this column of a problem drops its line; any other column goes to the line
SORT_LABELS = {
    "file": "proof.sort_file",
    "confidence": "proof.sort_confidence",
    "shortest": "proof.sort_shortest",
    "longest": "proof.sort_longest",
}
SEVERITY_LABELS = {"error": "proof.severity_error", "warning": "proof.severity_warning"}


def phones_of(ctx: StudioContext, text: str, lang_column: str) -> str:
    """The phones the frontend reads for `text`, or why it cannot read it (shown beside the text)."""
    language = LANGUAGE_CODES.get(lang_column)
    if not text.strip() or language is None:
        return ""
    try:
        check_text_length(text, ctx.settings.max_text_chars)  # a request's bound: long texts take minutes
        result = text_to_phones(text, language, user_dict=ctx.user_dictionary(), g2pw=ctx.models.g2pw())
    except TimbreError as exc:
        return str(exc)
    return " ".join(result.phones)


def load(ctx: StudioContext, name: str) -> ListEdits:
    """The `.list` of dataset `name`, fresh from disk, with no edits to undo. Lines that cannot be parsed
    are named in a warning: the first save drops them."""
    edits, problems = ListEdits.read(list_path(ctx.workspace, name))
    if problems:
        gr.Warning("; ".join(map(str, problems)))
    return edits


def order_of(ctx: StudioContext, name: str, edits: ListEdits, sort_by: str | None) -> list[int]:
    """Indices of the clips in the order the tab pages through them."""
    path = list_path(ctx.workspace, name)
    by = sort_by if sort_by in SORT_KEYS else "file"
    confidence = review_scores(path, edits.entries) if by == "confidence" else {}
    return view_order(edits.entries, by, path.parent, confidence)


def view(
    ctx: StudioContext,
    name: str,
    edits: ListEdits | None,
    index: int,
    lang_ui: str,
    sort_by: str | None = "file",
) -> tuple:
    """(edits, index, position, player, text, language, phones) for clip `index` (clamped to the list)."""
    if edits is None or not edits.entries:
        return edits, 0, translate("proof.empty", lang_ui), None, "", None, ""
    index = max(0, min(index, len(edits.entries) - 1))
    entry = edits.entries[index]
    wav = audio_path(entry, None, list_path(ctx.workspace, name).parent)
    with user_errors(lang_ui):
        place = order_of(ctx, name, edits, sort_by).index(index)
    position = translate("proof.position", lang_ui, index=place + 1, total=len(edits.entries))
    position += f" `{wav.name}`"
    player = str(wav) if wav.is_file() else None
    return edits, index, position, player, entry.text, entry.lang, phones_of(ctx, entry.text, entry.lang)


def problem_rows(problems: list[DatasetProblem], lang_ui: str) -> dict:
    """The check's table: line, severity, reason, and the fix cell (drop) for problems on a line."""
    rows = [
        [
            "" if p.line_no is None else str(p.line_no),
            translate(SEVERITY_LABELS[p.severity], lang_ui),
            p.reason,
            "" if p.line_no is None else translate("proof.fix_drop", lang_ui),
        ]
        for p in problems
    ]
    return {"headers": [translate(key, lang_ui) for key in PROBLEM_COLUMNS], "data": rows}


def no_problems(request: gr.Request | None = None) -> dict:
    """The check's table before any check, headed in the page's language."""
    return problem_rows([], request_lang(request))


def sort_choices(request: gr.Request | None = None) -> dict:
    """The sort dropdown's choices named in the page's language (an update: the label stays as built)."""
    lang_ui = request_lang(request)
    return gr.update(choices=[(translate(SORT_LABELS[key], lang_ui), key) for key in SORT_KEYS])


def check_summary(problems: list[DatasetProblem], lang_ui: str) -> str:
    errors = sum(p.blocking for p in problems)
    if not problems:
        return translate("proof.check_clean", lang_ui)
    return translate("proof.check_found", lang_ui, errors=errors, warnings=len(problems) - errors)


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
        sort = gr.Dropdown(
            sort_choices(None)["choices"],  # named again in the page's language as it loads (below)
            value="file",
            label=t("proof.sort"),
            elem_id="proof-sort",
            scale=0,
            min_width=220,
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
        redo = gr.Button(t("proof.redo"), elem_id="proof-redo")
    with gr.Row():
        merge = gr.Button(t("proof.merge"), elem_id="proof-merge")
        split_at = gr.Number(
            label=t("proof.split_at"), info=t("proof.split_info"), minimum=0, elem_id="proof-split-at"
        )
        split = gr.Button(t("proof.split"), elem_id="proof-split")
    with gr.Row():
        find = gr.Textbox(label=t("proof.find"), elem_id="proof-find")
        replacement = gr.Textbox(label=t("proof.replace_with"), elem_id="proof-replacement")
        replace_all = gr.Button(t("proof.replace_all"), scale=0, elem_id="proof-replace-all")
    status = gr.Markdown(elem_id="proof-status")
    with gr.Accordion(t("proof.check_title"), open=False):
        check = gr.Button(t("proof.check"), elem_id="proof-check")
        summary = gr.Markdown(elem_id="proof-check-summary")
        problems_table = gr.Dataframe(
            value=no_problems,
            interactive=False,
            wrap=True,
            elem_id="proof-problems",
        )
    # Gradio's frontend translates labels but not a dropdown's choices: the server names them per page.
    page = gr.context.Context.root_block
    if page is not None:
        page.load(sort_choices, None, sort)
    edits_state = gr.State(None)
    index_state = gr.State(0)
    problems_state = gr.State([])
    loaded_state = gr.State(None)  # the dataset the edits are of
    shown = [edits_state, index_state, position, player, text, lang, phones]

    def apply(name: str, edits: ListEdits | None, index: int, text_value: str, lang_value: str, lang_ui: str):
        """The edits with the boxes' text and language applied to clip `index`, saved if they changed."""
        if edits is None or not edits.entries:
            return edits
        with user_errors(lang_ui):
            changed = edits.edit(index, text=text_value or "", lang=lang_value or edits.entries[index].lang)
            if changed is not edits:
                changed = changed.save(list_path(ctx.workspace, name))
        return changed

    def on_dataset(request: gr.Request, name: str | None, loaded: str | None, edits, sort_by):
        lang_ui = request_lang(request)
        if name and name == loaded and edits is not None:
            return (*[gr.skip()] * len(shown), loaded)  # the same dataset again: keep what is being typed
        if not name:
            return (*view(ctx, "", None, 0, lang_ui, sort_by), None)
        with user_errors(lang_ui):
            edits = load(ctx, name)
            first = order_of(ctx, name, edits, sort_by)[:1] or [0]
            return (*view(ctx, name, edits, first[0], lang_ui, sort_by), name)

    def on_move(step: int):
        def handler(request: gr.Request, name, edits, index, text_value, lang_value, sort_by):
            lang_ui = request_lang(request)
            if edits is None or not edits.entries:
                return view(ctx, name, edits, index, lang_ui, sort_by)
            with user_errors(lang_ui):  # the order as the user saw it: an edit may move this clip in it
                order = order_of(ctx, name, edits, sort_by)
            place = max(0, min(order.index(index) + step, len(order) - 1))
            edits = apply(name, edits, index, text_value, lang_value, lang_ui)
            return view(ctx, name, edits, order[place], lang_ui, sort_by)

        return handler

    def change(operation):
        """A handler that applies the boxes, makes one change to the list, saves it and shows a clip:
        `operation(edits, index, name, sort_by) -> (edits, index of the clip to show)`. When the change
        cannot be made, the boxes' edit (already saved) is kept and the reason shown."""

        def handler(request: gr.Request, name, edits, index, text_value, lang_value, sort_by):
            lang_ui = request_lang(request)
            if edits is None or not edits.entries:
                return view(ctx, name, edits, index, lang_ui, sort_by)
            applied = apply(name, edits, index, text_value, lang_value, lang_ui)
            try:
                done, show = operation(applied, index, name, sort_by)
                if done is not applied:
                    done = done.save(list_path(ctx.workspace, name))
            except TimbreError as exc:
                gr.Warning(str(exc))
                return view(ctx, name, applied, index, lang_ui, sort_by)
            return view(ctx, name, done, show, lang_ui, sort_by)

        return handler

    def list_dir(name: str):
        return list_path(ctx.workspace, name).parent

    def delete_clip(edits: ListEdits, index: int, name: str, sort_by: str):
        """Delete clip `index`; show the clip that takes its place in the order (the last: the one before)."""
        place = order_of(ctx, name, edits, sort_by).index(index)
        edits = edits.delete(index)
        order = order_of(ctx, name, edits, sort_by)
        return edits, (order[min(place, len(order) - 1)] if order else 0)

    def merge_clip(edits: ListEdits, index: int, name: str, sort_by: str):
        return edits.merge_next(index, list_dir(name)), index

    def on_split(request: gr.Request, name, edits, index, text_value, lang_value, sort_by, seconds):
        lang_ui = request_lang(request)
        if seconds is None:
            raise error("proof.split_need_time", lang_ui)
        at_char = text_value.find(SPLIT_MARK) if text_value else -1
        text_value = text_value.replace(SPLIT_MARK, "", 1) if at_char >= 0 else text_value
        # the text is cleaned when applied: count the mark's place in the cleaned text before it
        at = None if at_char < 0 else len(" ".join(text_value[:at_char].split()))

        def operation(e: ListEdits, i: int, name: str, sort_by: str):
            return e.split(i, float(seconds), list_dir(name), at_char=at), i

        return change(operation)(request, name, edits, index, text_value, lang_value, sort_by)

    def on_history(redoing: bool):
        def handler(request: gr.Request, name, edits, index, sort_by):
            lang_ui = request_lang(request)
            possible = edits is not None and (edits.can_redo if redoing else edits.can_undo)
            if not possible:
                gr.Info(translate("proof.nothing_to_redo" if redoing else "proof.nothing_to_undo", lang_ui))
                return view(ctx, name, edits, index, lang_ui, sort_by)
            edits, touched = edits.redo() if redoing else edits.undo()
            with user_errors(lang_ui):
                edits = edits.save(list_path(ctx.workspace, name))
            return view(ctx, name, edits, touched, lang_ui, sort_by)

        return handler

    def on_replace(request: gr.Request, name, edits, index, text_value, lang_value, sort_by, find_value, new):
        lang_ui = request_lang(request)
        counted = []

        def operation(e: ListEdits, i: int, name: str, sort_by: str):
            done, count = e.replace_all(find_value or "", new or "")
            counted.append(count)
            return done, i

        result = change(operation)(request, name, edits, index, text_value, lang_value, sort_by)
        return (*result, translate("proof.replaced", lang_ui, count=counted[0] if counted else 0))

    def on_sort(request: gr.Request, name, edits, sort_by):
        lang_ui = request_lang(request)
        if edits is None or not edits.entries:
            return view(ctx, name, edits, 0, lang_ui, sort_by)
        with user_errors(lang_ui):
            first = order_of(ctx, name, edits, sort_by)[0]
        return view(ctx, name, edits, first, lang_ui, sort_by)

    def on_check(request: gr.Request, name, edits):
        lang_ui = request_lang(request)
        if edits is None:
            return [], problem_rows([], lang_ui), translate("proof.empty", lang_ui)
        g2pw = ctx.models.g2pw()

        def read_text(text_value: str, language: str) -> object:
            return clean_line(text_value, language, g2pw=g2pw)

        with user_errors(lang_ui):
            problems = validate_entries(list_path(ctx.workspace, name), edits.entries, read_text=read_text)
        return problems, problem_rows(problems, lang_ui), check_summary(problems, lang_ui)

    def on_fix(
        request: gr.Request,
        name,
        edits,
        index,
        text_value,
        lang_value,
        sort_by,
        problems,
        event: gr.SelectData,
    ):
        lang_ui = request_lang(request)
        row, column = event.index if isinstance(event.index, list | tuple) else (event.index, 0)
        unchanged = (*[gr.skip()] * len(shown), gr.skip(), gr.skip(), gr.skip())
        if not 0 <= row < len(problems) or problems[row].line is None or edits is None:
            return unchanged
        edits = apply(name, edits, index, text_value, lang_value, lang_ui)  # what is being typed is kept
        target = edits.find(problems[row].line)
        if target is None:
            gr.Info(translate("proof.fix_stale", lang_ui))
            return (*view(ctx, name, edits, index, lang_ui, sort_by), gr.skip(), gr.skip(), gr.skip())
        if column != _DROP_COLUMN:
            return (*view(ctx, name, edits, target, lang_ui, sort_by), gr.skip(), gr.skip(), gr.skip())
        edits = edits.delete(target)
        with user_errors(lang_ui):
            edits = edits.save(list_path(ctx.workspace, name))
        left = relocate(problems, edits.entries)
        shown_now = view(ctx, name, edits, target, lang_ui, sort_by)
        return (*shown_now, left, problem_rows(left, lang_ui), check_summary(left, lang_ui))

    def on_refresh():
        return gr.Dropdown(choices=datasets_with_lists(ctx.workspace))

    refresh.click(on_refresh, None, dataset)
    dataset.change(on_dataset, [dataset, loaded_state, edits_state, sort], [*shown, loaded_state])
    moving = [dataset, edits_state, index_state, text, lang, sort]
    prev.click(on_move(-1), moving, shown)
    next_.click(on_move(+1), moving, shown)
    save.click(on_move(0), moving, shown)
    text.submit(on_move(0), moving, shown)
    lang.input(on_move(0), moving, shown)
    delete.click(change(delete_clip), moving, shown)
    merge.click(change(merge_clip), moving, shown)
    split.click(on_split, [*moving, split_at], shown)
    undo.click(on_history(False), [dataset, edits_state, index_state, sort], shown)
    redo.click(on_history(True), [dataset, edits_state, index_state, sort], shown)
    replace_all.click(on_replace, [*moving, find, replacement], [*shown, status])
    sort.input(on_sort, [dataset, edits_state, sort], shown)
    check.click(on_check, [dataset, edits_state], [problems_state, problems_table, summary])
    problems_table.select(
        on_fix,
        [*moving, problems_state],
        [*shown, problems_state, problems_table, summary],
    )
