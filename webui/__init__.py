"""The studio's web UI: thin Gradio tabs over `core`. `build_studio(ctx)` returns the Blocks app."""

from webui.context import StudioContext
from webui.i18n import studio_i18n
from webui.studio import build_studio

__all__ = ["StudioContext", "build_studio", "studio_i18n"]
