"""Audio in and out: decoding, resampling, the reference spectrogram, WAV writing.

Everything here is a pure function of arrays and sample rates (plus the file it reads or writes).
Waveforms are float32 in [-1, 1] unless stated; `sr` is always in Hz.

Two resamplers exist because the reference uses two, and its outputs depend on which:
- `"soxr_hq"`: what `librosa.load(path, sr=...)` does (soxr, quality HQ) — the HuBERT / prompt path;
- `"sinc_hann"`: `torchaudio.transforms.Resample` defaults (windowed sinc, Hann, width 6, rolloff 0.99) —
  the reference-spectrogram path.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

from core.errors import AudioError
from core.workspace import atomic_replace

ResampleMethod = Literal["soxr_hq", "sinc_hann"]

# Spectrogram magnitudes are sqrt(re^2 + im^2 + SPEC_EPS), as the reference's `spectrogram_torch`.
SPEC_EPS = 1e-8
# Reference clips louder than this peak are scaled down before the spectrogram (by at most MAX_PEAK_DIVISOR).
MAX_PEAK_DIVISOR = 2.0
_FFMPEG_TIMEOUT_S = 120
_FFMPEG_LONG_TIMEOUT_S = 3600  # decoding hours of audio into a file


# --------------------------------------------------------------------------------------------------
# Decoding


def _read_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """Decode anything ffmpeg understands into (frames, channels) float32 at the file's own rate."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(
            f"{path.name}: this format needs ffmpeg to decode, and ffmpeg is not on PATH; "
            "install ffmpeg or convert the file to WAV/FLAC first"
        )
    with tempfile.TemporaryDirectory(prefix="timbre-decode-") as tmp:
        out = Path(tmp) / "decoded.wav"
        cmd = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(path), "-vn", "-c:a", "pcm_f32le", str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_FFMPEG_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise AudioError(
                f"{path.name}: ffmpeg took longer than {_FFMPEG_TIMEOUT_S} s to decode it"
            ) from exc
        if proc.returncode != 0 or not out.exists():
            detail = (proc.stderr or "").strip().splitlines()
            reason = detail[-1] if detail else f"exit status {proc.returncode}"
            raise AudioError(f"{path.name}: not a readable audio file ({reason}); try WAV, FLAC, MP3 or OGG")
        data, sr = sf.read(str(out), dtype="float32", always_2d=True)
    return data, int(sr)


def load_audio(path: str | os.PathLike, sr: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32.

    Returns `(wav, sr)`: `wav` has shape (n,), float32; PCM is scaled as int/2^(bits-1) (16-bit: /32768),
    channels are averaged. With `sr=None` the file's own rate is kept; otherwise the audio is resampled to
    `sr` with soxr HQ and trimmed/padded to `ceil(n * sr / sr_file)` samples: exactly
    `librosa.load(path, sr=sr)`.
    WAV/FLAC/OGG/MP3 are read with soundfile; anything else (m4a, aac, opus in webm, ...) through ffmpeg.
    Raises `AudioError` for a missing, unreadable or empty file.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found; check the path")
    if not path.is_file():
        raise AudioError(f"{path}: is not a file; pass the path of an audio file")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
        file_sr = int(file_sr)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        data, file_sr = _read_with_ffmpeg(path)
    if data.shape[0] == 0:
        raise AudioError(f"{path.name}: contains no audio samples; record or choose a longer clip")
    wav = to_mono(data.T)
    if sr is not None and sr != file_sr:
        wav = resample(wav, file_sr, sr, method="soxr_hq")
    return wav, (file_sr if sr is None else int(sr))


def audio_info(path: str | os.PathLike) -> tuple[float, int, int]:
    """`(seconds, sr, channels)` of an audio file without decoding it (falls back to decoding via ffmpeg)."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found; check the path")
    try:
        info = sf.info(str(path))
        return info.frames / info.samplerate, int(info.samplerate), int(info.channels)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        data, file_sr = _read_with_ffmpeg(path)
        return data.shape[0] / file_sr, file_sr, int(data.shape[1])


def to_mono(wav: np.ndarray) -> np.ndarray:
    """(n,) stays as is; (channels, n) becomes the float32 mean over channels, shape (n,)."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 1:
        return wav
    if wav.ndim != 2:
        raise AudioError(f"expected audio of shape (n,) or (channels, n), got {wav.shape}")
    if wav.shape[0] == 1:
        return wav[0]
    return wav.mean(axis=0, dtype=np.float32)


# --------------------------------------------------------------------------------------------------
# Durations


def duration_seconds(n_samples: int, sr: int) -> float:
    """Length in seconds of `n_samples` at `sr` Hz."""
    return n_samples / sr


def n_samples_for(seconds: float, sr: int) -> int:
    """Number of samples in `seconds` at `sr` Hz, truncated as the reference does (`int(sr * seconds)`)."""
    return int(sr * seconds)


# --------------------------------------------------------------------------------------------------
# Resampling


def _resample_soxr_hq(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    import soxr  # imported here: only the HuBERT/prompt path needs it

    n_out = math.ceil(wav.shape[-1] * sr_out / sr_in)
    if wav.ndim == 1:
        out = soxr.resample(wav, sr_in, sr_out, quality="HQ")
    else:  # soxr wants (frames, channels)
        out = soxr.resample(np.ascontiguousarray(wav.T), sr_in, sr_out, quality="HQ").T
    out = np.asarray(out, dtype=np.float32)
    if out.shape[-1] > n_out:
        out = out[..., :n_out]
    elif out.shape[-1] < n_out:
        pad = [(0, 0)] * (out.ndim - 1) + [(0, n_out - out.shape[-1])]
        out = np.pad(out, pad)
    return np.ascontiguousarray(out)


def resample_tensor(wav: torch.Tensor, sr_in: int, sr_out: int) -> torch.Tensor:
    """Windowed-sinc resampling of a tensor (..., n) on its own device and dtype.

    Same numbers as `torchaudio.transforms.Resample(sr_in, sr_out)` with its defaults (Hann window,
    lowpass width 6, rolloff 0.99); output length is `ceil(n * sr_out / sr_in)`.
    """
    if sr_in == sr_out:
        return wav
    import torchaudio  # heavy import, only needed on this path

    resampler = torchaudio.transforms.Resample(
        sr_in, sr_out, resampling_method="sinc_interp_hann", lowpass_filter_width=6, rolloff=0.99
    )
    return resampler.to(wav.device)(wav)


def resample(wav: np.ndarray, sr_in: int, sr_out: int, method: ResampleMethod = "soxr_hq") -> np.ndarray:
    """Resample float32 audio of shape (n,) or (channels, n) from `sr_in` to `sr_out` Hz.

    `method="soxr_hq"` reproduces `librosa.resample(res_type="soxr_hq")` (length `ceil(n*sr_out/sr_in)`);
    `method="sinc_hann"` reproduces `torchaudio.transforms.Resample` defaults. Returns float32, same rank.
    """
    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    wav = np.asarray(wav, dtype=np.float32)
    if sr_in == sr_out:
        return wav
    if method == "soxr_hq":
        return _resample_soxr_hq(wav, sr_in, sr_out)
    if method == "sinc_hann":
        return resample_tensor(torch.from_numpy(np.ascontiguousarray(wav)), sr_in, sr_out).numpy()
    raise ValueError(f"unknown resample method {method!r}; expected 'soxr_hq' or 'sinc_hann'")


# --------------------------------------------------------------------------------------------------
# Spectrogram


def spectrogram(
    wav: torch.Tensor, n_fft: int = 2048, hop_length: int = 640, win_length: int = 2048, center: bool = False
) -> torch.Tensor:
    """Linear magnitude spectrogram as the reference's `spectrogram_torch`.

    `wav` (B, n) float → (B, n_fft // 2 + 1, frames): reflect-pad (n_fft - hop_length) // 2 samples at both
    ends, STFT with a periodic Hann window of `win_length`, magnitude sqrt(re² + im² + 1e-8). No log, no mel.
    With center=False, frames = (n + 2 * pad - n_fft) // hop_length + 1.
    """
    if wav.dim() != 2:
        raise ValueError(f"spectrogram expects (batch, samples), got shape {tuple(wav.shape)}")
    pad = int((n_fft - hop_length) / 2)
    if wav.shape[-1] <= pad:
        raise AudioError(
            f"audio too short for a spectrogram: {wav.shape[-1]} samples, need more than {pad}; "
            "use a longer reference clip"
        )
    window = torch.hann_window(win_length, dtype=wav.dtype, device=wav.device)
    padded = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)  # (B, n + 2*pad)
    stft = torch.stft(
        padded,
        n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=center,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    )  # (B, n_fft//2+1, frames) complex
    return torch.sqrt(torch.view_as_real(stft).pow(2).sum(-1) + SPEC_EPS)


def reference_spectrogram(
    wav: np.ndarray | torch.Tensor,
    sr: int,
    model_sr: int = 32000,
    filter_length: int = 2048,
    hop_length: int = 640,
    win_length: int = 2048,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """The SoVITS reference spectrogram of a clip, as the reference's `TTS._get_ref_spec`.

    `wav`: (n,) or (channels, n) float32 at `sr` Hz (e.g. from `load_audio`); channels are averaged,
    the result resampled to `model_sr` with the windowed-sinc resampler, scaled down by min(2, peak) when the
    peak exceeds 1, then `spectrogram(...)` with center=False.
    Returns float32 (1, filter_length // 2 + 1, frames) on `device`.
    """
    audio = torch.as_tensor(np.asarray(wav, dtype=np.float32) if not torch.is_tensor(wav) else wav)
    audio = audio.to(device=device, dtype=torch.float32)
    if audio.dim() == 2:
        audio = audio[0] if audio.shape[0] == 1 else audio.mean(0)
    if audio.dim() != 1:
        raise AudioError(f"expected audio of shape (n,) or (channels, n), got {tuple(audio.shape)}")
    if audio.numel() == 0:
        raise AudioError("reference audio is empty; choose a clip with sound in it")
    audio = audio.unsqueeze(0)  # (1, n)
    audio = resample_tensor(audio, sr, model_sr)
    peak = audio.abs().max()
    if peak > 1:
        audio = audio / min(MAX_PEAK_DIVISOR, float(peak))
    return spectrogram(audio, filter_length, hop_length, win_length, center=False)


# --------------------------------------------------------------------------------------------------
# Effects

MAX_PITCH_SEMITONES = 12.0


def pitch_shift(wav: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """`wav` (n,) shifted by `semitones` (±12) with the same length and timing: pedalboard's PitchShift
    (a time-stretch plus resample that keeps duration). 0 returns the input unchanged.

    int16 in gives int16 out (rounded and clipped); float in gives float32 out.
    """
    if not -MAX_PITCH_SEMITONES <= semitones <= MAX_PITCH_SEMITONES:
        raise AudioError(f"pitch shift {semitones:g} semitones is out of range; use -12 to 12")
    if semitones == 0 or wav.size == 0:
        return wav
    from pedalboard import PitchShift  # deferred: only pitch-shifted requests need it

    x = wav.astype(np.float32) / 32768.0 if wav.dtype == np.int16 else wav.astype(np.float32)
    y = PitchShift(semitones=float(semitones))(x[None, :], float(sr))[0]
    if wav.dtype == np.int16:
        return np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
    return y


# --------------------------------------------------------------------------------------------------
# Writing


def to_int16(wav: np.ndarray) -> np.ndarray:
    """float audio → int16 PCM as the reference does (×32768, truncated toward zero), clipped to the range.

    Integer input of dtype int16 is returned unchanged.
    """
    wav = np.asarray(wav)
    if wav.dtype == np.int16:
        return wav
    scaled = np.clip(wav.astype(np.float64) * 32768.0, -32768.0, 32767.0)
    return scaled.astype(np.int16)


def write_wav(path: str | os.PathLike, wav: np.ndarray, sr: int) -> Path:
    """Write 16-bit PCM WAV atomically (temp file in the same folder, then `os.replace`).

    `wav`: (n,) or (channels, n); int16 is written verbatim, floats through `to_int16`. Returns the path.
    """
    path = Path(path)
    data = to_int16(wav)
    if data.ndim == 2:
        data = data.T  # soundfile wants (frames, channels)
    elif data.ndim != 1:
        raise AudioError(f"expected audio of shape (n,) or (channels, n), got {data.shape}")
    with atomic_replace(path) as tmp:
        sf.write(tmp, data, int(sr), subtype="PCM_16", format="WAV")
    return path


# --------------------------------------------------------------------------------------------------
# Decoding as the reference's training-data stages do

# ffmpeg's default stereo -> mono downmix gain (each channel x 1/sqrt(2), as libswresample, float32).
_FFMPEG_STEREO_GAIN = np.float32(0.70710677)


def load_audio_ffmpeg(
    path: str | os.PathLike, sr: int, *, into: str | os.PathLike | None = None
) -> np.ndarray:
    """Decode `path` to (n,) float32 mono at `sr` Hz with the ffmpeg CLI, as the reference's `load_audio`
    (`ffmpeg -nostdin -threads 0 -i FILE -f f32le -acodec pcm_f32le -ac 1 -ar SR -`): bit-identical to
    its training wavs with the same ffmpeg. Without ffmpeg on PATH: soundfile, stereo summed × 1/√2 (other
    layouts averaged) and soxr HQ (within ~50 dB SNR of ffmpeg's resampler).

    With `into` (a file path), ffmpeg writes the raw samples there and a read-only `np.memmap` over that
    file is returned, so hours of audio never sit in memory (the caller removes the file).
    Raises `AudioError` for a missing, unreadable or empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found; check the path")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        try:
            data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise AudioError(
                f"{path.name}: not a readable audio file ({exc}); install ffmpeg or convert it to WAV"
            ) from exc
        if data.shape[1] == 2:
            wav = (data[:, 0] + data[:, 1]) * _FFMPEG_STEREO_GAIN
        else:
            wav = to_mono(data.T)
        wav = resample(wav, int(file_sr), sr, method="soxr_hq")
        if into is not None:
            np.ascontiguousarray(wav, dtype=np.float32).tofile(into)
    else:
        cmd = [ffmpeg, "-nostdin", "-threads", "0", "-i", str(path)]
        cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "-ac", "1", "-ar", str(int(sr))]
        cmd += ["-y", str(into)] if into is not None else ["-"]
        timeout = _FFMPEG_TIMEOUT_S if into is None else _FFMPEG_LONG_TIMEOUT_S
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AudioError(f"{path.name}: ffmpeg took longer than {timeout} s to decode it") from exc
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = detail[-1] if detail else f"exit status {proc.returncode}"
            raise AudioError(f"{path.name}: not a readable audio file ({reason}); try WAV, FLAC, MP3 or OGG")
        if into is None:
            wav = np.frombuffer(proc.stdout, dtype=np.float32).copy()
    if into is not None:
        size = Path(into).stat().st_size
        if size == 0:
            raise AudioError(f"{path.name}: contains no audio samples; record or choose a longer clip")
        return np.memmap(into, dtype=np.float32, mode="r", shape=(size // 4,))
    if wav.size == 0:
        raise AudioError(f"{path.name}: contains no audio samples; record or choose a longer clip")
    return np.ascontiguousarray(wav, dtype=np.float32)
