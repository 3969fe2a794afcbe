"""Official GPT-SoVITS s1 (GPT / T2S) checkpoints: read, map to Timbre's `T2SModel`, write back.

An s1 `.ckpt` is a torch zip holding a plain dict `{"weight": {"model.<name>": tensor}, "config": dict,
"info": str}`; the pretrained files and the half-precision saves of `s1_train.py` share this layout
(weights fp16 or fp32). Plain dicts and tensors only, so files are read with `weights_only=True`.
"""

import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.checkpoints._io import check_weights, read_checkpoint, write_checkpoint
from core.checkpoints.version import ModelVersion, s1_version_from_weights, version_of_checkpoint
from core.errors import CheckpointError
from core.models.t2s import T2SConfig, T2SModel

OFFICIAL_PREFIX = "model."
"""Every weight key of an s1 file starts with this (the Lightning module's attribute name)."""

# (official name after the prefix, Timbre name); `{i}` is a layer index.
_RENAMES: tuple[tuple[str, str], ...] = (
    ("bert_proj.weight", "bert_proj.weight"),
    ("bert_proj.bias", "bert_proj.bias"),
    ("ar_text_embedding.word_embeddings.weight", "text_embedding.weight"),
    ("ar_text_position.alpha", "text_position.alpha"),
    ("ar_audio_embedding.word_embeddings.weight", "audio_embedding.weight"),
    ("ar_audio_position.alpha", "audio_position.alpha"),
    ("h.layers.{i}.self_attn.in_proj_weight", "layers.{i}.attn.qkv.weight"),
    ("h.layers.{i}.self_attn.in_proj_bias", "layers.{i}.attn.qkv.bias"),
    ("h.layers.{i}.self_attn.out_proj.weight", "layers.{i}.attn.out.weight"),
    ("h.layers.{i}.self_attn.out_proj.bias", "layers.{i}.attn.out.bias"),
    ("h.layers.{i}.linear1.weight", "layers.{i}.mlp.fc1.weight"),
    ("h.layers.{i}.linear1.bias", "layers.{i}.mlp.fc1.bias"),
    ("h.layers.{i}.linear2.weight", "layers.{i}.mlp.fc2.weight"),
    ("h.layers.{i}.linear2.bias", "layers.{i}.mlp.fc2.bias"),
    ("h.layers.{i}.norm1.weight", "layers.{i}.norm1.weight"),
    ("h.layers.{i}.norm1.bias", "layers.{i}.norm1.bias"),
    ("h.layers.{i}.norm2.weight", "layers.{i}.norm2.weight"),
    ("h.layers.{i}.norm2.bias", "layers.{i}.norm2.bias"),
    ("ar_predict_layer.weight", "lm_head.weight"),
)


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(template).replace(r"\{i\}", r"(\d+)") + "$")


def _rename(name: str, table: tuple[tuple[str, str], ...], source: int) -> str | None:
    for pair in table:
        match = _pattern(pair[source]).match(name)
        if match:
            target = pair[1 - source]
            return target.replace("{i}", match.group(1)) if match.groups() else target
    return None


def official_s1_to_timbre(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename official s1 weight keys (`model.h.layers.0.self_attn.in_proj_weight`, ...) to Timbre's.

    Raises CheckpointError if a key lacks the `model.` prefix or has no known counterpart.
    """
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in state.items():
        name = _rename(key[len(OFFICIAL_PREFIX) :], _RENAMES, 0) if key.startswith(OFFICIAL_PREFIX) else None
        if name is None:
            unknown.append(key)
        else:
            out[name] = tensor
    if unknown:
        raise CheckpointError(
            f"s1 weights: unexpected keys {unknown[:5]}{' ...' if len(unknown) > 5 else ''}"
        )
    return out


def timbre_to_official_s1(state: dict[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """Inverse of `official_s1_to_timbre`: Timbre keys -> `model.`-prefixed official keys (same order)."""
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, tensor in state.items():
        name = _rename(key, _RENAMES, 1)
        if name is None:
            raise CheckpointError(f"T2S state: key {key!r} has no official s1 name")
        out[OFFICIAL_PREFIX + name] = tensor
    return out


@dataclass
class LoadedT2S:
    """A T2S model ready for inference, and what its file said about itself.

    version: V1 (512-phone vocabulary) or V2 (v2 symbols; v2Pro/v3/v4 SoVITS models use a v2 GPT too).
    raw_config: the whole stored config dict (training sections included), for saving it back.
    """

    model: T2SModel
    config: T2SConfig
    info: str
    version: ModelVersion
    raw_config: dict[str, Any]


def read_t2s(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The content of an official s1 (GPT) file, read and checked without building a model;
    `CheckpointError` naming what the file is when it is not one."""
    raw = read_checkpoint(path, kind="GPT")
    content = raw.content
    if "weight" not in content and "state_dict" in content:
        raise CheckpointError(
            f"{raw.path.name}: a Lightning training checkpoint; load the exported half-precision file "
            "(GPT_weights*/<name>-e<N>.ckpt) instead"
        )
    kind, version = version_of_checkpoint(raw)
    if kind == "s2":
        raise CheckpointError(
            f"{raw.path.name}: this is a SoVITS {version.value} (s2) file, not a GPT (s1) .ckpt; "
            "load it in the SoVITS slot instead"
        )
    if not isinstance(content.get("config"), dict):
        found = sorted(content)
        raise CheckpointError(f"{raw.path.name}: expected keys 'weight' and 'config', found {found}")
    return content


def load_t2s(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> LoadedT2S:
    """Read an official s1 `.ckpt` into a float32 `T2SModel` in eval mode on `device`.

    Raises CheckpointError for a missing, corrupt or foreign file (an s2 file says to use the SoVITS
    slot), an unknown config, or weights that do not match the config (missing/unexpected keys, shapes).
    """
    path = Path(path)
    data = read_t2s(path)
    raw_config = data["config"]
    config = T2SConfig.from_checkpoint(raw_config)
    state = official_s1_to_timbre(data["weight"])
    model = T2SModel(config)
    check_weights(state, model.state_dict(), source=path.name, model="GPT (T2S)")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    model.eval().to(device)
    info = data.get("info")
    return LoadedT2S(
        model=model,
        config=config,
        info=str(info) if info is not None else "",
        version=s1_version_from_weights(data["weight"]),
        raw_config=raw_config,
    )


def save_t2s(
    model: T2SModel,
    config: T2SConfig | dict[str, Any],
    path: str | os.PathLike[str],
    info: str,
    *,
    half: bool = True,
) -> Path:
    """Write `model` as an official s1 `.ckpt` (what `s1_train.py` exports), atomically.

    `config` is either the full stored-config dict to embed (e.g. `LoadedT2S.raw_config` or the training
    config; its model section must describe `model`) or a `T2SConfig` (a minimal dict is written).
    Weights are saved fp16 when `half` (as GPT-SoVITS does), else in their dtype. Returns the path.
    """
    path = Path(path)
    if isinstance(config, T2SConfig):
        stored = config.to_checkpoint()
    else:
        stored = config
    if T2SConfig.from_checkpoint(stored) != model.config:
        raise CheckpointError("save_t2s: the config to store does not describe this model's sizes")
    weights = timbre_to_official_s1(
        {k: (v.detach().half() if half else v.detach()).cpu() for k, v in model.state_dict().items()}
    )
    write_checkpoint(path, OrderedDict(weight=weights, config=stored, info=info))
    return path
