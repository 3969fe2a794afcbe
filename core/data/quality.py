"""How usable recordings are for training: duration, peak and clipping, loudness, silence, noise, a verdict.

All measures are pure functions of a mono float signal in [-1, 1] and its rate. Loudness is ITU-R BS.1770-4
integrated loudness (K-weighting, 400 ms blocks with 75 % overlap, −70 LUFS absolute and −10 LU relative
gates). Speech and silence are told apart by 20 ms frame energy against the recording's own noise floor,
so the SNR is an estimate (speech-frame power over the quietest frames' power), not a measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Recommendations for a fine-tuning dataset (the usual guidance: at least a minute of clean speech).
MIN_SPEECH_SECONDS = 60.0
MAX_USEFUL_SPEECH_SECONDS = 300.0
MAX_CLIPPED_FRACTION = 0.001  # samples at full scale
MIN_SNR_DB = 20.0
QUIET_LUFS = -35.0

_CLIP_LEVEL = 0.999  # |x| at or above this counts as clipped (int16 full scale is 32767/32768)
_FRAME_SECONDS = 0.02
_SPEECH_ABOVE_FLOOR_DB = 6.0  # a frame this far above the noise floor is speech
_ABSOLUTE_SILENCE_DBFS = -60.0  # frames below this are silence whatever the floor
_NOISE_PERCENTILE = 10  # the noise floor: this percentile of frame energies
# BS.1770 constants
_BLOCK_SECONDS = 0.4
_BLOCK_OVERLAP = 0.75
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_LUFS_OFFSET = -0.691


def _biquad(b: tuple[float, float, float], a: tuple[float, float, float], x: np.ndarray) -> np.ndarray:
    from scipy.signal import lfilter  # deferred: only loudness needs scipy

    return lfilter(np.asarray(b), np.asarray(a), x)


def _k_weighting(x: np.ndarray, sr: int) -> np.ndarray:
    """BS.1770's two-stage K filter (high shelf +4 dB at ~1.68 kHz, then a ~38 Hz high-pass) at any rate,
    from the analogue prototypes as libebur128 does (the standard's own coefficients at 48 kHz)."""
    # Stage 1: high shelf.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sr)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    b = ((vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0)
    a = (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0)
    y = _biquad(b, a, x)
    # Stage 2: high-pass.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sr)
    a0 = 1 + k / q + k * k
    return _biquad((1.0, -2.0, 1.0), (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0), y)


def integrated_loudness(wav: np.ndarray, sr: int) -> float:
    """BS.1770-4 integrated loudness of a mono signal `wav` (n,) at `sr` Hz, in LUFS; -inf when every block
    is gated out (silence, or shorter than one 400 ms block)."""
    x = _k_weighting(np.asarray(wav, dtype=np.float64), sr)
    block = int(round(_BLOCK_SECONDS * sr))
    step = int(round(block * (1 - _BLOCK_OVERLAP)))
    if x.shape[0] < block or step <= 0:
        return -math.inf
    power = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(0, x.shape[0] - block + 1, step)
    z = (power[starts + block] - power[starts]) / block  # mean square per block
    with np.errstate(divide="ignore"):
        loudness = _LUFS_OFFSET + 10 * np.log10(z)
    kept = z[loudness > _ABSOLUTE_GATE_LUFS]
    if kept.size == 0:
        return -math.inf
    relative_gate = _LUFS_OFFSET + 10 * math.log10(kept.mean()) + _RELATIVE_GATE_LU
    kept = z[(loudness > _ABSOLUTE_GATE_LUFS) & (loudness > relative_gate)]
    return _LUFS_OFFSET + 10 * math.log10(kept.mean()) if kept.size else -math.inf


@dataclass(frozen=True)
class AudioQuality:
    """Measures of one recording (or of a set, see `combine`)."""

    seconds: float
    speech_seconds: float
    peak_dbfs: float
    clipped_fraction: float  # share of samples at full scale
    loudness_lufs: float
    silence_fraction: float  # share of 20 ms frames that are not speech
    snr_db: float  # speech power over noise-floor power (estimate); inf for digital silence between words
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def _db(value: float) -> float:
    return 10 * math.log10(value) if value > 0 else -math.inf


def measure(wav: np.ndarray, sr: int) -> AudioQuality:
    """Measure a mono float signal `wav` (n,) at `sr` Hz; `problems` says what is wrong with it alone
    (clipping, noise, level). Raises ValueError for an empty or non-mono signal."""
    x = np.asarray(wav, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected a non-empty mono signal (n,), got shape {x.shape}")
    frame = max(1, int(_FRAME_SECONDS * sr))
    n_frames = max(1, x.shape[0] // frame)
    frames = x[: n_frames * frame].reshape(n_frames, frame) if x.shape[0] >= frame else x[None]
    energy = np.mean(frames**2, axis=1)
    floor = float(np.percentile(energy, _NOISE_PERCENTILE))
    threshold = max(floor * 10 ** (_SPEECH_ABOVE_FLOOR_DB / 10), 10 ** (_ABSOLUTE_SILENCE_DBFS / 10))
    speech = energy > threshold
    speech_power = float(energy[speech].mean()) if speech.any() else 0.0
    noise_power = float(energy[~speech].mean()) if (~speech).any() else floor
    snr = math.inf if noise_power == 0 and speech_power > 0 else _db(speech_power) - _db(noise_power)
    if not speech.any():
        snr = -math.inf
    peak = float(np.abs(x).max())
    quality = AudioQuality(
        seconds=x.shape[0] / sr,
        speech_seconds=float(speech.sum()) * frame / sr,
        peak_dbfs=20 * math.log10(peak) if peak > 0 else -math.inf,
        clipped_fraction=float(np.mean(np.abs(x) >= _CLIP_LEVEL)),
        loudness_lufs=integrated_loudness(x, sr),
        silence_fraction=float(1 - speech.mean()),
        snr_db=snr,
    )
    return _with_problems(quality, per_file=True)


def _with_problems(q: AudioQuality, *, per_file: bool) -> AudioQuality:
    problems = []
    if q.speech_seconds == 0:
        problems.append("no speech found: the recording is silent or noise (speech under 6 dB SNR)")
    else:
        if q.clipped_fraction > MAX_CLIPPED_FRACTION:
            problems.append(
                f"clipped {100 * q.clipped_fraction:.1f}% of the time: record at a lower level (clipping "
                "cannot be undone)"
            )
        if q.snr_db < MIN_SNR_DB:
            problems.append(
                f"noisy: speech is about {q.snr_db:.0f} dB above the noise (recommended ≥ "
                f"{MIN_SNR_DB:g} dB); denoise it or record somewhere quieter"
            )
        if q.loudness_lufs < QUIET_LUFS:
            problems.append(
                f"very quiet ({q.loudness_lufs:.0f} LUFS): the level will be normalised, noise too"
            )
    if not per_file:
        if q.speech_seconds < MIN_SPEECH_SECONDS:
            problems.append(
                f"{q.speech_seconds:.0f} s of speech — below the recommended {MIN_SPEECH_SECONDS:.0f} s; "
                "add recordings"
            )
        elif q.speech_seconds > MAX_USEFUL_SPEECH_SECONDS:
            problems.append(
                f"{q.speech_seconds / 60:.1f} min of speech — more than the ~5 min a fine-tune needs; "
                "training will take longer without much gain"
            )
    return AudioQuality(**{**q.__dict__, "problems": tuple(problems)})


def combine(items: list[AudioQuality], *, per_file: bool = False) -> AudioQuality:
    """The set's measures (durations summed, the worst peak, duration-weighted shares and levels) and the
    set's verdict, which also checks the total amount of speech (`per_file=True`: pieces of one file, whose
    verdict does not)."""
    if not items:
        raise ValueError("no recordings to combine")
    total = sum(q.seconds for q in items)
    speech = sum(q.speech_seconds for q in items)

    def weighted(name: str) -> float:
        finite = [(getattr(q, name), q.seconds) for q in items if math.isfinite(getattr(q, name))]
        weight = sum(w for _, w in finite)
        return sum(v * w for v, w in finite) / weight if weight else -math.inf

    quality = AudioQuality(
        seconds=total,
        speech_seconds=speech,
        peak_dbfs=max(q.peak_dbfs for q in items),
        clipped_fraction=weighted("clipped_fraction"),
        loudness_lufs=weighted("loudness_lufs"),
        silence_fraction=weighted("silence_fraction"),
        snr_db=weighted("snr_db")
        if any(math.isfinite(q.snr_db) for q in items)
        else max(q.snr_db for q in items),
    )
    return _with_problems(quality, per_file=per_file)


def verdict(quality: AudioQuality) -> str:
    """One line for people: "good" or the problems, joined."""
    return "good" if quality.ok else "; ".join(quality.problems)
