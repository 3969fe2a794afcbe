"""Banners at the top of the studio: what became of the share link (its address and when it expires, or why
there is none), and a loud warning when the studio is open to others without a login (the same condition
`app.py` warns about at start)."""

from __future__ import annotations

import time

import gradio as gr

from core.settings import SHARE_LINK_HOURS
from webui.context import StudioContext
from webui.i18n import request_lang, t, translate


def build(ctx: StudioContext, studio: gr.Blocks) -> None:
    """Create the banners that apply to how this studio was started, inside `studio` (the caller's Blocks)."""
    settings = ctx.settings
    if settings.share:
        # Whether gradio got a link is known only after launch(): each page fills the note when it loads.
        expires_at = time.time() + SHARE_LINK_HOURS * 3600  # built moments before launch() asks for the link
        note = gr.Markdown(elem_id="studio-share-note")

        def share_note(request: gr.Request) -> str:
            lang = request_lang(request)
            if not studio.share_url:
                return translate("studio.share_failed", lang)
            expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires_at))
            fields = dict(url=studio.share_url, hours=SHARE_LINK_HOURS, expires=expires)
            return translate("studio.share_expires", lang, **fields)

        studio.load(share_note, outputs=note, show_api=False)
    if settings.open_to_others:
        key = "studio.open_warning_share" if settings.share else "studio.open_warning_host"
        gr.Markdown(t(key), elem_id="studio-open-warning", elem_classes=["timbre-warning"])
