"""`--precision`: the fast modes convert T2S/BERT/HuBERT linears and stay within the quality check's
thresholds on the tiny fixture models (numeric drift against fp32, not voice quality); fp32 stays exact."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from core.checkpoints.s1 import load_t2s
from core.checkpoints.s2 import load_sovits
from core.cli import main
from core.errors import SettingsError
from core.jobs import ModelCache
from core.models.int8_decode import KernelLinear
from core.models.precision import (
    MAX_FEATURE_REL_ERROR,
    MAX_LOGIT_REL_ERROR,
    MIN_SOVITS_SNR_DB,
    MIN_TOP1_AGREEMENT,
    Bfloat16Conv,
    Bfloat16Module,
    LowPrecisionLinear,
    convert_linears,
    convert_vocoder,
    relative_error,
    sovits_snr_db,
    t2s_drift,
    weights_bytes,
)
from core.settings import AUTO, BF16, FP32, INT8, check_precision

FAST_MODES = (BF16, INT8)
DRIFT_STEPS = 200


@pytest.fixture(scope="module")
def pretrained(conformance_dir: Path) -> Path:
    return conformance_dir / "models" / "pretrained"


def _linears(module: nn.Module) -> tuple[int, int]:
    """(plain nn.Linear count, LowPrecisionLinear count) inside `module`."""
    modules = list(module.modules())
    return (
        sum(isinstance(m, nn.Linear) for m in modules),
        sum(isinstance(m, LowPrecisionLinear) for m in modules),
    )


def test_fp32_leaves_the_model_untouched(pretrained):
    loaded = load_t2s(next((pretrained / "gsv-v2final-pretrained").glob("*.ckpt")))
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    assert convert_linears(loaded.model, FP32) is loaded.model
    after = loaded.model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert _linears(loaded.model)[1] == 0


@pytest.mark.parametrize("precision", FAST_MODES)
def test_fast_t2s_stays_within_the_drift_thresholds(pretrained, t2s_inputs, precision):
    reference = load_t2s(next((pretrained / "gsv-v2final-pretrained").glob("*.ckpt"))).model
    converted = convert_linears(copy.deepcopy(reference), precision)
    plain, low = _linears(converted)
    assert plain == 0 and low == _linears(reference)[0]
    drift = t2s_drift(reference, converted, *t2s_inputs, steps=DRIFT_STEPS)
    assert drift.logit_rel_error <= MAX_LOGIT_REL_ERROR, drift.summary()
    assert drift.top1_agreement >= MIN_TOP1_AGREEMENT, drift.summary()
    assert drift.passes
    assert drift.logit_rel_error > 0  # the mode really changed the numbers


def test_int8_stores_a_quarter_of_the_linear_bytes():
    torch.manual_seed(0)
    linear = nn.Linear(512, 1536)
    int8 = LowPrecisionLinear(linear, INT8)
    bf16 = LowPrecisionLinear(linear, BF16)
    weight_bytes = linear.weight.numel() * 4
    assert int8.packed_bytes == weight_bytes // 4 + 4 * linear.bias.numel()
    assert weights_bytes(bf16) < 0.55 * weights_bytes(linear)
    assert weights_bytes(int8) < 0.3 * weights_bytes(linear)
    x = torch.randn(2, 7, 512)
    expected = linear(x)
    for layer in (int8, bf16):
        y = layer(x)
        assert y.shape == expected.shape and y.dtype == torch.float32
        assert 0 < relative_error(y, expected) < 0.02


def test_model_cache_converts_synthesis_models_but_keeps_dataset_features_exact(pretrained):
    cache = ModelCache(pretrained, precision=INT8)
    base = pretrained / "gsv-v2final-pretrained"
    synth = cache.synthesizer(next(base.glob("*.ckpt")), next(base.glob("*.pth")))
    # (the fixture BERT keeps no encoder layer: GPT-SoVITS reads its hidden_states[-3], so it has no linear)
    for module in (synth.t2s.model, synth.bert.model, synth.hubert.model):
        assert _linears(module)[0] == 0
    assert _linears(synth.hubert.model)[1] > 0
    # int8 only where it is faster: T2S's per-token decode (through the kernel where the CPU has VNNI); the
    # encoders run bf16 (see ENCODER_PRECISION)
    t2s_linears = [m for m in synth.t2s.model.modules() if isinstance(m, (LowPrecisionLinear, KernelLinear))]
    assert t2s_linears and all(getattr(m, "precision", INT8) == INT8 for m in t2s_linears)
    assert {m.precision for m in synth.hubert.model.modules() if isinstance(m, LowPrecisionLinear)} == {BF16}
    assert _linears(synth.sovits.model)[1] == 0  # SoVITS's few linears stay fp32...
    assert isinstance(synth.sovits.model.dec, Bfloat16Module)  # ...its vocoder runs bf16
    assert sum(isinstance(m, Bfloat16Module) for m in synth.hubert.model.modules()) > 0  # and HuBERT's convs

    hubert, bert = cache.shared()  # dataset features: fp32, untouched
    assert _linears(hubert.model) == (_linears(synth.hubert.model)[1], 0)
    wav = torch.from_numpy(np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1)
    exact, fast = hubert.content(wav), synth.hubert.content(wav)
    assert fast.dtype == torch.float32 and 0 < relative_error(fast, exact) <= MAX_FEATURE_REL_ERROR


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv1d(16, 8, 7, dilation=3, padding=9),
        nn.Conv1d(16, 1, 7, padding=3, bias=False),
        nn.ConvTranspose1d(16, 8, 16, stride=8, padding=4),
    ],
    ids=["dilated", "no-bias", "transposed"],
)
def test_bfloat16_conv_computes_the_same_convolution(conv):
    torch.manual_seed(0)
    x = torch.randn(2, 16, 300).to(torch.bfloat16)
    fast = Bfloat16Conv(conv.eval())
    y = fast(x)
    with torch.no_grad():
        exact = conv(x.float())
    assert y.dtype == torch.bfloat16 and y.shape == exact.shape
    assert 0 < relative_error(y.float(), exact) < 0.01  # bf16 weights: rounded, not changed
    # the output stays channels-last, so a following convolution reads it as it is
    assert y.stride(1) == 1 or y.shape[1] == 1


@pytest.mark.parametrize("precision", FAST_MODES)
def test_fast_sovits_stays_above_the_snr_threshold(pretrained, t2s_inputs, precision):
    reference = load_sovits(next((pretrained / "gsv-v2final-pretrained").glob("*.pth"))).model
    converted = convert_vocoder(copy.deepcopy(reference), precision)
    assert isinstance(converted.dec, Bfloat16Module) and not isinstance(reference.dec, Bfloat16Module)
    assert not any(isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)) for m in converted.dec.modules())
    torch.manual_seed(0)
    phones = t2s_inputs[0][None]
    codes = torch.randint(0, 1024, (1, 1, 40))
    spec = torch.rand(1, reference.config.spec_channels, 120)
    snr = sovits_snr_db(reference, converted, codes, phones, spec)
    assert MIN_SOVITS_SNR_DB <= snr < 200  # changed, but within the threshold


@pytest.mark.parametrize("precision", FAST_MODES)
def test_fast_bert_features_stay_within_the_drift_threshold(precision):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=500, hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512
    )
    reference = BertModel(config, add_pooling_layer=False).eval()
    converted = convert_linears(copy.deepcopy(reference), precision)
    ids = torch.randint(5, 500, (1, 32))
    with torch.inference_mode():
        exact = reference(input_ids=ids)["last_hidden_state"]
        fast = converted(input_ids=ids)["last_hidden_state"]
    assert fast.dtype == torch.float32 and 0 < relative_error(fast, exact) <= MAX_FEATURE_REL_ERROR


def test_precision_is_checked_with_an_actionable_message():
    assert check_precision(INT8, "cpu") == INT8
    with pytest.raises(SettingsError, match="fp32, bf16, int8"):
        check_precision("fp16")
    with pytest.raises(SettingsError, match="CPU only"):
        check_precision(INT8, "cuda")


def test_cli_reads_aloud_in_int8_and_says_so(pretrained, conformance_dir, tmp_path, capsys):
    base = pretrained / "gsv-v2final-pretrained"
    argv = [
        "tts",
        "--gpt", str(next(base.glob("*.ckpt"))),
        "--sovits", str(next(base.glob("*.pth"))),
        "--pretrained", str(pretrained),
        "--ref", str(conformance_dir / "cases" / "_inputs" / "ref_16k.wav"),
        "--ref-text", "这是一段用于测试的参考音频。",
        "--text", "今天我们去公园散步吧。", "--lang", "zh", "--seed", "3", "--max-sec", "1",
        "--workspace", str(tmp_path / "ws"),
        "--precision", INT8,
        "--out", str(tmp_path / "int8.wav"),
    ]  # fmt: skip
    assert main(argv) == 0
    assert "precision int8" in capsys.readouterr().err
    audio, sr = sf.read(tmp_path / "int8.wav", dtype="int16")
    assert audio.size > 0.2 * sr and np.abs(audio).max() > 0


def test_precision_is_a_start_up_setting_of_the_studio_and_the_worker():
    from app import parse_settings
    from core.cli import build_parser

    assert parse_settings([]).precision == AUTO  # resolved at start, per machine (below)
    assert parse_settings(["--precision", INT8]).precision == INT8
    assert build_parser().parse_args(["worker", "--precision", BF16]).precision == BF16
    with pytest.raises(SystemExit):
        parse_settings(["--precision", "fp16"])


def test_auto_is_int8_on_cpus_with_bf16_and_fp32_for_the_exact_path():
    fast_cpu = torch._C._cpu._is_avx512_bf16_supported()
    assert check_precision(AUTO) == (INT8 if fast_cpu else FP32)
    assert check_precision(AUTO, reference_compat=True) == FP32  # the reference's numbers
    assert check_precision(FP32, reference_compat=True) == FP32 and check_precision(INT8) == INT8
    assert ModelCache(Path("pretrained"), precision=AUTO).precision == check_precision(AUTO)
