"""Which GPT-SoVITS generation a model file belongs to.

The reference decides this from several clues; each is one small function here, tested on its own:

* `version_from_header` - the two bytes newer savers write over the zip's `PK` (`b"05"` = v2Pro, ...);
* `version_from_pretrained_hash` - the md5 of the first 8192 bytes of the official pretrained files;
* `s1_version_from_weights` / `s2_version_from_weights` - what the weights themselves show (phone-table rows
  322/512 = v1 vs 732 = v2+, CFM keys = v3/v4, speaker-verification projection = v2Pro/v2ProPlus).

The reference's last resort, the file size, is deliberately not used: it misclassifies small files.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import Any, Literal

from core.checkpoints._io import RawCheckpoint, head_md5, read_checkpoint, read_header
from core.errors import CheckpointError


class ModelVersion(enum.Enum):
    """GPT-SoVITS model generations (values are the reference's own names)."""

    V1 = "v1"
    V2 = "v2"
    V2PRO = "v2Pro"
    V2PROPLUS = "v2ProPlus"
    V3 = "v3"
    V4 = "v4"


# header bytes written by the reference's `my_save2` (03/04 are LoRA fine-tunes of v3/v4)
_HEADER_VERSIONS: dict[bytes, ModelVersion] = {
    b"00": ModelVersion.V1,
    b"01": ModelVersion.V2,
    b"02": ModelVersion.V3,
    b"03": ModelVersion.V3,
    b"04": ModelVersion.V4,
    b"05": ModelVersion.V2PRO,
    b"06": ModelVersion.V2PROPLUS,
}

# md5 of the first 8192 bytes of the official pretrained SoVITS files (the reference's table). The v1
# pretrained file is listed as "v2" there too; its phone table (322 rows) then makes it v1.
_PRETRAINED_HASHES: dict[str, ModelVersion] = {
    "dc3c97e17592963677a4a1681f30c653": ModelVersion.V2,  # s2G488k.pth (v1 pretrained; weights say v1)
    "43797be674a37c1c83ee81081941ed0f": ModelVersion.V3,  # s2Gv3.pth
    "6642b37f3dbb1f76882b69937c95a5f3": ModelVersion.V2,  # s2G2333k.pth
    "4f26b9476d0c5033e04162c486074374": ModelVersion.V4,  # s2Gv4.pth
    "c7e9fce2223f3db685cdfa1e6368728a": ModelVersion.V2PRO,  # s2Gv2Pro.pth
    "66b313e39455b57ab1b0bc0b239c9d0a": ModelVersion.V2PROPLUS,  # s2Gv2ProPlus.pth
}

# versions whose file layout is fully decided by a header or hash (no need to read the weights)
_DECLARED_ONLY = {ModelVersion.V3, ModelVersion.V4, ModelVersion.V2PRO, ModelVersion.V2PROPLUS}

S1_PHONE_TABLE_KEY = "model.ar_text_embedding.word_embeddings.weight"
S2_PHONE_TABLE_KEY = "enc_p.text_embedding.weight"
S1_V1_PHONES = 512  # v1 GPT phone vocabulary (v2+: 732)
S2_V1_PHONES = 322  # v1 SoVITS phone table rows (v2+: 732)
S2_CFM_PREFIX = "cfm."  # v3/v4: flow-matching decoder
S2_SV_KEY = "sv_emb.weight"  # v2Pro/v2ProPlus: speaker-verification embedding projection
S2_PROPLUS_UPSAMPLE_CHANNELS = 768  # v2ProPlus widens the vocoder (v2Pro: 512)

ModelKind = Literal["s1", "s2"]


def version_from_header(header: bytes) -> ModelVersion | None:
    """The version named by a file's first two bytes; None for a plain torch zip (`PK`) or unknown bytes."""
    return _HEADER_VERSIONS.get(header)


def version_from_pretrained_hash(md5_hex: str) -> ModelVersion | None:
    """The version of an official pretrained SoVITS file, from the md5 of its first 8192 bytes."""
    return _PRETRAINED_HASHES.get(md5_hex)


def checkpoint_kind(content: Mapping[str, Any]) -> ModelKind:
    """'s1' (GPT, text-to-semantic) or 's2' (SoVITS) from the weight names of an official file's content."""
    weights = content.get("weight")
    if not isinstance(weights, Mapping) or not weights:
        raise CheckpointError(
            "the file has no 'weight' table; it is not a GPT-SoVITS model file "
            "(training checkpoints such as G_*.pth/D_*.pth or Lightning .ckpt files cannot be loaded "
            "directly)"
        )
    names = list(weights)
    if any(name.startswith("model.ar_") or name.startswith("model.h.layers.") for name in names):
        return "s1"
    if any(name.startswith(("enc_p.", "dec.", "ref_enc.", S2_CFM_PREFIX)) for name in names):
        return "s2"
    raise CheckpointError(
        f"the weights ({names[0]!r}, ...) are neither GPT (s1) nor SoVITS (s2) weights; "
        "choose an official GPT-SoVITS model file"
    )


def s1_version_from_weights(weights: Mapping[str, Any]) -> ModelVersion:
    """v1 if the GPT phone embedding has 512 rows, else v2 (v2, v2Pro, v3 and v4 share the s1 layout)."""
    table = weights.get(S1_PHONE_TABLE_KEY)
    if table is None:
        raise CheckpointError(f"GPT weights lack {S1_PHONE_TABLE_KEY!r}; the file is incomplete or corrupt")
    return ModelVersion.V1 if table.shape[0] == S1_V1_PHONES else ModelVersion.V2


def s2_version_from_weights(
    weights: Mapping[str, Any], config: Mapping[str, Any] | Any = None
) -> ModelVersion:
    """What SoVITS weights show: CFM keys -> v3/v4 (v4 when the config says so), speaker-verification keys ->
    v2Pro/v2ProPlus (by vocoder width), else the phone table: 322 rows -> v1, otherwise v2."""
    if any(name.startswith(S2_CFM_PREFIX) for name in weights):
        return ModelVersion.V4 if _config_model_version(config) == "v4" else ModelVersion.V3
    if S2_SV_KEY in weights:
        conv_pre = weights.get("dec.conv_pre.weight")
        wide = conv_pre is not None and conv_pre.shape[0] == S2_PROPLUS_UPSAMPLE_CHANNELS
        return ModelVersion.V2PROPLUS if wide else ModelVersion.V2PRO
    table = weights.get(S2_PHONE_TABLE_KEY)
    if table is None:
        raise CheckpointError(
            f"SoVITS weights lack {S2_PHONE_TABLE_KEY!r}; the file is incomplete or corrupt"
        )
    return ModelVersion.V1 if table.shape[0] == S2_V1_PHONES else ModelVersion.V2


def version_of_checkpoint(raw: RawCheckpoint) -> tuple[ModelKind, ModelVersion]:
    """Kind and version of an already-read file: header bytes, then the weights (no hash here)."""
    kind = checkpoint_kind(raw.content)
    weights = raw.content["weight"]
    if kind == "s1":
        return kind, s1_version_from_weights(weights)
    declared = version_from_header(raw.header)
    if declared in _DECLARED_ONLY:
        return kind, declared
    return kind, s2_version_from_weights(weights, raw.content.get("config"))


def detect_version(path: str | os.PathLike[str]) -> ModelVersion:
    """The GPT-SoVITS generation of an s1 (`.ckpt`) or s2 (`.pth`) file.

    Order as in the reference: pretrained hash, header bytes (both final for v3/v4/v2Pro/v2ProPlus), then the
    weights. Raises `CheckpointError` for a missing or unreadable file.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"model file not found: {path}; check the path or choose another file")
    for declared in (version_from_pretrained_hash(head_md5(path)), version_from_header(read_header(path))):
        if declared in _DECLARED_ONLY:
            return declared
    return version_of_checkpoint(read_checkpoint(path))[1]


def _config_model_version(config: Any) -> str | None:
    try:
        return config["model"]["version"]
    except (KeyError, TypeError):
        return None
