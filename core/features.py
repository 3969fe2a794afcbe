"""Feature chains shared by synthesis and dataset preparation: free functions over loaded models.

Two chains turn inputs into what the models consume, and both synthesis (`core.synthesis`) and the
training-data stages (`core.data.features`) call them, so they are written once:

- text: text → normalised text, phones, word2ph → phone-level BERT features (1024, n_phones), zeros for
  non-Chinese text (`text_features` for a synthesis fragment, `clean_line` + `line_bert` for one `.list`
  line, the reference's stage 1a);
- audio: 16 kHz waveform → HuBERT content (1, 768, T) at 50 frames/s → SoVITS latent codes (T/2,) at 25 Hz
  (`prompt_codes` pads 0.3 s first, as the reference does for a prompt; `training_audio` prepares the
  32 kHz training wav and the HuBERT input exactly as the reference's stage 1b does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.audio import load_audio_ffmpeg, resample
from core.errors import AudioError, SynthesisError, TextError
from core.models.bert import BERT_DIM, BertPhoneFeatures, zero_features
from core.models.hubert import HUBERT_SR, HubertContent
from core.text import UserDictionary, text_to_phones
from core.text.frontend import ReadOptions, SegmentReadings, language_frontends
from core.text.symbols import PUNCTUATION, SPECIAL

if TYPE_CHECKING:
    from core.models.sovits import SoVITS
    from core.text.g2pw import G2PW

# Silence appended to a prompt clip before HuBERT: 0.3 s counted at the *model's* rate although the signal is
# at 16 kHz (the reference does this; it changes the prompt tokens, so it is kept).
PROMPT_PAD_SECONDS = 0.3

TRAINING_SR = 32000
"""Rate of the training wavs (`5-wav32k/`) and of the signal stage 1b derives the HuBERT input from (Hz)."""
# Stage 1b's level normalisation: y = x / peak * (MAX * ALPHA * scale) + (1 - ALPHA) * scale * x.
_NORM_MAX = 0.95
_NORM_ALPHA = 0.5
_INT16_SCALE = 32768.0
_HUBERT_INPUT_SCALE = 1145.14  # the reference's HuBERT input amplitude (its number, kept)
MAX_DECODED_PEAK = 2.2
"""Stage 1b skips a clip whose decoded peak exceeds this (a float file far beyond full scale)."""

_SILENT_PHONES = frozenset(PUNCTUATION) | frozenset(SPECIAL)
# Characters stage 1a replaces before reading a line's text (the reference's `1-get-text.py`).
_LINE_TEXT_REPLACEMENTS = (("%", "-"), ("￥", ","))


# ----------------------------------------------------------------------------------------------------
# Text


@dataclass(frozen=True)
class TextFeatures:
    """One piece of text ready for T2S: phone ids and their BERT features (zeros for non-Chinese parts)."""

    norm_text: str
    phone_ids: list[int]
    bert: torch.Tensor  # (BERT_DIM, len(phone_ids)) float32


@torch.no_grad()
def text_features(
    text: str,
    lang: str,
    bert: BertPhoneFeatures,
    *,
    g2pw: G2PW | None = None,
    reference_compat: bool = False,
    user_dict: UserDictionary | None = None,
) -> TextFeatures:
    """Phone ids and phone-level BERT features (BERT_DIM, n_phones) float32 on the CPU of one fragment.

    `lang` is a synthesis language code (`core.text.LANGUAGES`: mixed texts are segmented); Chinese segments
    get BERT features of their normalised text, other segments zeros (as the reference).
    """
    result = text_to_phones(
        text, lang, version="v2", user_dict=user_dict, reference_compat=reference_compat, g2pw=g2pw
    )
    parts = []
    for segment in result.segments:
        if segment.lang.replace("all_", "") == "zh":
            parts.append(bert.features(segment.norm_text, list(segment.word2ph)).float().cpu())
        else:  # the reference gives non-Chinese text zero features
            parts.append(zero_features(len(segment.phones)))
    features = torch.cat(parts, dim=1) if parts else torch.zeros(BERT_DIM, 0)
    if features.shape[1] != len(result.ids):
        raise SynthesisError(
            f"text front-end mismatch: {len(result.ids)} phone ids but {features.shape[1]} BERT columns "
            f"for {_excerpt(text)}; please report this text"
        )
    return TextFeatures(norm_text=result.norm_text, phone_ids=list(result.ids), bert=features)


@dataclass(frozen=True)
class CleanedLine:
    """One `.list` line's text as the training stages read it (the reference's `clean_text` result)."""

    lang: str  # "zh" or "en"
    norm_text: str
    phones: list[str]
    word2ph: list[int] | None  # phones per character of norm_text (Chinese); None for English


def line_languages() -> tuple[str, ...]:
    """Language codes a training line can be read in today (one language per line, no segmentation)."""
    return tuple(language_frontends())


def clean_line(
    text: str, lang: str, *, g2pw: G2PW | None = None, reference_compat: bool = False
) -> CleanedLine:
    """Read one training line in one language, as the reference's stage 1a: `%` → `-`, `￥` → `,`, then that
    language's normaliser and G2P on the whole text (no language segmentation, unlike synthesis).

    `reference_compat=True` gives the reference's readings exactly; otherwise Timbre's corrected readings.
    Raises `TextError` for a language without a frontend or a text with nothing to read.
    """
    frontends = language_frontends()
    if lang not in frontends:
        raise TextError(
            f"language {lang!r} cannot be read for training yet; use one of: {', '.join(frontends)}"
        )
    for old, new in _LINE_TEXT_REPLACEMENTS:
        text = text.replace(old, new)
    if not text.strip():
        raise TextError("the transcript is empty; write what the clip says")
    options = ReadOptions(reference_compat=reference_compat, g2pw=g2pw)
    norm_text, phones, word2ph = frontends[lang].clean(text, SegmentReadings(), options)
    if not any(p not in _SILENT_PHONES for p in phones):
        raise TextError(f"nothing to read in {_excerpt(text)}: it has no words the {lang} frontend can read")
    if word2ph is not None and (len(word2ph) != len(norm_text) or sum(word2ph) != len(phones)):
        raise TextError(
            f"the {lang} frontend gave {len(phones)} phones for {len(norm_text)} characters of "
            f"{_excerpt(norm_text)} with word2ph {word2ph}; please report this text"
        )
    return CleanedLine(lang=lang, norm_text=norm_text, phones=list(phones), word2ph=word2ph)


@torch.no_grad()
def line_bert(bert: BertPhoneFeatures, line: CleanedLine) -> torch.Tensor | None:
    """Stage 1a's BERT feature of a line: (BERT_DIM, len(line.phones)) float32 on the CPU for Chinese,
    None for other languages (the reference saves no `.pt` for them; training uses zeros)."""
    if line.lang != "zh" or line.word2ph is None:
        return None
    features = bert.features(line.norm_text, list(line.word2ph)).float().cpu()
    if features.shape[1] != len(line.phones):
        raise TextError(
            f"BERT gave {features.shape[1]} columns for {len(line.phones)} phones of "
            f"{_excerpt(line.norm_text)}; please report this text"
        )
    return features


# ----------------------------------------------------------------------------------------------------
# Audio


@torch.no_grad()
def hubert_content(
    hubert: HubertContent, wav_16k: np.ndarray | torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """HuBERT content of one clip: `wav_16k` (n,) float32 at 16 kHz (not normalised) → (1, 768, T) float32
    on the model's device, T = (n - 400) // 320 + 1. `generator`: see `HubertContent.content`."""
    signal = torch.as_tensor(
        np.asarray(wav_16k, dtype=np.float32) if not torch.is_tensor(wav_16k) else wav_16k
    )
    return hubert.content(signal.reshape(1, -1), generator=generator)


@torch.no_grad()
def semantic_codes(sovits: SoVITS, ssl: torch.Tensor) -> torch.Tensor:
    """SoVITS latent codes of HuBERT content `ssl` (1, 768, T) → (T',) int64 at 25 Hz, T' = (T - 2) // 2 + 1
    (`extract_latent`: ssl_proj then the first quantizer's nearest code)."""
    param = next(sovits.parameters())
    return sovits.extract_latent(ssl.to(param.device, param.dtype))[0, 0]


@torch.no_grad()
def prompt_codes(
    wav_16k: np.ndarray,
    hubert: HubertContent,
    sovits: SoVITS,
    model_sr: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Semantic tokens of a reference clip as the T2S prompt: `wav_16k` (n,) float32 at 16 kHz, with
    `PROMPT_PAD_SECONDS` × `model_sr` zeros appended (the reference's quirk), → HuBERT → latent codes.

    Returns (T,) int64 at 25 Hz on the models' device; HuBERT draws from `generator` (see `HubertContent`).
    """
    pad = np.zeros(int(model_sr * PROMPT_PAD_SECONDS), dtype=np.float32)
    signal = np.concatenate([np.asarray(wav_16k, dtype=np.float32), pad])
    ssl = hubert_content(hubert, signal, generator)  # (1, 768, T)
    return semantic_codes(sovits, ssl)


@dataclass(frozen=True)
class TrainingAudio:
    """What stage 1b makes of one clip: the training wav and the HuBERT input."""

    wav_32k: np.ndarray  # (n,) int16 at TRAINING_SR: level-normalised, truncated toward zero
    hubert_input_16k: np.ndarray  # (m,) float32 at 16 kHz, amplitude about ±1145 (not normalised further)
    peak: float  # peak of the decoded float signal


def training_audio(decoded_32k: np.ndarray) -> TrainingAudio:
    """Stage 1b's arithmetic on a decoded clip `decoded_32k` (n,) float32 mono at 32 kHz (see `decode_32k`).

    wav = x / peak × (0.95 × 0.5 × 32768) + 0.5 × 32768 × x, truncated to int16; the HuBERT input is the same
    with 1145.14 instead of 32768, resampled to 16 kHz with soxr HQ (`librosa.resample`'s default).
    Raises `AudioError` for a silent clip or one whose peak exceeds `MAX_DECODED_PEAK`.
    """
    x = np.asarray(decoded_32k, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise AudioError(f"expected a non-empty mono signal (n,), got shape {x.shape}")
    peak = float(np.abs(x).max())
    if peak == 0.0:
        raise AudioError("the clip is silent (every sample is 0); remove it from the list")
    if peak > MAX_DECODED_PEAK:
        raise AudioError(
            f"the clip peaks at {peak:.2f} (full scale is 1.0, the limit {MAX_DECODED_PEAK}); "
            "it is a float file far beyond full scale: normalise it and export it again"
        )
    peak32 = np.float32(peak)
    a32 = (
        x / peak32 * np.float32(_NORM_MAX * _NORM_ALPHA * _INT16_SCALE)
        + np.float32((1 - _NORM_ALPHA) * _INT16_SCALE) * x
    )
    b = (
        x / peak32 * np.float32(_NORM_MAX * _NORM_ALPHA * _HUBERT_INPUT_SCALE)
        + np.float32((1 - _NORM_ALPHA) * _HUBERT_INPUT_SCALE) * x
    )
    wav_16k = resample(b.astype(np.float32), TRAINING_SR, HUBERT_SR, method="soxr_hq")
    return TrainingAudio(wav_32k=a32.astype(np.int16), hubert_input_16k=wav_16k, peak=peak)


def decode_32k(path: str | os.PathLike) -> np.ndarray:
    """Decode any audio file to (n,) float32 mono at 32 kHz as stage 1b does (`core.audio.load_audio_ffmpeg`:
    the ffmpeg CLI, bit-identical to the reference's files). Raises `AudioError` if it cannot be read."""
    return load_audio_ffmpeg(Path(path), TRAINING_SR)


def _excerpt(text: str, limit: int = 60) -> str:
    """`text` quoted for an error message, shortened so a huge input does not make a huge message."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
