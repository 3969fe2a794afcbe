"""Official SoVITS (s2) files: strict loading, safe unpickling, clear errors, and the savee writer."""

import copy
import io
import zipfile
from pathlib import Path

import pytest
import torch

from core.checkpoints import ModelVersion, load_sovits, save_sovits
from core.checkpoints._io import StoredHParams, read_checkpoint, write_checkpoint
from core.checkpoints.s2 import official_s2_to_timbre, timbre_to_official_s2
from core.errors import CheckpointError
from core.models.sovits import SoVITS, SoVITSConfig

PRETRAINED_S2 = "models/pretrained/gsv-v2final-pretrained/s2G2333k.pth"
FINETUNED_S2 = "models/weights/tiny_v2_e1_s1.pth"
PRETRAINED_S1 = "models/pretrained/gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"


def _tiny_config_dict() -> dict:
    """A small v2 config in the official layout (sizes differ from the fixtures on purpose)."""
    return {
        "train": {"segment_size": 20480},
        "data": {"sampling_rate": 32000, "filter_length": 2048, "hop_length": 640, "win_length": 2048},
        "model": {
            "inter_channels": 16,
            "hidden_channels": 192,
            "filter_channels": 32,
            "n_heads": 2,
            "n_layers": 2,
            "kernel_size": 3,
            "p_dropout": 0.1,
            "resblock": "2",
            "resblock_kernel_sizes": [3, 7],
            "resblock_dilation_sizes": [[1, 3], [1, 3]],
            "upsample_rates": [10, 8, 2, 2, 2],
            "upsample_initial_channel": 32,
            "upsample_kernel_sizes": [16, 16, 8, 2, 2],
            "n_layers_q": 3,
            "use_spectral_norm": False,
            "gin_channels": 512,
            "semantic_frame_rate": "25hz",
            "freeze_quantizer": True,
        },
    }


@pytest.mark.parametrize("relative", [PRETRAINED_S2, FINETUNED_S2])
def test_official_s2_loads_strictly(conformance_dir: Path, relative: str) -> None:
    path = conformance_dir / relative
    raw = read_checkpoint(path)

    loaded = load_sovits(path)

    assert loaded.version is ModelVersion.V2
    assert loaded.info == raw.content["info"]
    assert not loaded.model.training
    stored_model = raw.content["config"]["model"]
    assert loaded.config.inter_channels == stored_model["inter_channels"]
    assert loaded.config.upsample_initial_channel == stored_model["upsample_initial_channel"]
    state = loaded.model.state_dict()
    assert all(tensor.dtype in (torch.float32, torch.int64) for tensor in state.values())
    embed = raw.content["weight"]["quantizer.vq.layers.0._codebook.embed"]
    assert torch.equal(state["quantizer.layers.0.embed"], embed.float())
    g = raw.content["weight"]["dec.ups.0.weight_g"].float()
    v = raw.content["weight"]["dec.ups.0.weight_v"].float()
    assert torch.equal(state["dec.ups.0.weight"], torch._weight_norm(v, g, 0))


def test_savee_file_round_trips_bit_exact(conformance_dir: Path, tmp_path: Path) -> None:
    raw = read_checkpoint(conformance_dir / FINETUNED_S2)
    out = tmp_path / "copy.pth"

    save_sovits(out, raw.content["weight"], raw.content["config"], raw.content["info"])
    again = read_checkpoint(out)

    assert again.header == b"PK"
    assert again.content["info"] == raw.content["info"]
    assert isinstance(again.content["config"], StoredHParams)
    assert again.content["config"] == raw.content["config"]
    assert list(again.content["weight"]) == list(raw.content["weight"])
    for name, tensor in raw.content["weight"].items():
        assert again.content["weight"][name].dtype == torch.float16
        assert torch.equal(again.content["weight"][name], tensor), name


def test_saved_config_is_pickled_as_reference_hparams(conformance_dir: Path, tmp_path: Path) -> None:
    raw = read_checkpoint(conformance_dir / FINETUNED_S2)
    out = tmp_path / "copy.pth"
    save_sovits(out, raw.content["weight"], raw.content["config"], raw.content["info"])

    with zipfile.ZipFile(out) as archive:
        pickle_bytes = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))

    assert b"utils\nHParams\n" in pickle_bytes
    assert b"StoredHParams" not in pickle_bytes


def test_pretrained_saved_as_savee_drops_enc_q_and_halves(conformance_dir: Path, tmp_path: Path) -> None:
    raw = read_checkpoint(conformance_dir / PRETRAINED_S2)
    weights = {name: tensor.float() for name, tensor in raw.content["weight"].items()}
    out = tmp_path / "savee.pth"

    save_sovits(out, weights, raw.content["config"], "1epoch_1iteration")
    saved = read_checkpoint(out).content["weight"]

    assert set(saved) == {name for name in weights if "enc_q" not in name}
    assert all(tensor.dtype == torch.float16 for tensor in saved.values())
    assert isinstance(read_checkpoint(out).content["config"], dict)
    assert load_sovits(out).version is ModelVersion.V2


def test_model_state_round_trips_through_official_names(tmp_path: Path) -> None:
    config_dict = _tiny_config_dict()
    torch.manual_seed(0)
    model = SoVITS(SoVITSConfig.from_checkpoint(config_dict))
    state = model.state_dict()

    official = timbre_to_official_s2(state)
    back = official_s2_to_timbre(official)

    assert "dec.ups.0.weight_g" in official and "flow.flows.6.enc.cond_layer.weight_v" in official
    assert official["quantizer.vq.layers.0._codebook.inited"].item() == 1
    assert set(back) == set(state)
    for name, tensor in state.items():
        torch.testing.assert_close(back[name], tensor, rtol=1e-6, atol=1e-7)

    path = tmp_path / "tiny.pth"
    save_sovits(path, official, config_dict, "tiny")
    loaded = load_sovits(path)
    for name, tensor in loaded.model.state_dict().items():
        torch.testing.assert_close(tensor, state[name].half().float(), rtol=2e-3, atol=1e-5)


@pytest.mark.parametrize(("resblock", "dilations", "used"), [("2", [1, 3, 5], 2), ("1", [1, 3, 5, 7], 3)])
def test_resblocks_use_as_many_dilations_as_the_reference(resblock: str, dilations: list, used: int) -> None:
    """The reference's ResBlock1 reads dilation[0..2] and ResBlock2 dilation[0..1], ignoring any others."""
    config_dict = _tiny_config_dict()
    config_dict["model"].update(resblock=resblock, resblock_dilation_sizes=[dilations, dilations])
    with torch.device("meta"):
        model = SoVITS(SoVITSConfig.from_checkpoint(config_dict))
    official = timbre_to_official_s2(model.state_dict())
    group = "convs" if resblock == "2" else "convs1"
    convs = {k.split(".")[4] for k in official if k.startswith(f"dec.resblocks.0.{group}.")}
    assert convs == {str(i) for i in range(used)}
    for i, dilation in enumerate(dilations[:used]):
        assert getattr(model.dec.resblocks[1], group)[i].dilation == (dilation,)


def test_too_few_resblock_dilations_are_rejected() -> None:
    config_dict = _tiny_config_dict()
    config_dict["model"].update(resblock="1", resblock_dilation_sizes=[[1, 3], [1, 3]])
    with pytest.raises(CheckpointError, match="at least 3 dilations"):
        SoVITSConfig.from_checkpoint(config_dict)


def test_v2pro_save_writes_version_header(conformance_dir: Path, tmp_path: Path) -> None:
    raw = read_checkpoint(conformance_dir / FINETUNED_S2)
    out = tmp_path / "pro.pth"

    save_sovits(out, raw.content["weight"], raw.content["config"], "x", version=ModelVersion.V2PRO)

    assert out.read_bytes()[:2] == b"05"
    assert read_checkpoint(out).header == b"05"
    with pytest.raises(CheckpointError, match="not supported yet"):
        load_sovits(out)


def test_saving_v3_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not supported"):
        save_sovits(tmp_path / "x.pth", {}, {}, "x", version=ModelVersion.V3)
    assert not (tmp_path / "x.pth").exists()


def test_s1_file_in_s2_slot_is_rejected(conformance_dir: Path) -> None:
    with pytest.raises(CheckpointError, match="GPT slot"):
        load_sovits(conformance_dir / PRETRAINED_S1)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_sovits(tmp_path / "nope.pth")


def test_non_torch_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "voice.pth"
    path.write_bytes(b"RIFF....WAVEfmt " + bytes(100))
    with pytest.raises(CheckpointError, match="not a GPT-SoVITS"):
        load_sovits(path)


def test_truncated_file_raises(conformance_dir: Path, tmp_path: Path) -> None:
    data = (conformance_dir / FINETUNED_S2).read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_sovits(path)


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_code_in_pickle_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pth"
    buffer = io.BytesIO()
    torch.save({"weight": {"enc_p.x": torch.zeros(1)}, "config": _Exploit(), "info": ""}, buffer)
    path.write_bytes(buffer.getvalue())

    with pytest.raises(CheckpointError, match="print"):
        load_sovits(path)
    assert "must never run" not in capsys.readouterr().out


def test_unknown_config_key_is_rejected() -> None:
    config = _tiny_config_dict()
    config["model"]["use_magic"] = True
    with pytest.raises(CheckpointError, match="use_magic"):
        SoVITSConfig.from_checkpoint(config)


def test_config_reads_sizes_from_hparams_object() -> None:
    stored = StoredHParams.from_dict(_tiny_config_dict())

    config = SoVITSConfig.from_checkpoint(stored)

    assert config.inter_channels == 16
    assert config.resblock_dilation_sizes == ((1, 3), (1, 3))
    assert config.spec_channels == 1025
    assert config.version == "v2"


def test_weights_that_disagree_with_config_raise(conformance_dir: Path, tmp_path: Path) -> None:
    raw = read_checkpoint(conformance_dir / FINETUNED_S2)
    config = copy.deepcopy(raw.content["config"].to_dict())
    config["model"]["inter_channels"] *= 2
    path = tmp_path / "mismatch.pth"
    write_checkpoint(path, {"weight": raw.content["weight"], "config": config, "info": ""})

    with pytest.raises(CheckpointError, match="shape"):
        load_sovits(path)


def test_missing_weights_are_named(conformance_dir: Path, tmp_path: Path) -> None:
    raw = read_checkpoint(conformance_dir / FINETUNED_S2)
    weights = dict(raw.content["weight"])
    del weights["ref_enc.fc.fc.bias"]
    path = tmp_path / "partial.pth"
    save_sovits(path, weights, raw.content["config"], "")

    with pytest.raises(CheckpointError, match="ref_enc.fc.fc.bias"):
        load_sovits(path)
