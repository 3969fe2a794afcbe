"""Timbre core: the library behind the studio, the HTTP API and the CLI.

Nothing here imports gradio or reads the environment at import time; callers pass settings in.
"""

from core.errors import TimbreError

__all__ = ["TimbreError"]
