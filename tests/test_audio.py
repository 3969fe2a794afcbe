"""core.audio: decoding, resampling, spectrograms and WAV writing."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from core.audio import (
    audio_info,
    duration_seconds,
    load_audio,
    n_samples_for,
    reference_spectrogram,
    resample,
    spectrogram,
    to_int16,
    write_wav,
)
from core.errors import AudioError


def _tone(n: int, sr: int, freqs=(440.0, 3000.0), amps=(0.5, 0.25)) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    wav = sum(a * np.sin(2 * np.pi * f * t / sr) for f, a in zip(freqs, amps, strict=True))
    return wav.astype(np.float32)


def _numpy_spectrogram(wav: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """Independent re-derivation: reflect pad, periodic Hann, rfft magnitude with the 1e-8 floor."""
    pad = (n_fft - hop) // 2
    x = np.pad(wav.astype(np.float64), (pad, pad), mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    window = np.pad(window, ((n_fft - win) // 2, n_fft - win - (n_fft - win) // 2))
    n_frames = (len(x) - n_fft) // hop + 1
    frames = np.stack([x[i * hop : i * hop + n_fft] * window for i in range(n_frames)], axis=1)
    return np.sqrt(np.abs(np.fft.rfft(frames, axis=0)) ** 2 + 1e-8)


def test_pcm16_is_read_as_int_over_32768(tmp_path: Path):
    pcm = np.array([0, 1, -1, 16384, -32768, 32767, 1234], dtype=np.int16)
    sf.write(tmp_path / "a.wav", pcm, 22050, subtype="PCM_16")
    wav, sr = load_audio(tmp_path / "a.wav")
    assert sr == 22050 and wav.dtype == np.float32
    np.testing.assert_array_equal(wav, pcm.astype(np.float32) / 32768)


def test_stereo_is_averaged_to_mono(tmp_path: Path):
    left, right = _tone(1000, 16000), _tone(1000, 16000, freqs=(200.0, 50.0))
    sf.write(tmp_path / "st.flac", np.stack([left, right], axis=1), 16000, subtype="PCM_24")
    wav, sr = load_audio(tmp_path / "st.flac")
    stereo, _ = sf.read(tmp_path / "st.flac", dtype="float32")
    assert wav.shape == (1000,)
    np.testing.assert_array_equal(wav, stereo.mean(axis=1, dtype=np.float32))


def test_missing_empty_and_garbage_files_raise_audio_error(tmp_path: Path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="no audio"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "junk.mp3").write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioError, match="junk.mp3"):
        load_audio(tmp_path / "junk.mp3")
    with pytest.raises(AudioError):
        load_audio(tmp_path)


def test_formats_soundfile_cannot_read_are_decoded_with_ffmpeg(tmp_path: Path):
    src = tmp_path / "src.wav"
    sf.write(src, _tone(24000, 24000, freqs=(300.0,), amps=(0.5,)), 24000, subtype="PCM_16")
    m4a = tmp_path / "clip.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-c:a", "aac", str(m4a)], check=True)
    wav, sr = load_audio(m4a)
    assert sr == 24000
    assert abs(len(wav) - 24000) < 2048  # encoder priming/padding
    middle = wav[6000:18000]
    assert abs(float(np.sqrt(np.mean(middle**2))) - 0.5 / np.sqrt(2)) < 0.02  # a 0.5-amplitude sine
    seconds, info_sr, channels = audio_info(m4a)
    assert info_sr == 24000 and channels == 1 and abs(seconds - 1.0) < 0.1


def test_load_with_sr_resamples_like_librosa(tmp_path: Path):
    x = _tone(4410, 44100)
    sf.write(tmp_path / "t.wav", x, 44100, subtype="FLOAT")
    wav, sr = load_audio(tmp_path / "t.wav", sr=16000)
    assert sr == 16000 and wav.shape == (1600,)
    np.testing.assert_array_equal(wav, resample(x, 44100, 16000))


def test_soxr_hq_resampling_reproduces_librosa_numbers():
    # Values from librosa 0.10.2.post1 `resample(x, orig_sr=44100, target_sr=..., res_type="soxr_hq")`.
    x = _tone(4410, 44100)
    y = resample(x, 44100, 16000, method="soxr_hq")
    assert y.shape == (1600,) and y.dtype == np.float32
    want = [0.03812456876039505, 0.3095977306365967, 0.35017552971839905, -0.7500001192092896]
    np.testing.assert_allclose(y[[0, 1, 2, 100]], want, rtol=0, atol=1e-7)
    np.testing.assert_allclose(y[[500, 1599]], [-0.7499999403953552, -0.3096279799938202], atol=1e-7)
    y2 = resample(x, 44100, 24000, method="soxr_hq")
    assert y2.shape == (2400,)
    want2 = [0.34406930208206177, 0.6765300631523132, -0.22972065210342407]
    np.testing.assert_allclose(y2[[3, 777, 2399]], want2, rtol=0, atol=1e-7)


@pytest.mark.parametrize("method", ["soxr_hq", "sinc_hann"])
@pytest.mark.parametrize(
    ("sr_in", "sr_out"), [(44100, 32000), (16000, 32000), (48000, 16000), (22050, 22050)]
)
def test_resampling_keeps_length_and_a_low_tone(method, sr_in, sr_out):
    n = 5 * sr_in // 10 + 3
    x = _tone(n, sr_in, freqs=(220.0,), amps=(0.5,))
    y = resample(x, sr_in, sr_out, method=method)
    assert y.dtype == np.float32 and y.shape == (-(-n * sr_out // sr_in),)
    want = _tone(len(y), sr_out, freqs=(220.0,), amps=(0.5,))
    middle = slice(len(y) // 4, 3 * len(y) // 4)
    np.testing.assert_allclose(y[middle], want[middle], atol=2e-3)
    stacked = resample(np.stack([x, -x]), sr_in, sr_out, method=method)
    np.testing.assert_allclose(stacked[0], y, atol=1e-6)
    np.testing.assert_allclose(stacked[1], -y, atol=1e-6)


def test_unknown_resample_method_is_rejected():
    with pytest.raises(ValueError, match="sinc_hann"):
        resample(np.zeros(10, np.float32), 16000, 8000, method="linear")


@pytest.mark.parametrize(("n_fft", "hop", "win", "n"), [(2048, 640, 2048, 12800), (1024, 256, 1024, 5000)])
def test_spectrogram_is_the_padded_stft_magnitude(n_fft, hop, win, n):
    wav = _tone(n, 32000) * 0.9
    got = spectrogram(torch.from_numpy(wav)[None], n_fft, hop, win)
    pad = (n_fft - hop) // 2
    assert got.shape == (1, n_fft // 2 + 1, (n + 2 * pad - n_fft) // hop + 1)
    want = _numpy_spectrogram(wav, n_fft, hop, win)
    np.testing.assert_allclose(got[0].numpy(), want, rtol=1e-4, atol=1e-3)


def test_reference_spectrogram_scales_loud_clips_and_averages_channels():
    wav = _tone(8000, 32000)
    wav = wav / np.abs(wav).max()  # peak exactly 1: left alone
    base = reference_spectrogram(wav, 32000)
    assert base.shape == (1, 1025, 8000 // 640) and base.dtype == torch.float32
    torch.testing.assert_close(base, spectrogram(torch.from_numpy(wav)[None]))
    torch.testing.assert_close(reference_spectrogram(wav * 1.5, 32000), base, rtol=1e-5, atol=1e-4)
    louder = reference_spectrogram(wav * 3, 32000)  # peak 3 is divided by 2 only
    torch.testing.assert_close(louder, spectrogram(torch.from_numpy(wav * 1.5)[None]), rtol=1e-5, atol=1e-4)
    stereo = reference_spectrogram(np.stack([wav, wav * 0.5]), 32000)
    torch.testing.assert_close(stereo, reference_spectrogram(wav * 0.75, 32000))


def test_reference_spectrogram_resamples_to_the_model_rate():
    wav_44k = _tone(17640, 44100)
    spec = reference_spectrogram(wav_44k, 44100, model_sr=32000)
    assert spec.shape == (1, 1025, 12800 // 640)
    wav_32k = resample(wav_44k, 44100, 32000, method="sinc_hann")
    torch.testing.assert_close(spec, reference_spectrogram(wav_32k, 32000))


def test_too_short_audio_for_a_spectrogram_is_an_audio_error():
    with pytest.raises(AudioError, match="too short"):
        reference_spectrogram(np.zeros(100, np.float32), 32000)
    with pytest.raises(AudioError, match="empty"):
        reference_spectrogram(np.zeros(0, np.float32), 32000)


def test_to_int16_truncates_like_the_reference_and_clips():
    x = np.array([0.0, 0.5, -0.5, 0.99999, -0.99999, 1.0, -1.0, 2.0, -3.0, 1e-5], dtype=np.float32)
    np.testing.assert_array_equal(
        to_int16(x), np.array([0, 16384, -16384, 32767, -32767, 32767, -32768, 32767, -32768, 0], np.int16)
    )
    pcm = np.array([1, -2, 3], dtype=np.int16)
    assert to_int16(pcm) is pcm


def test_write_wav_round_trips_and_leaves_no_temp_files(tmp_path: Path):
    pcm = (np.arange(-500, 500, dtype=np.int16) * 37).astype(np.int16)
    out = write_wav(tmp_path / "sub" / "out.wav", pcm, 32000)
    assert sf.info(out).subtype == "PCM_16"
    back, sr = sf.read(out, dtype="int16")
    assert sr == 32000
    np.testing.assert_array_equal(back, pcm)
    write_wav(out, np.full(10, 0.25, np.float32), 16000)  # overwrite
    back, sr = sf.read(out, dtype="int16")
    assert sr == 16000 and back.tolist() == [8192] * 10
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.wav"]


def test_duration_helpers():
    assert n_samples_for(0.3, 32000) == 9600
    assert duration_seconds(48000, 16000) == 3.0


def _f0_autocorrelation(x: np.ndarray, sr: int, low_hz: float = 60.0, high_hz: float = 600.0) -> float:
    """The period of a steady voiced signal, from its autocorrelation peak (parabolic interpolation)."""
    x = x - x.mean()
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[: len(x)]
    lags = np.arange(int(sr / high_hz), int(sr / low_hz))
    k = int(lags[np.argmax(ac[lags])])
    a, b, c = ac[k - 1], ac[k], ac[k + 1]
    return sr / (k + 0.5 * (a - c) / (a - 2 * b + c))


def test_pitch_shift_moves_a_voice_like_tone_by_the_interval_and_keeps_the_length():
    from core.audio import pitch_shift

    sr = 32000
    t = np.arange(sr * 3) / sr
    tone = sum((0.3 / h) * np.sin(2 * np.pi * 150.0 * h * t) for h in range(1, 8)).astype(np.float32)
    for semitones in (12, 5, -2, -12):
        shifted = pitch_shift(tone, sr, semitones)
        assert shifted.shape == tone.shape
        f0 = _f0_autocorrelation(shifted[sr : 2 * sr], sr)
        assert f0 == pytest.approx(150.0 * 2 ** (semitones / 12), rel=0.01)
    assert pitch_shift(tone, sr, 0) is tone
    as_int16 = pitch_shift((tone * 32767).astype(np.int16), sr, 3)
    assert as_int16.dtype == np.int16 and as_int16.shape == tone.shape
    with pytest.raises(AudioError, match="-12 to 12"):
        pitch_shift(tone, sr, 12.5)
