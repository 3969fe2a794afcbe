"""Mel spectrograms for the SoVITS reconstruction loss, as the reference's `mel_processing` computes them.

The linear spectrogram is `core.audio.spectrogram` (the same one the reference encoder reads); the mel
filter bank is librosa's default (Slaney mel scale, Slaney area normalisation), which torchaudio builds
identically; log compression clamps at 1e-5.
"""

from __future__ import annotations

import torch
import torchaudio

from core.audio import spectrogram

LOG_FLOOR = 1e-5


def mel_filters(n_fft: int, n_mels: int, sample_rate: int, f_min: float, f_max: float | None) -> torch.Tensor:
    """`(n_mels, n_fft // 2 + 1)` filter bank (librosa's `filters.mel` with its defaults)."""
    bank = torchaudio.functional.melscale_fbanks(
        n_fft // 2 + 1,
        f_min=float(f_min),
        f_max=float(f_max if f_max is not None else sample_rate / 2),
        n_mels=n_mels,
        sample_rate=sample_rate,
        norm="slaney",
        mel_scale="slaney",
    )
    return bank.T.contiguous()


def spec_to_mel(spec: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Linear magnitudes `(B, bins, T)` -> log mel `(B, n_mels, T)`."""
    return torch.log(torch.clamp(torch.matmul(filters.to(spec), spec), min=LOG_FLOOR))


def mel_spectrogram(
    wav: torch.Tensor, filters: torch.Tensor, n_fft: int, hop_length: int, win_length: int
) -> torch.Tensor:
    """Waveforms `(B, n)` -> log mel `(B, n_mels, frames)`."""
    return spec_to_mel(spectrogram(wav, n_fft, hop_length, win_length), filters)
