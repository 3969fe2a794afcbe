"""Checks shared by the HuggingFace-format models (HuBERT, BERT) before transformers touches a folder."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

from safetensors import SafetensorError

from core.errors import PretrainedMissingError

CONFIG_FILE = "config.json"
# What transformers / safetensors / torch raise for a damaged or foreign weights file.
UNREADABLE: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    KeyError,
    RuntimeError,
    EOFError,
    pickle.UnpicklingError,
    SafetensorError,
)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def require_model_dir(model_dir: Path, what: str, extra_groups: Sequence[Sequence[str]] = ()) -> None:
    """Raise `PretrainedMissingError` unless `model_dir` holds a config, weights and one file of each
    extra group (e.g. a tokenizer), naming what is missing and how to get it."""
    hint = "run `python -m core pretrained download` (or copy the folder there by hand)"
    if not model_dir.is_dir():
        raise PretrainedMissingError(f"{what} not found: no folder {model_dir}; {hint}")
    missing = [] if (model_dir / CONFIG_FILE).is_file() else [CONFIG_FILE]
    for group in (WEIGHT_FILES, *extra_groups):
        if not any((model_dir / name).is_file() for name in group):
            missing.append(" or ".join(group))
    if missing:
        missing_text = ", ".join(missing)
        raise PretrainedMissingError(f"{what} in {model_dir} is incomplete (missing {missing_text}); {hint}")
