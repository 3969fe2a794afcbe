"""BERT and HuBERT in a fast mode are filled from their weights file tensor by tensor (never the whole fp32
model in memory) and hold exactly the numbers transformers' own loading gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import BertModel, HubertModel

from core.errors import CheckpointError
from core.models import _hf
from core.models._hf import load_model, stream_model
from core.models.bert import BertPhoneFeatures
from core.models.hubert import HubertContent
from core.models.precision import LowPrecisionLinear, convert_linears
from core.settings import BF16, FP32

# (folder, transformers class, model arguments, Timbre's wrapper)
MODELS = [
    ("chinese-roberta-wwm-ext-large", BertModel, {"add_pooling_layer": False}, BertPhoneFeatures),
    ("chinese-hubert-base", HubertModel, {}, HubertContent),
]
# fixture: the fixture's own file (fp16, `bert.` prefix and MLM head, weight-norm `weight_g`/`weight_v`);
# bin: the same tensors as `pytorch_model.bin`; resaved: transformers' `save_pretrained` of the loaded model
# (fp32, no prefix, `parametrizations.weight.original0/1`)
LAYOUTS = ("fixture", "bin", "resaved")


def _folder(tmp_path: Path, conformance_dir: Path, name: str, layout: str) -> Path:
    source = conformance_dir / "models" / "pretrained" / name
    folder = tmp_path / f"{name}-{layout}"
    if layout == "resaved":
        model_class, kwargs = next((m[1], m[2]) for m in MODELS if m[0] == name)
        model_class.from_pretrained(source, local_files_only=True, **kwargs).save_pretrained(folder)
        return folder
    folder.mkdir()
    shutil.copy(source / "config.json", folder)
    if layout == "bin":
        torch.save(load_file(source / "model.safetensors"), folder / "pytorch_model.bin")
    else:
        shutil.copy(source / "model.safetensors", folder)
    return folder


def _transformers_model(model_class: type, folder: Path, kwargs: dict) -> torch.nn.Module:
    config = model_class.config_class.from_pretrained(folder, local_files_only=True)
    return model_class.from_pretrained(
        folder, config=config, local_files_only=True, dtype=torch.float32, **kwargs
    )


def _assert_same_tensors(got: torch.nn.Module, expected: torch.nn.Module) -> None:
    want_state, got_state = expected.state_dict(), got.state_dict()
    assert list(got_state) == list(want_state)
    for key, value in want_state.items():
        assert got_state[key].dtype == value.dtype and torch.equal(got_state[key], value), key


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("name", "model_class", "kwargs", "_"), MODELS)
def test_streamed_fp32_model_equals_transformers_loading(
    tmp_path, conformance_dir, layout, name, model_class, kwargs, _
):
    folder = _folder(tmp_path, conformance_dir, name, layout)
    expected = _transformers_model(model_class, folder, kwargs)
    config = model_class.config_class.from_pretrained(folder, local_files_only=True)
    got = stream_model(model_class, folder, config, FP32, **kwargs)

    assert got is not None and not got.training and str(got) == str(expected)
    _assert_same_tensors(got, expected)
    assert all(p.requires_grad for p in got.parameters())
    want_buffers = dict(expected.named_buffers())  # non-persistent ones too (BERT's position ids)
    got_buffers = dict(got.named_buffers())
    assert got_buffers.keys() == want_buffers.keys()
    assert all(torch.equal(got_buffers[k], v) for k, v in want_buffers.items())

    if model_class is BertModel:
        inputs = {"input_ids": torch.randint(1, config.vocab_size, (1, 12))}
    else:
        inputs = {"input_values": torch.randn(1, 8000, generator=torch.Generator().manual_seed(0))}
    with torch.inference_mode():
        torch.manual_seed(0)  # HuBERT draws its LayerDrop numbers even in eval mode
        want_out = expected(**inputs)["last_hidden_state"]
        torch.manual_seed(0)
        assert torch.equal(got(**inputs)["last_hidden_state"], want_out)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("name", "model_class", "kwargs", "_"), MODELS)
def test_fast_mode_loads_what_converting_transformers_model_gives(
    tmp_path, conformance_dir, layout, name, model_class, kwargs, _
):
    folder = _folder(tmp_path, conformance_dir, name, layout)
    expected = convert_linears(_transformers_model(model_class, folder, kwargs), BF16)
    config = model_class.config_class.from_pretrained(folder, local_files_only=True)
    got, missing = load_model(model_class, folder, config, BF16, **kwargs)

    assert missing == [] and str(got) == str(expected)
    assert not any(isinstance(m, torch.nn.Linear) for m in got.modules())
    assert any(isinstance(m, LowPrecisionLinear) for m in got.modules())
    _assert_same_tensors(got, expected)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RssFile from /proc (Linux)")
@pytest.mark.parametrize("suffix", [".safetensors", ".bin"])
def test_weights_are_read_through_a_bounded_window_of_the_file(tmp_path, monkeypatch, suffix):
    window, tensor_bytes, count = 4 * 2**20, 2**20, 48
    monkeypatch.setattr(_hf, "_MAP_WINDOW", window)
    tensors = {f"t{i}": torch.full((tensor_bytes // 4,), float(i)) for i in range(count)}
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file(tensors, path)
    else:
        torch.save(tensors, path)

    def mapped_bytes() -> int:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("RssFile:"))
        return int(line.split()[1]) * 1024

    weights = _hf._WeightsFile(path)
    start, most = mapped_bytes(), 0
    for name in weights.names:
        tensor = weights.read(name, None)
        most = max(most, mapped_bytes() - start)
        assert torch.equal(tensor, tensors[name])
        assert tensor.untyped_storage().nbytes() == tensor_bytes  # an owned copy, not a view of the map
    weights.close()
    # at most one window plus the tensor that crossed it (and a page or two of headers), never the file
    assert most <= window + 2 * tensor_bytes, most


@pytest.mark.parametrize("layout", ["fixture", "bin"])
@pytest.mark.parametrize(("name", "_", "__", "loader"), MODELS)
def test_truncated_weights_in_a_fast_mode_ask_for_a_new_download(
    tmp_path, conformance_dir, layout, name, _, __, loader
):
    folder = _folder(tmp_path, conformance_dir, name, layout)
    for name_ in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        source = conformance_dir / "models" / "pretrained" / name / name_
        if source.exists():
            shutil.copy(source, folder)
    weights = next(folder / n for n in _hf.WEIGHT_FILES if (folder / n).is_file())
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="download it again"):
        loader.from_pretrained(folder, precision=BF16)


def test_bert_weights_lacking_a_tensor_are_named_in_a_fast_mode(tmp_path, conformance_dir):
    source = conformance_dir / "models" / "pretrained" / "chinese-roberta-wwm-ext-large"
    folder = tmp_path / "bert"
    shutil.copytree(source, folder)
    tensors = load_file(source / "model.safetensors")
    del tensors["bert.embeddings.word_embeddings.weight"]
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="lack 1 tensors .*word_embeddings"):
        BertPhoneFeatures.from_pretrained(folder, precision=BF16)
