"""Banners at the top of the studio: how long a share link lives, and a loud warning when the studio is open
to others without a login (the same condition `app.py` warns about at start)."""

from __future__ import annotations

import gradio as gr

from webui.context import StudioContext
from webui.i18n import t


def build(ctx: StudioContext) -> None:
    """Create the banners that apply to how this studio was started, inside the caller's Blocks."""
    settings = ctx.settings
    if settings.share:
        gr.Markdown(t("studio.share_expires"), elem_id="studio-share-note")
    if settings.open_to_others:
        key = "studio.open_warning_share" if settings.share else "studio.open_warning_host"
        gr.Markdown(t(key), elem_id="studio-open-warning", elem_classes=["timbre-warning"])
