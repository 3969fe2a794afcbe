"""HuggingFace-format models (HuBERT, BERT): folder checks, and a loader that converts as it reads."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from core.errors import PretrainedMissingError
from core.models.precision import LowPrecisionLinear, convert_linears
from core.settings import FP32

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


_MAP_WINDOW = 64 * 2**20
"""Bytes read through one memory map of a weights file before it is reopened (see `_WeightsFile`)."""


def load_model(
    model_class: type, model_dir: Path, config: Any, precision: str = FP32, **model_kwargs: Any
) -> tuple[Any, list[str]]:
    """`model_class.from_pretrained(model_dir)` in float32 (local files only), its `nn.Linear`s in `precision`
    (`core.models.precision`); returns (model, the names of the tensors the weights file lacks).

    fp32 is transformers' own loading, which maps a safetensors file (its pages are the system's to share and
    reclaim). The other modes use `stream_model`, so that the fp32 model is never whole in memory (converting
    a loaded full-size BERT peaked 1.1 GiB above the bf16 result); a file that lacks tensors the model has
    (transformers initialises those at random) takes transformers' path too, so every mode loads the same
    numbers. Raises one of `UNREADABLE` for a damaged file.
    """
    if precision != FP32:
        model = stream_model(model_class, model_dir, config, precision, **model_kwargs)
        if model is not None:
            return model, []
    model, info = model_class.from_pretrained(
        model_dir,
        config=config,
        local_files_only=True,
        dtype=torch.float32,
        output_loading_info=True,
        **model_kwargs,
    )
    return convert_linears(model, precision), list(info["missing_keys"])


def stream_model(
    model_class: type, model_dir: Path, config: Any, precision: str, **model_kwargs: Any
) -> Any | None:
    """The model `model_class.from_pretrained(model_dir)` gives, in eval mode, built without weights and
    filled from the folder's weights file one module at a time, each `nn.Linear` replaced by its
    `LowPrecisionLinear` as soon as its weight is read (fp32: kept); None if the file lacks tensors the
    model has. Raises one of `UNREADABLE` for a damaged file.
    """
    model = _empty_model(model_class, config, **model_kwargs)
    weights = _WeightsFile(next(model_dir / name for name in WEIGHT_FILES if (model_dir / name).is_file()))
    names = _file_names(model, weights.names)
    if len(names) < len(model.state_dict()):
        return None
    _fill(model, weights, names, precision)
    return model.eval()


def _empty_model(model_class: type, config: Any, **model_kwargs: Any) -> nn.Module:
    """`model_class(config)` as `from_pretrained` builds it: parameters on the meta device (no memory, no
    initialisation), buffers real (the non-persistent ones, e.g. BERT's position ids, are not in the file)."""
    from transformers.integrations.accelerate import init_empty_weights
    from transformers.modeling_utils import no_init_weights

    with no_init_weights(), init_empty_weights():
        return model_class(config, **model_kwargs)


def _file_names(model: Any, file_names: Sequence[str]) -> dict[str, str]:
    """The model's tensor name -> the weights file's name for it, for the tensors the file holds, in the
    model's order.

    Uses transformers' own renaming (legacy `LayerNorm.gamma`/`beta`, weight-norm `weight_g`/`weight_v` vs
    `parametrizations.weight.original0/1`) and, as `from_pretrained` does, drops the `bert.`/`hubert.` prefix
    of a file saved from a model with a head (e.g. the MLM checkpoint of chinese-roberta-wwm-ext-large).
    """
    prefix = model.base_model_prefix
    from_task_model = any(name.startswith(prefix) for name in file_names) and not hasattr(model, prefix)
    renamed = model._get_key_renaming_mapping(list(file_names), None, from_task_model, False)
    in_file = {new: old for old, new in renamed.items()}
    return {name: in_file[name] for name in model.state_dict() if name in in_file}


def _fill(model: nn.Module, weights: _WeightsFile, names: dict[str, str], precision: str) -> None:
    """Load every tensor of `model` (built by `_empty_model`) from `weights`, one module at a time, replacing
    each `nn.Linear` by a `LowPrecisionLinear` right after its weight (unless `precision` is fp32)."""
    by_module: dict[str, list[str]] = {}  # module path -> its own tensor names, in the model's order
    for name in names:
        path, _, local = name.rpartition(".")
        by_module.setdefault(path, []).append(local)
    for path, locals_ in by_module.items():
        module = model.get_submodule(path)
        convert = precision != FP32 and isinstance(module, nn.Linear)
        current = dict(module.named_parameters(recurse=False)) | dict(module.named_buffers(recurse=False))
        tensors = {}
        for local in locals_:
            dtype = current[local].dtype if current[local].is_floating_point() else None
            # a converted layer's fp32 tensors live only until it is replaced: no copy needed
            name = names[f"{path}.{local}" if path else local]
            tensors[local] = weights.read(name, dtype, copy=not convert)
        module.load_state_dict(tensors, strict=False, assign=True)  # checks shapes, as from_pretrained does
        if convert:
            parent, _, child = path.rpartition(".")
            setattr(model.get_submodule(parent), child, LowPrecisionLinear(module, precision))
    weights.close()


class _WeightsFile:
    """The tensors of a `model.safetensors` or `pytorch_model.bin`, read one at a time.

    Both formats are read through a memory map of the file, and every page a map has read counts as this
    process's memory until the map is closed: the map is reopened after each `_MAP_WINDOW` bytes, so loading
    never holds more of the file than that. A legacy (not zip-format) `.bin` cannot be mapped; it is read
    whole, once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._safetensors = path.suffix == ".safetensors"
        self._mappable = self._safetensors or zipfile.is_zipfile(path)
        self._tensors: Any = None  # the open safetensors file, or the .bin's state dict
        self._read = 0
        self._open()
        self.names: list[str] = list(self._tensors.keys())

    def _open(self) -> None:
        self._tensors = None  # lets the previous map go first
        if self._safetensors:
            self._tensors = safe_open(self.path, framework="pt")
        else:
            self._tensors = torch.load(self.path, map_location="cpu", mmap=self._mappable, weights_only=True)
        self._read = 0

    def read(self, name: str, dtype: torch.dtype | None, copy: bool = True) -> torch.Tensor:
        """The tensor `name` (in `dtype` if given) as a new tensor, sharing nothing with the file's map; with
        `copy=False` it may be a view of the map, which the caller must drop soon (it keeps the map open)."""
        if self._tensors is None or (self._mappable and self._read >= _MAP_WINDOW):
            self._open()
        tensor = self._tensors.get_tensor(name) if self._safetensors else self._tensors[name]
        self._read += tensor.nbytes
        return tensor.to(dtype or tensor.dtype, copy=copy)

    def close(self) -> None:
        self._tensors = None
