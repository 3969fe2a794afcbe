"""Assemble the tabs into one Blocks app."""

from __future__ import annotations

import gradio as gr

from webui import synthesize, text
from webui.context import StudioContext

TITLE = "Timbre — voice studio"


def build_studio(ctx: StudioContext) -> gr.Blocks:
    with gr.Blocks(title=TITLE, analytics_enabled=False) as studio:
        gr.Markdown(f"# {TITLE}")
        with gr.Tab("Synthesize", id="synthesize"):
            synthesize.build(ctx)
        with gr.Tab("Text", id="text"):
            text.build(ctx)
    return studio
