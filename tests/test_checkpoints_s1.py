"""Official s1 (GPT) checkpoints: strict loading, bit-exact round trips, clear errors for wrong files."""

import copy
import json
import zipfile
from pathlib import Path

import pytest
import torch

from core.checkpoints.s1 import load_t2s, official_s1_to_timbre, save_t2s, timbre_to_official_s1
from core.checkpoints.version import ModelVersion
from core.errors import CheckpointError
from core.models.t2s import T2SConfig, T2SModel

PRETRAINED = "models/pretrained/gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"
FINETUNED = "models/weights/tiny_v2-e1.ckpt"
S2_FILES = ["models/pretrained/gsv-v2final-pretrained/s2G2333k.pth", "models/weights/tiny_v2_e1_s1.pth"]


def _official(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("rel", [PRETRAINED, FINETUNED])
def test_official_s1_loads_strictly_with_sizes_from_its_config(conformance_dir: Path, rel: str) -> None:
    path = conformance_dir / rel
    stored = _official(path)
    loaded = load_t2s(path)
    model_cfg = stored["config"]["model"]
    assert loaded.config.hidden_dim == model_cfg["hidden_dim"]
    assert loaded.config.n_layer == model_cfg["n_layer"]
    assert loaded.config.n_head == model_cfg["head"]
    assert loaded.config.phoneme_vocab_size == model_cfg["phoneme_vocab_size"]
    assert loaded.config.early_stop_num == 50 * stored["config"]["data"]["max_sec"]
    assert loaded.info == stored["info"]
    assert loaded.version is ModelVersion.V2
    assert loaded.raw_config == stored["config"]
    assert not loaded.model.training
    state = loaded.model.state_dict()
    assert len(state) == len(stored["weight"])
    for key, tensor in official_s1_to_timbre(stored["weight"]).items():
        assert state[key].dtype == torch.float32
        assert torch.equal(state[key], tensor.float()), key


@pytest.mark.parametrize("rel", [PRETRAINED, FINETUNED])
def test_official_s1_round_trips_bit_exact(conformance_dir: Path, tmp_path: Path, rel: str) -> None:
    path = conformance_dir / rel
    loaded = load_t2s(path)
    out = save_t2s(loaded.model, loaded.raw_config, tmp_path / "copy.ckpt", loaded.info)
    original, written = _official(path), _official(out)
    assert set(written) == {"weight", "config", "info"}
    assert written["config"] == original["config"] and written["info"] == original["info"]
    assert list(written["weight"]) == list(original["weight"])
    for key, tensor in original["weight"].items():
        assert written["weight"][key].dtype == tensor.dtype
        assert torch.equal(written["weight"][key], tensor), key
    assert not [p for p in tmp_path.iterdir() if p.name != "copy.ckpt"], "temporary file left behind"


def test_key_mapping_is_invertible(conformance_dir: Path) -> None:
    weight = _official(conformance_dir / PRETRAINED)["weight"]
    assert list(timbre_to_official_s1(official_s1_to_timbre(weight))) == list(weight)


def test_other_sizes_build_save_and_reload_identically(tmp_path: Path) -> None:
    config = T2SConfig(
        embedding_dim=24, hidden_dim=24, n_head=3, n_layer=3, vocab_size=97, phoneme_vocab_size=512, eos=96
    )
    torch.manual_seed(0)
    model = T2SModel(config).eval()
    path = save_t2s(model, config, tmp_path / "small.ckpt", "small", half=False)
    loaded = load_t2s(path)
    assert loaded.config == config and loaded.version is ModelVersion.V1
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], tensor)
    phones = [torch.randint(0, 50, (9,)), torch.randint(0, 50, (5,))]
    bert = [torch.randn(1024, 9), torch.randn(1024, 5)]
    prompt = torch.randint(0, 96, (1, 7))
    kwargs = dict(top_k=1, max_steps=20)
    a = model.generate(phones, bert, prompt, **kwargs)
    b = loaded.model.generate(phones, bert, prompt, **kwargs)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_unknown_config_key_is_rejected(conformance_dir: Path) -> None:
    cfg = json.loads(json.dumps(_official(conformance_dir / PRETRAINED)["config"]))
    cfg["model"]["n_kv_heads"] = 2
    with pytest.raises(CheckpointError, match="n_kv_heads"):
        T2SConfig.from_checkpoint(cfg)
    cfg = json.loads(json.dumps(_official(conformance_dir / PRETRAINED)["config"]))
    del cfg["model"]["head"]
    with pytest.raises(CheckpointError, match="head"):
        T2SConfig.from_checkpoint(cfg)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_t2s(tmp_path / "nope.ckpt")


def test_non_zip_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "text.ckpt"
    path.write_text("hello, I am not a checkpoint")
    with pytest.raises(CheckpointError, match="not a GPT-SoVITS GPT file"):
        load_t2s(path)


def test_truncated_file_is_reported(conformance_dir: Path, tmp_path: Path) -> None:
    data = (conformance_dir / PRETRAINED).read_bytes()
    path = tmp_path / "cut.ckpt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.ckpt"):
        load_t2s(path)


@pytest.mark.parametrize("rel", S2_FILES)
def test_s2_file_given_as_s1_points_to_the_sovits_slot(conformance_dir: Path, rel: str) -> None:
    with pytest.raises(CheckpointError, match="SoVITS slot"):
        load_t2s(conformance_dir / rel)


def test_sovits_v4_header_is_recognised(conformance_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "v4.pth"
    path.write_bytes(b"04" + (conformance_dir / S2_FILES[0]).read_bytes()[2:])
    with pytest.raises(CheckpointError, match="SoVITS v4"):
        load_t2s(path)


def test_missing_weight_is_reported_by_name(conformance_dir: Path, tmp_path: Path) -> None:
    stored = _official(conformance_dir / PRETRAINED)
    del stored["weight"]["model.h.layers.1.norm2.bias"]
    path = tmp_path / "missing.ckpt"
    torch.save(stored, path)
    with pytest.raises(CheckpointError, match=r"layers\.1\.norm2\.bias"):
        load_t2s(path)


def test_weight_of_wrong_shape_is_reported(conformance_dir: Path, tmp_path: Path) -> None:
    stored = _official(conformance_dir / PRETRAINED)
    stored["config"]["model"]["phoneme_vocab_size"] += 1
    path = tmp_path / "shape.ckpt"
    torch.save(stored, path)
    with pytest.raises(CheckpointError, match="text_embedding"):
        load_t2s(path)


def test_foreign_key_is_rejected(conformance_dir: Path, tmp_path: Path) -> None:
    stored = _official(conformance_dir / PRETRAINED)
    stored["weight"]["model.extra_head.weight"] = torch.zeros(2)
    path = tmp_path / "extra.ckpt"
    torch.save(stored, path)
    with pytest.raises(CheckpointError, match="extra_head"):
        load_t2s(path)


def test_saving_a_mismatched_config_is_refused(conformance_dir: Path, tmp_path: Path) -> None:
    loaded = load_t2s(conformance_dir / PRETRAINED)
    cfg = json.loads(json.dumps(loaded.raw_config))
    cfg["model"]["n_layer"] += 1
    with pytest.raises(CheckpointError):
        save_t2s(loaded.model, cfg, tmp_path / "bad.ckpt", "x")
    assert not (tmp_path / "bad.ckpt").exists()


def test_checkpoint_is_a_plain_zip_readable_with_weights_only(conformance_dir: Path, tmp_path: Path) -> None:
    loaded = load_t2s(conformance_dir / FINETUNED)
    path = save_t2s(loaded.model, loaded.config, tmp_path / "plain.ckpt", "GPT-e2")
    assert path.read_bytes()[:2] == b"PK" and zipfile.is_zipfile(path)
    stored = torch.load(path, map_location="cpu", weights_only=True)
    assert stored["info"] == "GPT-e2" and stored["config"]["model"]["hidden_dim"] == loaded.config.hidden_dim


@pytest.mark.parametrize(
    ("section", "key", "value"), [("model", "n_layer", "abc"), ("model", "head", 2.5), ("data", None, [1])]
)
def test_config_with_values_of_the_wrong_type_is_a_clear_error(conformance_dir: Path, section, key, value):
    config = copy.deepcopy(_official(conformance_dir / PRETRAINED)["config"])
    if key is None:
        config[section] = value
    else:
        config[section][key] = value
    with pytest.raises(CheckpointError, match="T2S config"):
        T2SConfig.from_checkpoint(config)
