"""Official SoVITS ("s2") `.pth` files: load into `core.models.sovits.SoVITS`, and write the official layout.

Official layout: `{"weight": {name: Tensor}, "config": dict | utils.HParams, "info": str}`. The pretrained
files carry every generator weight (including the training-only posterior encoder `enc_q.*`); fine-tunes
written by the reference's `savee` drop `enc_q.*` and store every tensor in float16.

The mapping between the official names and ours (`official_s2_to_timbre` and its inverse):

* weight-normalised layers (`X.weight_g`, `X.weight_v`) become one `X.weight`, folded exactly as
  `torch.nn.utils.weight_norm` computes it;
* the flow's coupling layers `flow.flows.{0,2,4,6}` (odd indices are parameter-free flips) become
  `flow.couplings.{0,1,2,3}`;
* the codebook `quantizer.vq.layers.{i}._codebook.embed` becomes `quantizer.layers.{i}.embed`;
* dropped by name: `enc_q.*` and the codebook's training statistics (`embed_avg`, `cluster_size`, `inited`).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from core.checkpoints._io import StoredHParams, check_weights, read_checkpoint, write_checkpoint
from core.checkpoints.version import ModelVersion, version_of_checkpoint
from core.errors import CheckpointError
from core.models.modules import fold_weight_norm
from core.models.sovits import SoVITS, SoVITSConfig

SUPPORTED_VERSIONS = (ModelVersion.V2,)

# official keys that inference does not use, dropped by name
_DROPPED_PREFIXES = ("enc_q.",)
_DROPPED_CODEBOOK_STATS = re.compile(
    r"quantizer\.vq\.layers\.\d+\._codebook\.(embed_avg|cluster_size|inited)"
)
# official layers that carry weight norm (weight_g, weight_v), as our (renamed) module paths
_WEIGHT_NORM_LAYERS = re.compile(
    r"dec\.ups\.\d+"
    r"|dec\.resblocks\.\d+\.convs[12]?\.\d+"
    r"|flow\.couplings\.\d+\.enc\.(in_layers\.\d+|res_skip_layers\.\d+|cond_layer)"
)
# the same, plus the posterior encoder's WaveNet (training only)
TRAINING_WEIGHT_NORM_LAYERS = re.compile(
    _WEIGHT_NORM_LAYERS.pattern + r"|enc_q\.enc\.(in_layers\.\d+|res_skip_layers\.\d+|cond_layer)"
)
_FLOW_OFFICIAL = re.compile(r"^flow\.flows\.(\d+)\.")
_FLOW_TIMBRE = re.compile(r"^flow\.couplings\.(\d+)\.")
_CODEBOOK_OFFICIAL = re.compile(r"^quantizer\.vq\.layers\.(\d+)\._codebook\.embed$")
_CODEBOOK_TIMBRE = re.compile(r"^quantizer\.layers\.(\d+)\.embed$")
_HEADERS = {
    ModelVersion.V1: b"PK",
    ModelVersion.V2: b"PK",
    ModelVersion.V2PRO: b"05",
    ModelVersion.V2PROPLUS: b"06",
}


@dataclass(frozen=True)
class LoadedSoVITS:
    """A loaded SoVITS generator (eval mode, float32) with its config, version and the file's `info` text."""

    model: SoVITS
    config: SoVITSConfig
    version: ModelVersion
    info: str


def _rename_official(name: str) -> str:
    flow = _FLOW_OFFICIAL.match(name)
    if flow:
        index = int(flow.group(1))
        if index % 2:
            raise CheckpointError(f"unexpected weight {name!r}: odd flow layers are parameter-free flips")
        return f"flow.couplings.{index // 2}." + name[flow.end() :]
    codebook = _CODEBOOK_OFFICIAL.match(name)
    if codebook:
        return f"quantizer.layers.{codebook.group(1)}.embed"
    return name


def _rename_timbre(name: str) -> str:
    codebook = _CODEBOOK_TIMBRE.match(name)
    if codebook:
        return f"quantizer.vq.layers.{codebook.group(1)}._codebook.embed"
    flow = _FLOW_TIMBRE.match(name)
    return f"flow.flows.{2 * int(flow.group(1))}." + name[flow.end() :] if flow else name


def split_s2_for_training(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Official s2 weights -> (our names with weight norm kept as `weight_g`/`weight_v` and `enc_q` kept, the
    codebook's training statistics under their official names, which training leaves as they are)."""
    renamed: dict[str, Tensor] = {}
    statistics: dict[str, Tensor] = {}
    for name, tensor in state.items():
        if _DROPPED_CODEBOOK_STATS.fullmatch(name):
            statistics[name] = tensor
        else:
            renamed[_rename_official(name)] = tensor
    return renamed, statistics


def join_s2_from_training(state: Mapping[str, Tensor], statistics: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of `split_s2_for_training`: our names (weight norm as `weight_g`/`weight_v`) -> official."""
    out = {_rename_timbre(name): tensor for name, tensor in state.items()}
    out.update(statistics)
    return out


def official_s2_to_timbre(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Official s2 weights -> `SoVITS.state_dict()` names (weight norm folded in float32, training-only
    keys dropped). Tensors other than the folded weights keep their stored dtype."""
    renamed = {
        name: tensor
        for name, tensor in split_s2_for_training(state)[0].items()
        if not name.startswith(_DROPPED_PREFIXES)
    }
    out: dict[str, Tensor] = {}
    for name, tensor in renamed.items():
        if name.endswith(".weight_v"):
            continue
        if name.endswith(".weight_g"):
            layer = name[: -len(".weight_g")]
            weight_v = renamed.get(layer + ".weight_v")
            if weight_v is None:
                raise CheckpointError(f"{layer}: weight_g without weight_v; the file is corrupt")
            out[layer + ".weight"] = fold_weight_norm(tensor.float(), weight_v.float())
            continue
        out[name] = tensor
    orphans = [n for n in renamed if n.endswith(".weight_v") and n[: -len("_v")] + "_g" not in renamed]
    if orphans:
        raise CheckpointError(f"{orphans[0]}: weight_v without weight_g; the file is corrupt")
    return out


def timbre_to_official_s2(state: Mapping[str, Tensor]) -> OrderedDict[str, Tensor]:
    """`SoVITS.state_dict()` -> official s2 names (inverse of `official_s2_to_timbre`, without `enc_q`).

    Weight-normalised layers are written with `weight_g = ||weight||` (per output row) and
    `weight_v = weight`, which fold back to the same weight. The codebook's training statistics, which
    inference never reads, are synthesised: `embed_avg = embed`, `cluster_size = 1`, `inited = 1` (a
    reference loader must see `inited = 1`, or it would re-run k-means on first use).
    """
    out: OrderedDict[str, Tensor] = OrderedDict()
    for name, tensor in state.items():
        codebook = _CODEBOOK_TIMBRE.match(name)
        if codebook:
            prefix = f"quantizer.vq.layers.{codebook.group(1)}._codebook."
            out[prefix + "inited"] = torch.ones(1, dtype=tensor.dtype)
            out[prefix + "cluster_size"] = torch.ones(tensor.shape[0], dtype=tensor.dtype)
            out[prefix + "embed"] = tensor
            out[prefix + "embed_avg"] = tensor.clone()
            continue
        official = _rename_timbre(name)
        layer = name[: -len(".weight")] if name.endswith(".weight") else None
        if layer is not None and _WEIGHT_NORM_LAYERS.fullmatch(layer):
            base = official[: -len(".weight")]
            out[base + ".weight_g"] = torch.norm_except_dim(tensor, 2, 0)
            out[base + ".weight_v"] = tensor
            continue
        out[official] = tensor
    return out


@dataclass(frozen=True)
class StoredSoVITS:
    """An official s2 file as stored: its weights (official names), config and version."""

    weights: Mapping[str, Tensor]
    config: SoVITSConfig
    raw_config: Any
    version: ModelVersion
    info: str
    name: str


def read_sovits(path: str | os.PathLike[str]) -> StoredSoVITS:
    """Read and check an official SoVITS `.pth` without building a model (training starts from this).

    Raises `CheckpointError` for a missing, corrupt or non-GPT-SoVITS file, a GPT (s1) file, an unsupported
    version (only v2 is supported yet), or a file without its config.
    """
    raw = read_checkpoint(path, kind="SoVITS")
    name = raw.path.name
    kind, version = version_of_checkpoint(raw)
    if kind != "s2":
        raise CheckpointError(
            f"{name}: expected an s2 (SoVITS) file, found s1 (GPT) weights; load it in the GPT slot instead"
        )
    if version not in SUPPORTED_VERSIONS:
        raise CheckpointError(
            f"{name}: SoVITS {version.value} models are not supported yet "
            f"(supported: {', '.join(v.value for v in SUPPORTED_VERSIONS)})"
        )
    if "config" not in raw.content:
        raise CheckpointError(f"{name}: the file stores no config; it is not an official SoVITS weights file")
    config = SoVITSConfig.from_checkpoint(raw.content["config"], version=version.value)
    info = str(raw.content.get("info", ""))
    return StoredSoVITS(raw.content["weight"], config, raw.content["config"], version, info, name)


def load_sovits(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> LoadedSoVITS:
    """Load an official SoVITS `.pth` (pretrained or fine-tuned) into a float32 `SoVITS` in eval mode.

    Raises `CheckpointError` for a missing, corrupt or non-GPT-SoVITS file, a GPT (s1) file, an unsupported
    version (only v2 is supported yet), or weights that do not fit the stored config.
    """
    stored = read_sovits(path)
    config, name = stored.config, stored.name
    with torch.device("meta"):  # no random initialisation: every tensor is overwritten by the strict load
        model = SoVITS(config)
    state = official_s2_to_timbre(stored.weights)
    check_weights(state, model.state_dict(), source=name, model="SoVITS")
    model = model.to_empty(device=device)
    model.load_state_dict(state, strict=True)
    model.eval()
    return LoadedSoVITS(model=model, config=config, version=stored.version, info=stored.info)


def save_sovits(
    path: str | os.PathLike[str],
    weights: Mapping[str, Tensor],
    config: Mapping[str, Any] | StoredHParams,
    info: str,
    version: ModelVersion = ModelVersion.V2,
) -> None:
    """Write an official s2 file as the reference's `savee` does, atomically.

    `weights` use the official names (convert a `SoVITS.state_dict()` with `timbre_to_official_s2`); keys
    containing `enc_q` are dropped and every tensor is stored as float16. `config` is stored as given (a dict,
    or a `StoredHParams` written as `utils.HParams`). v2Pro/v2ProPlus files get their version header bytes.
    """
    header = _HEADERS.get(version)
    if header is None:
        raise CheckpointError(f"saving SoVITS {version.value} files is not supported yet")
    half = {
        name: tensor.detach().to("cpu", torch.float16)
        for name, tensor in weights.items()
        if "enc_q" not in name
    }
    content = OrderedDict(weight=half, config=config, info=info)
    write_checkpoint(path, content, header=header)
