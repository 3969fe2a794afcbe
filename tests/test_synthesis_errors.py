"""Bad inputs to synthesis fail early with a message that says what is wrong and what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from core.errors import AudioError, CheckpointError, PretrainedMissingError, SynthesisError, TextError
from core.synthesis import SynthesisRequest, Synthesizer

PROMPT_TEXT = "这是一段用于测试的参考音频。"


@pytest.fixture(scope="module")
def pretrained(conformance_dir: Path) -> Path:
    return conformance_dir / "models" / "pretrained"


@pytest.fixture(scope="module")
def gpt_path(pretrained: Path) -> Path:
    return next((pretrained / "gsv-v2final-pretrained").glob("*.ckpt"))


@pytest.fixture(scope="module")
def sovits_path(pretrained: Path) -> Path:
    return next((pretrained / "gsv-v2final-pretrained").glob("*.pth"))


@pytest.fixture(scope="module")
def ref_wav(conformance_dir: Path) -> Path:
    return conformance_dir / "cases" / "_inputs" / "ref_16k.wav"


@pytest.fixture(scope="module")
def synth(gpt_path: Path, sovits_path: Path, pretrained: Path) -> Synthesizer:
    return Synthesizer.from_files(gpt_path, sovits_path, pretrained)


def _request(ref: Path, **overrides) -> SynthesisRequest:
    fields = dict(
        text="今天天气很好。",
        text_lang="zh",
        ref_audio_path=ref,
        prompt_text=PROMPT_TEXT,
        prompt_lang="zh",
        top_k=1,
        seed=1,
        noise_scale=0.0,
    )
    fields.update(overrides)
    return SynthesisRequest(**fields)


def _clip(ref_wav: Path, out: Path, seconds: float) -> Path:
    """A copy of the reference clip cut or looped to `seconds`, at the clip's own rate."""
    wav, sr = sf.read(ref_wav, dtype="float32")
    n = int(seconds * sr)
    sf.write(out, np.resize(wav, n), sr, subtype="PCM_16")
    return out


# -- model files -----------------------------------------------------------------------------------


def test_missing_gpt_file_is_reported_by_path(tmp_path, sovits_path, pretrained):
    with pytest.raises(CheckpointError, match="not found"):
        Synthesizer.from_files(tmp_path / "nope.ckpt", sovits_path, pretrained)


def test_truncated_sovits_file_is_reported_as_corrupt(tmp_path, gpt_path, sovits_path, pretrained):
    broken = tmp_path / "broken.pth"
    broken.write_bytes(sovits_path.read_bytes()[:4096])
    with pytest.raises(CheckpointError, match="broken.pth"):
        Synthesizer.from_files(gpt_path, broken, pretrained)


def test_swapped_gpt_and_sovits_files_say_which_slot(gpt_path, sovits_path, pretrained):
    with pytest.raises(CheckpointError, match="SoVITS slot"):
        Synthesizer.from_files(sovits_path, gpt_path, pretrained)


def test_v2_gpt_with_v1_sovits_is_rejected(tmp_path, gpt_path, sovits_path, pretrained):
    state = torch.load(sovits_path, map_location="cpu", weights_only=False)
    rows = state["weight"]["enc_p.text_embedding.weight"]
    state["weight"]["enc_p.text_embedding.weight"] = rows[:322].clone()  # the v1 symbol table
    v1 = tmp_path / "v1_sovits.pth"
    torch.save(state, v1)
    with pytest.raises(CheckpointError, match="v1"):
        Synthesizer.from_files(gpt_path, v1, pretrained)


def test_v2_gpt_with_v3_sovits_is_rejected(tmp_path, gpt_path, sovits_path, pretrained):
    v3 = tmp_path / "v3_sovits.pth"
    shutil.copyfile(sovits_path, v3)
    with v3.open("r+b") as f:
        f.write(b"03")  # the header the reference writes over "PK" for v3 fine-tunes
    with pytest.raises(CheckpointError, match="v3"):
        Synthesizer.from_files(gpt_path, v3, pretrained)


def test_v1_gpt_with_v2_sovits_is_rejected(tmp_path, gpt_path, sovits_path, pretrained):
    state = torch.load(gpt_path, map_location="cpu", weights_only=True)
    key = "model.ar_text_embedding.word_embeddings.weight"
    state["weight"][key] = state["weight"][key][:512].clone()
    state["config"]["model"]["phoneme_vocab_size"] = 512
    v1 = tmp_path / "v1_gpt.ckpt"
    torch.save(state, v1)
    with pytest.raises(CheckpointError, match="v1.*v2|matching pair"):
        Synthesizer.from_files(v1, sovits_path, pretrained)


def test_missing_pretrained_folder_says_how_to_download(tmp_path, gpt_path, sovits_path):
    with pytest.raises(PretrainedMissingError, match="pretrained download"):
        Synthesizer.from_files(gpt_path, sovits_path, tmp_path / "empty")


# -- reference audio -------------------------------------------------------------------------------


def test_reference_shorter_than_three_seconds_is_rejected(synth, ref_wav, tmp_path):
    short = _clip(ref_wav, tmp_path / "short.wav", 2.0)
    with pytest.raises(AudioError, match=r"2\.00 s.*between 3 and 10 s"):
        synth.synthesize(_request(short))


def test_reference_longer_than_ten_seconds_is_rejected(synth, ref_wav, tmp_path):
    long = _clip(ref_wav, tmp_path / "long.wav", 11.0)
    with pytest.raises(AudioError, match=r"11\.00 s.*between 3 and 10 s"):
        synth.synthesize(_request(long))


def test_silent_reference_is_rejected(synth, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(5 * 16000, dtype=np.float32), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="silent"):
        synth.synthesize(_request(silent))


def test_unreadable_reference_is_rejected(synth, tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio\n" * 100, encoding="utf-8")
    with pytest.raises(AudioError, match="notes.wav"):
        synth.synthesize(_request(fake))


def test_missing_reference_is_rejected(synth, tmp_path):
    with pytest.raises(AudioError, match="not found"):
        synth.synthesize(_request(tmp_path / "missing.wav"))


def test_missing_aux_reference_is_rejected(synth, ref_wav, tmp_path):
    with pytest.raises(AudioError, match="not found"):
        synth.synthesize(_request(ref_wav, aux_ref_audio_paths=(tmp_path / "gone.wav",)))


# -- text and settings -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "😀😀😀", "。。。"])
def test_text_with_nothing_to_read_is_rejected(synth, ref_wav, text):
    with pytest.raises(TextError, match="nothing to read"):
        synth.synthesize(_request(ref_wav, text=text))


def test_a_prompt_text_longer_than_a_clip_can_say_is_rejected(synth, ref_wav):
    # 2,000 characters used to fail inside BERT ("size of tensor a (2003) must match ... (512)")
    with pytest.raises(TextError, match="transcript has 2000 characters, over 300"):
        _request(ref_wav, prompt_text="这是一段参考音频。" * 222 + "这这")
    synth.synthesize(_request(ref_wav, prompt_text="这" * 299 + "。"))  # the limit itself still reads


def test_unsupported_language_lists_the_supported_ones(ref_wav):
    with pytest.raises(TextError, match="all_zh"):
        _request(ref_wav, text_lang="ja")
    with pytest.raises(TextError, match="prompt_lang"):
        _request(ref_wav, prompt_lang="")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("top_k", 0),
        ("top_p", 1.5),
        ("temperature", 0.0),
        ("batch_size", 0),
        ("speed_factor", 0.0),
        ("fragment_interval", -1.0),
        ("noise_scale", -0.1),
        ("seed", -2),
        ("text_split_method", "cut9"),
        ("top_k", 2.5),
    ],
)
def test_out_of_range_settings_are_rejected_before_synthesis(ref_wav, field, value):
    with pytest.raises(SynthesisError, match=field):
        _request(ref_wav, **{field: value})
