"""Conformance of the feature extractors with the reference: BERT, HuBERT, reference spectrogram.

Every case of each kind listed in the manifest is run (the hidden set has other cases and inputs).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.audio import load_audio, reference_spectrogram
from core.checkpoints import load_sovits
from core.errors import PretrainedMissingError, TextError
from core.models.bert import KEPT_TEXTS, BertPhoneFeatures, zero_features
from core.models.hubert import HubertContent
from tests.conftest import manifest_entries


def _cases(conformance_dir: Path, kind: str) -> list[tuple[str, Path, dict]]:
    cases = []
    for entry in manifest_entries(kind):
        case_dir = conformance_dir / entry["dir"]
        cases.append((entry["id"], case_dir, json.loads((case_dir / "case.json").read_text())))
    return cases


def _model_dir(conformance_dir: Path, case_dir: Path, ref: str) -> Path:
    if ref.startswith("<shared>/"):
        return conformance_dir / ref[len("<shared>/") :]
    return (case_dir / ref).resolve()


@pytest.fixture(scope="module")
def pretrained_dir(conformance_dir: Path) -> Path:
    return conformance_dir / "models" / "pretrained"


def test_bert_features_match_the_reference(conformance_dir: Path):
    failures = []
    models: dict[Path, BertPhoneFeatures] = {}
    for case_id, case_dir, case in _cases(conformance_dir, "bert"):
        model_dir = _model_dir(conformance_dir, case_dir, case["model"])
        if model_dir not in models:
            models[model_dir] = BertPhoneFeatures.from_pretrained(model_dir)
        bert = models[model_dir]
        args = case["args"]
        ids = bert.token_ids(args["norm_text"])
        if ids != args["tokenizer_input_ids"]:
            failures.append(f"{case_id}: tokenizer ids {ids} != {args['tokenizer_input_ids']}")
        got = bert.features(args["norm_text"], args["word2ph"]).numpy()
        want = np.load(case_dir / "bert_feature.npy")
        assert got.dtype == np.float32
        if got.shape != want.shape:
            failures.append(f"{case_id}: shape {got.shape} != {want.shape}")
            continue
        assert got.shape == (want.shape[0], sum(args["word2ph"]))
        tol = case["tolerance"]["bert_feature"]["max_abs"]
        err = float(np.abs(got - want).max())
        if err > tol:
            failures.append(f"{case_id}: max abs error {err:.3g} > {tol}")
    assert not failures, "\n".join(failures)


def test_hubert_content_matches_the_reference(conformance_dir: Path):
    failures = []
    for case_id, case_dir, case in _cases(conformance_dir, "hubert"):
        hubert = HubertContent.from_pretrained(_model_dir(conformance_dir, case_dir, case["model"]))
        wav, sr = load_audio(case_dir / case["inputs"]["wav"], sr=16000)
        got = hubert.content(torch.from_numpy(wav)[None]).numpy()
        want = np.load(case_dir / "ssl_content.npy")
        assert hubert.hidden_size == want.shape[1]
        if got.shape != want.shape:
            failures.append(f"{case_id}: shape {got.shape} != {want.shape}")
            continue
        tol = case["tolerance"]["ssl_content"]["max_abs"]
        err = float(np.abs(got - want).max())
        if err > tol:
            failures.append(f"{case_id}: max abs error {err:.3g} > {tol}")
    assert not failures, "\n".join(failures)


def test_reference_spectrogram_matches_the_reference(conformance_dir: Path):
    failures = []
    for case_id, case_dir, case in _cases(conformance_dir, "spectrogram"):
        wav, sr = load_audio(case_dir / case["inputs"]["wav"])
        assert sr == case["inputs"]["sr"]
        args = case["args"]
        got = reference_spectrogram(
            wav,
            sr,
            model_sr=args["sampling_rate"],
            filter_length=args["filter_length"],
            hop_length=args["hop_length"],
            win_length=args["win_length"],
        ).numpy()
        want = np.load(case_dir / "spec.npy")
        if got.shape != want.shape:
            failures.append(f"{case_id}: shape {got.shape} != {want.shape}")
            continue
        tol = case["tolerance"]["spec"]
        err = float(np.abs(got - want).max())
        rel = float(np.linalg.norm(got - want) / np.linalg.norm(want))
        if err > tol["max_abs"] or rel > tol["rel_l2"]:
            failures.append(f"{case_id}: max abs {err:.3g} (tol {tol['max_abs']}), rel L2 {rel:.3g}")
    assert not failures, "\n".join(failures)


def test_prompt_semantic_matches_the_reference(conformance_dir: Path, pretrained_dir: Path):
    """HuBERT half of `_set_prompt_semantic` + SoVITS `extract_latent`."""
    hubert = HubertContent.from_pretrained(pretrained_dir / "chinese-hubert-base")
    for case_id, case_dir, case in _cases(conformance_dir, "extract_latent"):
        loaded = load_sovits((case_dir / case["model"]).resolve())
        sovits = loaded.model
        model_sr = loaded.config.sampling_rate
        wav_16k, _ = load_audio(case_dir / case["inputs"]["ref_wav"], sr=16000)
        # 0.3 s of the *model* rate appended to the 16 kHz signal, as the reference does.
        pad = np.zeros(int(model_sr * 0.3), dtype=np.float32)
        signal = torch.from_numpy(np.concatenate([wav_16k, pad]))[None]
        with torch.no_grad():
            codes = sovits.extract_latent(hubert.content(signal))
        want = np.load(case_dir / "prompt_semantic.npy")
        np.testing.assert_array_equal(codes[0, 0].numpy(), want, err_msg=case_id)


def test_hub_layout_with_bin_weights_and_tokenizer_json_only(conformance_dir: Path, tmp_path: Path):
    """The public repository ships `pytorch_model.bin` and (for BERT) only `tokenizer.json`: same results."""
    from safetensors.torch import load_file

    source = conformance_dir / "models" / "pretrained"
    layout = {
        "chinese-roberta-wwm-ext-large": ["config.json", "tokenizer.json"],
        "chinese-hubert-base": ["config.json"],
    }
    for folder, names in layout.items():
        (tmp_path / folder).mkdir()
        for name in names:
            shutil.copy(source / folder / name, tmp_path / folder / name)
        torch.save(load_file(source / folder / "model.safetensors"), tmp_path / folder / "pytorch_model.bin")
    bert = BertPhoneFeatures.from_pretrained(tmp_path / "chinese-roberta-wwm-ext-large")
    for case_id, case_dir, case in _cases(conformance_dir, "bert"):
        args = case["args"]
        assert bert.token_ids(args["norm_text"]) == args["tokenizer_input_ids"], case_id
        got = bert.features(args["norm_text"], args["word2ph"]).numpy()
        np.testing.assert_allclose(got, np.load(case_dir / "bert_feature.npy"), rtol=0, atol=1e-4)
    hubert = HubertContent.from_pretrained(tmp_path / "chinese-hubert-base")
    for case_id, case_dir, case in _cases(conformance_dir, "hubert"):
        wav, _ = load_audio(case_dir / case["inputs"]["wav"], sr=16000)
        got = hubert.content(torch.from_numpy(wav)).numpy()
        want = np.load(case_dir / "ssl_content.npy")
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4, err_msg=case_id)


def test_missing_pretrained_folders_say_how_to_download(tmp_path: Path):
    for loader in (BertPhoneFeatures.from_pretrained, HubertContent.from_pretrained):
        with pytest.raises(PretrainedMissingError, match="python -m core pretrained download"):
            loader(tmp_path / "absent")
        (tmp_path / "partial").mkdir(exist_ok=True)
        (tmp_path / "partial" / "config.json").write_text("{}")
        with pytest.raises(PretrainedMissingError, match="incomplete"):
            loader(tmp_path / "partial")


def test_word2ph_must_have_one_entry_per_character(pretrained_dir: Path):
    bert = BertPhoneFeatures.from_pretrained(pretrained_dir / "chinese-roberta-wwm-ext-large")
    with pytest.raises(TextError, match="word2ph"):
        bert.features("你好.", [2, 2])
    assert zero_features(5).shape == (1024, 5)


def test_bert_runs_once_per_text_while_it_is_kept(pretrained_dir: Path):
    bert = BertPhoneFeatures.from_pretrained(pretrained_dir / "chinese-roberta-wwm-ext-large")
    runs = []
    bert.model.register_forward_hook(lambda module, args, output: runs.append(1))
    first = bert.features("你好。", [2, 2, 1])
    again = bert.features("你好。", [1, 3, 1])  # same text, other phone split: the same BERT rows
    assert len(runs) == 1
    assert torch.equal(again[:, 0], first[:, 0]) and torch.equal(again[:, 1], first[:, 2])
    for i in range(KEPT_TEXTS):  # the oldest text is dropped once KEPT_TEXTS newer ones were read
        bert.features("好" * (i + 1), [1] * (i + 1))
    assert len(runs) == 1 + KEPT_TEXTS
    assert torch.equal(bert.features("你好。", [2, 2, 1]), first) and len(runs) == 2 + KEPT_TEXTS
