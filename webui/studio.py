"""Assemble the tabs into one Blocks app."""

from __future__ import annotations

import gradio as gr

from webui import dataset, detect, jobs, notices, proofread, synthesize, text, train
from webui.context import StudioContext
from webui.i18n import HEAD, language_switch, t

PAGE_TITLE = "Timbre"  # the browser tab's title; Gradio does not translate it, so it is just the name


def build_studio(ctx: StudioContext) -> gr.Blocks:
    """The studio; launch it with `i18n=studio_i18n()` so its strings show in the browser's language."""
    with gr.Blocks(title=PAGE_TITLE, head=HEAD, analytics_enabled=False) as studio:
        with gr.Row():
            gr.Markdown("# " + t("studio.title"), elem_id="studio-title")
            language_switch(studio)
        notices.build(ctx, studio)
        detect.notice(ctx)
        with gr.Tab(t("studio.tab_synthesize"), id="synthesize"):
            synthesize.build(ctx)
        with gr.Tab(t("studio.tab_dataset"), id="dataset"):
            dataset.build(ctx)
        with gr.Tab(t("studio.tab_proofread"), id="proofread"):
            proofread.build(ctx)
        with gr.Tab(t("studio.tab_train"), id="train"):
            train.build(ctx)
        with gr.Tab(t("studio.tab_jobs"), id="jobs"):
            jobs.build(ctx)
        with gr.Tab(t("studio.tab_text"), id="text"):
            text.build(ctx)
        with gr.Tab(t("studio.tab_detect"), id="detect"):
            detect.build(ctx)
    return studio
