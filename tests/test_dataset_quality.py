"""Recording measures and verdicts (`core.data.quality`, `python -m core dataset inspect`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from core.cli import main as cli
from core.data.quality import combine, integrated_loudness, measure, verdict

SR = 16000


def _tone(seconds: float, amplitude: float, sr: int = SR, freq: float = 997.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _speechlike(seconds: float, snr_db: float | None, seed: int = 0) -> np.ndarray:
    """1 s bursts of a 300 Hz tone with 0.5 s pauses, white noise at `snr_db` below the bursts' power."""
    period = int(1.5 * SR)
    x = np.zeros(int(seconds * SR), dtype=np.float64)
    burst = _tone(1.0, 0.3, freq=300.0)
    for start in range(0, x.shape[0] - burst.shape[0], period):
        x[start : start + burst.shape[0]] = burst
    if snr_db is not None:
        noise = np.random.default_rng(seed).standard_normal(x.shape[0])
        x += noise * math.sqrt(np.mean(burst**2)) / 10 ** (snr_db / 20)
    return x.astype(np.float32)


@pytest.mark.parametrize("sr", [8000, 16000, 44100, 48000, 96000])
def test_a_full_scale_997_hz_sine_is_minus_3_lufs_at_any_rate(sr):
    assert integrated_loudness(_tone(3.0, 1.0, sr), sr) == pytest.approx(-3.01, abs=0.1)
    assert integrated_loudness(_tone(3.0, 0.1, sr), sr) == pytest.approx(-23.01, abs=0.1)
    assert integrated_loudness(np.zeros(sr * 3), sr) == -math.inf


def test_clean_speechlike_audio_is_good_and_its_speech_is_counted():
    quality = measure(_speechlike(30.0, 40.0), SR)
    assert quality.ok, quality.problems
    assert quality.speech_seconds == pytest.approx(20.0, abs=1.0)
    assert quality.silence_fraction == pytest.approx(1 / 3, abs=0.05)
    assert quality.snr_db == pytest.approx(40.0, abs=3.0)


def test_noise_clipping_and_silence_are_named_in_the_verdict():
    noisy = measure(_speechlike(30.0, 10.0), SR)
    assert "noisy" in verdict(noisy) and noisy.snr_db == pytest.approx(10.0, abs=3.0)
    clipped = measure(np.clip(_speechlike(30.0, 40.0) * 5, -1, 1), SR)
    assert "clipped" in verdict(clipped)
    assert "no speech" in verdict(measure(np.zeros(SR * 2, dtype=np.float32), SR))
    with pytest.raises(ValueError):
        measure(np.zeros(0, dtype=np.float32), SR)


def test_the_set_verdict_counts_speech_against_the_recommended_minute():
    short = combine([measure(_speechlike(30.0, 40.0), SR)])
    assert "below the recommended 60 s" in verdict(short)
    enough = combine([measure(_speechlike(60.0, 40.0, seed=i), SR) for i in range(2)])
    assert enough.ok and enough.speech_seconds == pytest.approx(80.0, abs=3.0)


def test_inspect_prints_a_row_per_file_and_the_set(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", _speechlike(30.0, 40.0), SR, subtype="PCM_16")
    stereo = np.stack([_speechlike(30.0, 40.0, seed=1)] * 2, axis=1)
    sf.write(tmp_path / "b.flac", stereo, 44100)
    (tmp_path / "c.wav").write_bytes(b"garbage")
    assert cli(["dataset", "inspect", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "a.wav" in captured.out and "b.flac" in captured.out and "set: 2 file(s)" in captured.out
    assert "below the recommended 60 s" in captured.out and "c.wav" in captured.err
