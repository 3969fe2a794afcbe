"""Cut long recordings into training clips at silences: the reference's slicer, plus a maximum clip length.

`find_clips` is the reference's `tools/slicer2.py` algorithm (RMS per hop, silences at least
`min_interval_ms` long cut once the clip so far is at least `min_length_ms` long, at most `max_sil_kept_ms`
of silence kept at each side) with the defaults of its web UI. Timbre adds `max_clip_seconds` (default 12 s):
a clip still longer than that is split at its quietest point (lowest RMS averaged over `_QUIET_WINDOW_MS`),
again until every piece fits. `normalize_clip` is the reference's per-clip level mix (`max`, `alpha`).

`mode="vad"` finds the pauses with silero-vad (`core.data.vad`) instead of a volume threshold, for
recordings whose noise or room tone sits above any useful threshold: a non-speech run at least
`min_interval_ms` long is cut in its middle (at most `max_sil_kept_ms` of it kept on each side), once
the clip so far is at least `min_length_ms` long; the maximum clip length rule is the same.

Positions are sample indices at the rate of the signal handed in (the reference slices at 32 kHz).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import load_audio_ffmpeg, write_wav
from core.errors import TimbreError

SLICE_SR = 32000
SLICER_MODES = ("rms", "vad")
"""The rate the reference decodes recordings to before slicing (and writes its clips at), Hz."""
# Quietness for the max-length split: frame RMS averaged over this long, so a pause between sentences
# wins over a short stop inside a word.
_QUIET_WINDOW_MS = 100.0
_INT16_PEAK = 32767  # the reference writes clips as (x * 32767) truncated
_RMS_BLOCK_FRAMES = 2048  # frames per block in `frame_rms` (bounds its memory: ~5 MB at a 10 ms hop)


class SliceError(TimbreError):
    """Slicer settings that cannot work together, or audio that cannot be sliced."""


@dataclass(frozen=True)
class SlicerSettings:
    """The reference's slicer knobs (defaults = its web UI) plus Timbre's maximum clip length.

    threshold_db: frames quieter than this (RMS, dBFS) may be cut; min_length_ms: a clip is not ended
    before it is this long; min_interval_ms: shortest silence that is cut; hop_size_ms: RMS frame hop;
    max_sil_kept_ms: silence kept at each side of a cut; max_clip_seconds: longer clips are split at their
    quietest point; normalize_max / normalize_alpha: the per-clip level mix (see `normalize_clip`);
    mode: "rms" (the reference's volume threshold) or "vad" (silero-vad's speech detection; threshold_db
    is then unused).
    """

    threshold_db: float = -34.0
    min_length_ms: int = 4000
    min_interval_ms: int = 300
    hop_size_ms: int = 10
    max_sil_kept_ms: int = 500
    max_clip_seconds: float = 12.0
    normalize_max: float = 0.9
    normalize_alpha: float = 0.25
    mode: str = "rms"

    def __post_init__(self) -> None:
        if self.mode not in SLICER_MODES:
            raise SliceError(f"slicer mode {self.mode!r} is unknown; use one of {', '.join(SLICER_MODES)}")
        if not self.min_length_ms >= self.min_interval_ms >= self.hop_size_ms > 0:
            raise SliceError(
                "slicer settings need min_length ≥ min_interval ≥ hop_size > 0 (ms), got "
                f"{self.min_length_ms}, {self.min_interval_ms}, {self.hop_size_ms}; raise min_length or "
                "lower min_interval"
            )
        if self.max_sil_kept_ms < self.hop_size_ms:
            raise SliceError(
                f"max_sil_kept ({self.max_sil_kept_ms} ms) must be at least hop_size ({self.hop_size_ms} ms)"
            )
        if self.max_clip_seconds * 1000 < 2 * self.min_interval_ms:
            raise SliceError(
                f"max_clip_seconds {self.max_clip_seconds:g} is too short; use at least "
                f"{2 * self.min_interval_ms / 1000:g} s (twice min_interval)"
            )
        if not (0 < self.normalize_max <= 1 and 0 <= self.normalize_alpha <= 1):
            raise SliceError(
                f"normalize_max must be in (0, 1] and normalize_alpha in [0, 1], got "
                f"{self.normalize_max:g} and {self.normalize_alpha:g}"
            )


@dataclass(frozen=True)
class Clip:
    """One slice: samples [start, end) of the signal it was cut from."""

    start: int
    end: int

    def seconds(self, sr: int) -> float:
        return (self.end - self.start) / sr


def frame_rms(samples: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """RMS of frames centred on every `hop_length`-th sample (zero padding of frame_length // 2 at both ends,
    as librosa's `rms(center=True, pad_mode="constant")`): (n,) float → (1 + n // hop_length,) float64.

    Works through the signal in blocks of `_RMS_BLOCK_FRAMES` frames, so a memory-mapped recording of hours
    is never copied whole."""
    n = samples.shape[0]
    pad = frame_length // 2
    n_frames = 1 + (n + 2 * pad - frame_length) // hop_length
    if n_frames <= 0:
        return np.zeros(0)
    out = np.empty(n_frames)
    for first in range(0, n_frames, _RMS_BLOCK_FRAMES):
        last = min(n_frames, first + _RMS_BLOCK_FRAMES)
        lo = first * hop_length - pad
        hi = (last - 1) * hop_length - pad + frame_length
        block = np.asarray(samples[max(0, lo) : min(n, hi)], dtype=np.float64)
        block = np.pad(block, (max(0, -lo), max(0, hi - n)))
        energy = np.concatenate([[0.0], np.cumsum(np.square(block))])
        starts = np.arange(last - first) * hop_length
        sums = np.maximum(energy[starts + frame_length] - energy[starts], 0.0)
        out[first:last] = np.sqrt(sums / frame_length)
    return out


def _silence_tags(rms: np.ndarray, threshold: float, min_length: int, min_interval: int, max_sil: int):
    """The reference's silence ranges to remove, as (first frame, last frame) pairs (slicer2.py `slice`)."""
    tags: list[tuple[int, int]] = []
    silence_start: int | None = None
    clip_start = 0
    for i, value in enumerate(rms):
        if value < threshold:
            if silence_start is None:
                silence_start = i
            continue
        if silence_start is None:
            continue
        is_leading_silence = silence_start == 0 and i > max_sil
        need_slice_middle = i - silence_start >= min_interval and i - clip_start >= min_length
        if not is_leading_silence and not need_slice_middle:
            silence_start = None
            continue
        if i - silence_start <= max_sil:
            pos = int(rms[silence_start : i + 1].argmin()) + silence_start
            tags.append((0, pos) if silence_start == 0 else (pos, pos))
            clip_start = pos
        elif i - silence_start <= max_sil * 2:
            pos = int(rms[i - max_sil : silence_start + max_sil + 1].argmin()) + i - max_sil
            pos_l = int(rms[silence_start : silence_start + max_sil + 1].argmin()) + silence_start
            pos_r = int(rms[i - max_sil : i + 1].argmin()) + i - max_sil
            if silence_start == 0:
                tags.append((0, pos_r))
                clip_start = pos_r
            else:
                tags.append((min(pos_l, pos), max(pos_r, pos)))
                clip_start = max(pos_r, pos)
        else:
            pos_l = int(rms[silence_start : silence_start + max_sil + 1].argmin()) + silence_start
            pos_r = int(rms[i - max_sil : i + 1].argmin()) + i - max_sil
            tags.append((0, pos_r) if silence_start == 0 else (pos_l, pos_r))
            clip_start = pos_r
        silence_start = None
    total = rms.shape[0]
    if silence_start is not None and total - silence_start >= min_interval:
        silence_end = min(total, silence_start + max_sil)
        pos = int(rms[silence_start : silence_end + 1].argmin()) + silence_start
        tags.append((pos, total + 1))
    return tags


def _reference_clips(samples: np.ndarray, sr: int, settings: SlicerSettings) -> list[Clip]:
    """Clips exactly as the reference's Slicer cuts them."""
    min_interval = sr * settings.min_interval_ms / 1000
    hop, win = _frame_sizes(sr, settings)
    min_length = round(sr * settings.min_length_ms / 1000 / hop)
    n = samples.shape[0]
    if n <= min_length:  # (the reference compares samples with frames here; kept)
        return [Clip(0, n)]
    rms = frame_rms(samples, win, hop)
    tags = _silence_tags(
        rms,
        10 ** (settings.threshold_db / 20.0),
        min_length,
        round(min_interval / hop),
        round(sr * settings.max_sil_kept_ms / 1000 / hop),
    )
    total = rms.shape[0]
    if not tags:
        return [Clip(0, min(n, total * hop))]
    bounds = []
    if tags[0][0] > 0:
        bounds.append((0, tags[0][0]))
    bounds += [(tags[i][1], tags[i + 1][0]) for i in range(len(tags) - 1)]
    if tags[-1][1] < total:
        bounds.append((tags[-1][1], total))
    clips = [Clip(a * hop, min(n, b * hop)) for a, b in bounds]
    return [c for c in clips if c.end > c.start]


def _split_at_quiet(samples: np.ndarray, clip: Clip, max_len: int, sr: int, hop: int, win: int) -> list[Clip]:
    """Split `clip` at its quietest points until every piece is at most `max_len` samples: each piece ends
    at the quietest frame that leaves it at most `max_len` long and both it and the rest at least a
    quarter of that."""
    quiet_frames = max(1, round(_QUIET_WINDOW_MS / 1000 * sr / hop))
    rms = frame_rms(samples[clip.start : clip.end], win, hop)  # frame k is centred on clip.start + k * hop
    if quiet_frames > 1:
        rms = np.convolve(rms, np.ones(quiet_frames) / quiet_frames, mode="same")
    min_piece = max_len // 4
    out, start = [], clip.start
    while clip.end - start > max_len:
        lo, hi = start + min_piece, min(start + max_len, clip.end - min_piece)
        first = -(-(lo - clip.start) // hop)  # frames whose centre lies in [lo, hi]
        last = (hi - clip.start) // hop
        cut = clip.start + (int(rms[first : last + 1].argmin()) + first) * hop
        out.append(Clip(start, cut))
        start = cut
    out.append(Clip(start, clip.end))
    return out


def _vad_clips(samples: np.ndarray, sr: int, settings: SlicerSettings) -> list[Clip]:
    """Clips between silero-vad's non-speech runs (see the module's docstring); [] when it hears no speech."""
    from core.data.vad import nonspeech_runs

    n = samples.shape[0]
    runs = nonspeech_runs(samples, sr)
    if runs == [(0, n)]:
        return []
    keep = round(sr * settings.max_sil_kept_ms / 1000)
    min_gap = round(sr * settings.min_interval_ms / 1000)
    min_length = round(sr * settings.min_length_ms / 1000)
    start = max(0, runs[0][1] - keep) if runs and runs[0][0] == 0 else 0
    clips = []
    for gap_start, gap_end in runs:
        if gap_start == 0 or gap_end == n or gap_end - gap_start < min_gap:
            continue
        middle = (gap_start + gap_end) // 2
        end, next_start = min(middle, gap_start + keep), max(middle, gap_end - keep)
        if end - start >= min_length:
            clips.append(Clip(start, end))
            start = next_start
    end = min(n, runs[-1][0] + keep) if runs and runs[-1][1] == n else n
    clips.append(Clip(start, end))
    return [c for c in clips if c.end > c.start]


def _frame_sizes(sr: int, settings: SlicerSettings) -> tuple[int, int]:
    """The reference slicer's RMS hop and window at `sr` (samples)."""
    hop = round(sr * settings.hop_size_ms / 1000)
    return hop, min(round(sr * settings.min_interval_ms / 1000), 4 * hop)


def find_clips(wav: np.ndarray, sr: int, settings: SlicerSettings | None = None) -> list[Clip]:
    """Where to cut `wav` ((n,) or (channels, n) float, channels averaged for the decision) at `sr` Hz.

    The reference's slicer (or the VAD, `settings.mode == "vad"`), then every clip longer than
    `settings.max_clip_seconds` split at its quietest points. Returns clips in order; they do not overlap
    (the removed silence lies between them). In VAD mode, audio without speech gives no clip.
    """
    settings = settings or SlicerSettings()
    samples = np.asarray(wav, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=0)
    if samples.ndim != 1 or samples.shape[0] == 0:
        raise SliceError(f"expected a non-empty signal (n,) or (channels, n), got shape {np.shape(wav)}")
    hop, win = _frame_sizes(sr, settings)
    find = _vad_clips if settings.mode == "vad" else _reference_clips
    clips = find(samples, sr, settings)
    max_len = int(settings.max_clip_seconds * sr)
    out = []
    for clip in clips:
        out.extend(
            _split_at_quiet(samples, clip, max_len, sr, hop, win)
            if clip.end - clip.start > max_len
            else [clip]
        )
    return out


def normalize_clip(chunk: np.ndarray, settings: SlicerSettings | None = None) -> np.ndarray:
    """The reference's level mix of a sliced clip: y = x / peak × (max × alpha) + (1 − alpha) × x, after
    scaling x to peak 1 if it exceeds it. (n,) float → (n,) int16 (× 32767, truncated, as the reference).
    A silent clip stays silent."""
    settings = settings or SlicerSettings()
    x = np.asarray(chunk, dtype=np.float32)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak == 0.0:
        return np.zeros(x.shape, dtype=np.int16)
    if peak > 1:
        x = x / np.float32(peak)
        peak = 1.0
    alpha = settings.normalize_alpha
    y = x / np.float32(peak) * np.float32(settings.normalize_max * alpha) + np.float32(1 - alpha) * x
    return (y * _INT16_PEAK).astype(np.int16)


def clip_origin(path: str | os.PathLike) -> tuple[str, int, int] | None:
    """(recording file name, start, end) of a clip `slice_file` named (samples at `SLICE_SR`); None for a
    file named otherwise."""
    parts = Path(path).stem.rsplit("_", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], int(parts[1]), int(parts[2])
    return None


def slice_file(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: SlicerSettings | None = None,
    on_progress: Callable[[float, str], None] | None = None,
) -> list[Path]:
    """Slice one recording into `out_dir/<file name>_<start>_<end>.wav` (16-bit mono, 32 kHz; start and end
    are sample indices at 32 kHz, zero-padded to 10 digits: the reference's names). Returns the files.

    The recording is decoded into a temporary file and read through a memory map, so memory stays bounded
    (a few clips) however long it is; `on_progress(fraction, message)` is called as clips are written and
    may raise to stop.
    """
    settings = settings or SlicerSettings()
    path = Path(path)
    report = on_progress or (lambda fraction, message: None)
    written = []
    with tempfile.TemporaryDirectory(prefix="timbre-slice-") as tmp:
        wav = load_audio_ffmpeg(path, SLICE_SR, into=Path(tmp) / "decoded.f32")
        report(0.0, f"{path.name}: finding silences")
        clips = find_clips(wav, SLICE_SR, settings)
        for index, clip in enumerate(clips):
            target = Path(out_dir) / f"{path.name}_{clip.start:010d}_{clip.end:010d}.wav"
            written.append(write_wav(target, normalize_clip(wav[clip.start : clip.end], settings), SLICE_SR))
            report((index + 1) / len(clips), f"{path.name}: clip {index + 1} of {len(clips)}")
        del wav  # the memory map must be closed before its file is removed
    return written
