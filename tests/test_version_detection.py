"""Version detection: each heuristic on its own, then `detect_version` on real and crafted files."""

from pathlib import Path

import pytest
import torch

from core.checkpoints import ModelVersion, detect_version
from core.checkpoints._io import read_checkpoint, write_checkpoint
from core.checkpoints.version import (
    checkpoint_kind,
    s1_version_from_weights,
    s2_version_from_weights,
    version_from_header,
    version_from_pretrained_hash,
)
from core.errors import CheckpointError

FIXTURE_FILES = [
    "models/pretrained/gsv-v2final-pretrained/s2G2333k.pth",
    "models/pretrained/gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt",
    "models/weights/tiny_v2_e1_s1.pth",
    "models/weights/tiny_v2-e1.ckpt",
]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"00", ModelVersion.V1),
        (b"01", ModelVersion.V2),
        (b"02", ModelVersion.V3),
        (b"03", ModelVersion.V3),
        (b"04", ModelVersion.V4),
        (b"05", ModelVersion.V2PRO),
        (b"06", ModelVersion.V2PROPLUS),
        (b"PK", None),
        (b"99", None),
    ],
)
def test_header_bytes_name_the_version(header: bytes, expected: ModelVersion | None) -> None:
    assert version_from_header(header) is expected


def test_pretrained_hashes_name_the_version() -> None:
    assert version_from_pretrained_hash("6642b37f3dbb1f76882b69937c95a5f3") is ModelVersion.V2
    assert version_from_pretrained_hash("43797be674a37c1c83ee81081941ed0f") is ModelVersion.V3
    assert version_from_pretrained_hash("4f26b9476d0c5033e04162c486074374") is ModelVersion.V4
    assert version_from_pretrained_hash("c7e9fce2223f3db685cdfa1e6368728a") is ModelVersion.V2PRO
    assert version_from_pretrained_hash("66b313e39455b57ab1b0bc0b239c9d0a") is ModelVersion.V2PROPLUS
    assert version_from_pretrained_hash("0" * 32) is None


@pytest.mark.parametrize(("rows", "expected"), [(322, ModelVersion.V1), (732, ModelVersion.V2)])
def test_s2_phone_table_rows_decide_v1_or_v2(rows: int, expected: ModelVersion) -> None:
    weights = {
        "enc_p.text_embedding.weight": torch.empty(rows, 4),
        "dec.conv_pre.weight": torch.empty(8, 4, 7),
    }
    assert s2_version_from_weights(weights) is expected


def test_s2_cfm_keys_mean_v3_unless_config_says_v4() -> None:
    weights = {
        "cfm.estimator.proj.weight": torch.empty(2, 2),
        "enc_p.text_embedding.weight": torch.empty(732, 4),
    }
    assert s2_version_from_weights(weights) is ModelVersion.V3
    assert s2_version_from_weights(weights, {"model": {"version": "v4"}}) is ModelVersion.V4


@pytest.mark.parametrize(("width", "expected"), [(512, ModelVersion.V2PRO), (768, ModelVersion.V2PROPLUS)])
def test_s2_speaker_verification_keys_mean_v2pro(width: int, expected: ModelVersion) -> None:
    weights = {
        "sv_emb.weight": torch.empty(1024, 20480, device="meta"),
        "enc_p.text_embedding.weight": torch.empty(732, 4),
        "dec.conv_pre.weight": torch.empty(width, 192, 7),
    }
    assert s2_version_from_weights(weights) is expected


@pytest.mark.parametrize(("rows", "expected"), [(512, ModelVersion.V1), (732, ModelVersion.V2)])
def test_s1_phone_table_rows_decide_v1_or_v2(rows: int, expected: ModelVersion) -> None:
    weights = {"model.ar_text_embedding.word_embeddings.weight": torch.empty(rows, 4)}
    assert s1_version_from_weights(weights) is expected


def test_checkpoint_kind_tells_gpt_from_sovits() -> None:
    assert checkpoint_kind({"weight": {"model.ar_text_embedding.word_embeddings.weight": 0}}) == "s1"
    assert checkpoint_kind({"weight": {"enc_p.text_embedding.weight": 0}}) == "s2"
    with pytest.raises(CheckpointError, match="neither"):
        checkpoint_kind({"weight": {"encoder.layer.0.weight": 0}})
    with pytest.raises(CheckpointError, match="no 'weight'"):
        checkpoint_kind({"state_dict": {}})


@pytest.mark.parametrize("relative", FIXTURE_FILES)
def test_small_fixture_files_are_v2(conformance_dir: Path, relative: str) -> None:
    # the reference's file-size rule would call these tiny files v1; the weights say v2
    assert detect_version(conformance_dir / relative) is ModelVersion.V2


def test_header_declared_version_wins(conformance_dir: Path, tmp_path: Path) -> None:
    raw = read_checkpoint(conformance_dir / FIXTURE_FILES[2])
    path = tmp_path / "plus.pth"
    write_checkpoint(path, raw.content, header=b"06")

    assert detect_version(path) is ModelVersion.V2PROPLUS


def test_v1_header_is_checked_against_weights(conformance_dir: Path, tmp_path: Path) -> None:
    raw = read_checkpoint(conformance_dir / FIXTURE_FILES[2])
    path = tmp_path / "v1-header.pth"
    write_checkpoint(path, raw.content, header=b"00")

    assert detect_version(path) is ModelVersion.V2


def test_detect_version_of_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        detect_version(tmp_path / "missing.pth")
