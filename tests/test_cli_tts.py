"""`python -m core tts` end to end with the tiny fixture models (one subprocess run; errors in-process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.cli import main
from tests.conftest import manifest_entries

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_args(conformance_dir: Path) -> list[str]:
    pretrained = conformance_dir / "models" / "pretrained"
    base = pretrained / "gsv-v2final-pretrained"
    return [
        "--gpt", str(next(base.glob("*.ckpt"))),
        "--sovits", str(next(base.glob("*.pth"))),
        "--pretrained", str(pretrained),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def ref_wav(conformance_dir: Path) -> str:
    return str(conformance_dir / "cases" / "_inputs" / "ref_16k.wav")


def _deterministic_e2e_case(conformance_dir: Path) -> Path:
    """The first `tts_e2e` case without random sampling (any fixture set has one)."""
    for entry in manifest_entries("tts_e2e"):
        if not entry["rng"]:
            return conformance_dir / entry["dir"]
    pytest.fail("the fixtures have no deterministic tts_e2e case")


def _request_flags(case_dir: Path, req: dict) -> list[str]:
    """CLI flags for a recorded `TTS.run` request (noise 0: the deterministic cases were made that way)."""
    flags = [
        "--ref", str((case_dir / req["ref_audio_path"]).resolve()),
        "--ref-text", req["prompt_text"],
        "--ref-lang", req["prompt_lang"],
        "--lang", req["text_lang"],
        "--top-k", str(req["top_k"]),
        "--top-p", str(req["top_p"]),
        "--temperature", str(req["temperature"]),
        "--repetition-penalty", str(req["repetition_penalty"]),
        "--split-method", req["text_split_method"],
        "--batch-size", str(req["batch_size"]),
        "--batch-threshold", str(req["batch_threshold"]),
        "--speed", str(req["speed_factor"]),
        "--fragment-interval", str(req["fragment_interval"]),
        "--seed", str(req["seed"]),
        "--noise-scale", "0",
    ]  # fmt: skip
    for aux in req.get("aux_ref_audio_paths") or []:
        flags += ["--aux-ref", str((case_dir / aux).resolve())]
    if not req.get("split_bucket", True):
        flags.append("--no-split-bucket")
    if not req.get("parallel_infer", True):
        flags.append("--no-parallel")
    return flags


def test_cli_batch_mode_writes_numbered_wavs_matching_the_reference(conformance_dir, tmp_path):
    """Line 1 is a recorded `tts_e2e` request (its audio must match the reference's), line 3 another text."""
    case_dir = _deterministic_e2e_case(conformance_dir)
    case = json.loads((case_dir / "case.json").read_text(encoding="utf-8"))
    req, config = case["request"], case["tts_config"]
    lines = tmp_path / "lines.txt"
    lines.write_text(f"{req['text']}\n\n今天我们去公园散步吧。\n", encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable, "-m", "core", "tts",
            "--gpt", str((case_dir / config["t2s_weights_path"]).resolve()),
            "--sovits", str((case_dir / config["vits_weights_path"]).resolve()),
            "--pretrained", str(conformance_dir / "models" / "pretrained"),
            *_request_flags(case_dir, req),
            "--text-file", str(lines),
            "--reference-compat",
            "--no-watermark",  # line 1 is compared with the reference's audio (test_watermark_paths marks)
            "--workspace", str(tmp_path / "ws"),
            "--out", str(tmp_path / "take.wav"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"seed {req['seed']}" in proc.stdout
    assert sorted(p.name for p in tmp_path.glob("take_*.wav")) == ["take_001.wav", "take_002.wav"]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files

    audio, sr = sf.read(tmp_path / "take_001.wav", dtype="int16")
    expected, expected_sr = sf.read(case_dir / "audio.wav", dtype="int16")
    assert sf.info(tmp_path / "take_001.wav").subtype == "PCM_16"
    assert sr == expected_sr
    assert audio.shape == expected.shape
    assert np.abs(audio.astype(np.int32) - expected.astype(np.int32)).max() <= 2

    other, other_sr = sf.read(tmp_path / "take_002.wav", dtype="int16")
    assert other_sr == sr and other.size > 0.3 * sr and np.abs(other).max() > 0


def test_cli_missing_reference_exits_2_with_a_message(model_args, tmp_path, capsys):
    out = tmp_path / "never.wav"
    argv = ["tts", *model_args, "--ref", str(tmp_path / "nope.wav"), "--text", "你好。", "--lang", "zh"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nope.wav" in err and "not found" in err
    assert not out.exists()


def test_cli_rejects_bad_settings_before_loading_models(model_args, ref_wav, tmp_path, capsys):
    argv = ["tts", *model_args, "--ref", ref_wav, "--text", "你好。", "--lang", "zh", "--top-k", "0"]
    assert main([*argv, "--out", str(tmp_path / "x.wav")]) == 2
    assert "top_k" in capsys.readouterr().err


def test_cli_output_must_be_a_wav_file(model_args, ref_wav, tmp_path, capsys):
    argv = ["tts", *model_args, "--ref", ref_wav, "--text", "你好。", "--lang", "zh"]
    assert main([*argv, "--out", str(tmp_path / "x.mp3")]) == 2
    assert ".wav" in capsys.readouterr().err


def test_cli_pitch_shifts_the_output_and_keeps_its_length(model_args, ref_wav, tmp_path):
    base = ["tts", *model_args, "--ref", ref_wav, "--ref-text", "这是一段用于测试的参考音频。"]
    base += ["--text", "今天我们去公园散步吧。", "--lang", "zh", "--seed", "3", "--max-sec", "1"]
    base += ["--workspace", str(tmp_path / "ws")]  # its install key and usage log
    assert main([*base, "--out", str(tmp_path / "plain.wav")]) == 0
    assert main([*base, "--pitch", "5", "--out", str(tmp_path / "up.wav")]) == 0
    plain, _ = sf.read(tmp_path / "plain.wav", dtype="int16")
    up, _ = sf.read(tmp_path / "up.wav", dtype="int16")
    assert up.shape == plain.shape and not np.array_equal(up, plain)


def test_cli_refuses_a_pitch_beyond_an_octave(model_args, ref_wav, tmp_path, capsys):
    argv = ["tts", *model_args, "--ref", ref_wav, "--text", "你好。", "--lang", "zh", "--pitch", "13"]
    assert main([*argv, "--out", str(tmp_path / "x.wav")]) == 2
    assert "pitch must be between -12 and 12" in capsys.readouterr().err
