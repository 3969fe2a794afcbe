"""Denoise recordings with RNNoise before slicing: time-aligned, streamed, never over the originals.

RNNoise (the `pyrnnoise` wheel's `librnnoise.so`, weights compiled in) works on 480-sample frames at
48 kHz. We call the library directly through ctypes and resample to and from 48 kHz with soxr HQ, streamed
(the resampler of `core.audio.resample`; soxr removes its own filter delay), instead of pyrnnoise's
`RNNoise` class, whose PyAV resampling adds a delay of its own. RNNoise's delay is a fixed
`RNNOISE_DELAY` samples at 48 kHz; it is compensated (the first output samples dropped, as many zeros
fed at the end), so a sound at time t is still at time t after denoising and slice times stay true.

RNNoise, trained on natural speech, also removes parts of speech it takes for noise: on espeak-ng speech it
took more than 10 dB from 9-14% of the 20 ms speech frames, with or without noise, and Whisper tiny.en's
word error rate at 30 dB SNR went from 18% to 46%. Its own voice-activity estimate hears speech in 97% of
the speech frames, so there (and for `_HANGOVER_FRAMES` after, to keep word endings) the suppression is
bounded: the output keeps a share of the input so that at most `speech_reduction_db` is taken away (a
dry/wet mix, as DeepFilterNet's attenuation limit or Audacity's noise reduction amount). Pauses are
denoised in full. Measured in tests/test_denoise.py's docstring.

`denoise_file` writes a copy (mono, 32 kHz, 32-bit float WAV, as imported recordings) and refuses to
write over its input; memory stays bounded (a block of `_BLOCK_SECONDS`) however long the recording.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from core.audio import load_audio_ffmpeg
from core.data.importer import IMPORT_SR
from core.errors import AudioError, TimbreError
from core.workspace import atomic_replace

RNNOISE_SR = 48000
RNNOISE_FRAME = 480
RNNOISE_DELAY = 2 * RNNOISE_FRAME
"""Output lag of RNNoise, samples at 48 kHz (20 ms; measured with clicks, see tests/test_denoise.py)."""
SPEECH_REDUCTION_DB = 6.0
"""Default bound on what denoising takes away where RNNoise hears speech, dB (`math.inf`: no bound)."""
_VAD_THRESHOLD = 0.5  # RNNoise's voice-activity probability above which a frame is speech
_HANGOVER_FRAMES = 20  # 200 ms after speech still count as speech (word endings, short pauses)
_PCM_SCALE = 32768.0  # RNNoise expects float samples on the int16 scale
_BLOCK_SECONDS = 30.0
_FLOAT_P = ctypes.POINTER(ctypes.c_float)


class DenoiseError(TimbreError):
    """RNNoise is not installed, or a recording cannot be denoised."""


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    """pyrnnoise's RNNoise library, loaded without importing the package (its __init__ pulls in PyAV)."""
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or not spec.submodule_search_locations:
        raise DenoiseError("denoising needs pyrnnoise; install it with `pip install pyrnnoise==0.4.5`")
    path = Path(next(iter(spec.submodule_search_locations))) / "librnnoise.so"
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise DenoiseError(f"cannot load RNNoise from {path} ({exc}); reinstall pyrnnoise") from exc
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    lib.rnnoise_get_frame_size.restype = ctypes.c_int
    if lib.rnnoise_get_frame_size() != RNNOISE_FRAME:
        raise DenoiseError(f"{path}: unexpected RNNoise frame size; install pyrnnoise==0.4.5")
    return lib


class Denoiser:
    """Streaming RNNoise at any rate: `process(block)` returns denoised samples aligned with the input.

    Output comes in blocks of varying length (resampler and frame buffering); after `process(..., last=True)`
    the total output has exactly as many samples as the total input. Where RNNoise hears speech it takes
    away at most `speech_reduction_db` (`math.inf`: no bound; see the module docstring).
    """

    def __init__(self, sr: int, speech_reduction_db: float = SPEECH_REDUCTION_DB) -> None:
        import soxr

        if not speech_reduction_db >= 0:  # NaN too
            raise DenoiseError(f"speech reduction: dB taken away, 0 or more, not {speech_reduction_db}")
        self._lib = _library()
        # The input's share in the output during speech: the mix keeps at least this much of the signal.
        self._dry_share = 10 ** (-speech_reduction_db / 20)
        self._dry = np.zeros(RNNOISE_DELAY, dtype=np.float32)  # the input, delayed as RNNoise's output
        self._since_speech = _HANGOVER_FRAMES + 1  # frames since RNNoise last heard speech
        self._share = 0.0  # the dry share at the end of the previous frame
        self._state = self._lib.rnnoise_create(None)
        self._up = soxr.ResampleStream(sr, RNNOISE_SR, 1, dtype="float32", quality="HQ")
        self._down = soxr.ResampleStream(RNNOISE_SR, sr, 1, dtype="float32", quality="HQ")
        self._pending = np.zeros(0, dtype=np.float32)  # 48 kHz samples waiting for a full frame
        self._to_drop = RNNOISE_DELAY
        self._n_in = self._n_out = 0

    def __del__(self) -> None:
        if getattr(self, "_state", None):
            self._lib.rnnoise_destroy(self._state)
            self._state = None

    def _run_frames(self, x48: np.ndarray) -> np.ndarray:
        """RNNoise over whole frames of 48 kHz audio (in place in one scaled copy), mixed with the input
        where it hears speech."""
        buffer = np.ascontiguousarray(x48 * _PCM_SCALE, dtype=np.float32)
        address = buffer.ctypes.data
        n_frames = buffer.shape[0] // RNNOISE_FRAME
        shares = np.empty(n_frames + 1, dtype=np.float32)
        shares[0] = self._share
        for index in range(n_frames):
            frame = ctypes.cast(address + index * RNNOISE_FRAME * buffer.itemsize, _FLOAT_P)
            speech = self._lib.rnnoise_process_frame(self._state, frame, frame) > _VAD_THRESHOLD
            self._since_speech = 0 if speech else self._since_speech + 1
            shares[index + 1] = self._dry_share if self._since_speech <= _HANGOVER_FRAMES else 0.0
        wet = buffer / np.float32(_PCM_SCALE)
        if not self._dry_share:
            return wet
        dry = np.concatenate([self._dry, x48])
        self._dry = dry[dry.shape[0] - RNNOISE_DELAY :]
        # The share ramps across each frame from the previous frame's value: no step, no click.
        ramp = np.arange(RNNOISE_FRAME, dtype=np.float32) / RNNOISE_FRAME
        share = (shares[:-1, None] * (1 - ramp) + shares[1:, None] * ramp).reshape(-1)
        self._share = float(shares[-1])
        return wet + share * (dry[: wet.shape[0]] - wet)

    def process(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """Denoise the next (n,) float block of the signal; `last=True` flushes everything."""
        block = np.ascontiguousarray(block, dtype=np.float32)
        self._n_in += block.shape[0]
        x48 = np.concatenate([self._pending, self._up.resample_chunk(block, last=last)])
        if last:  # push the delayed tail out, then complete the last frame
            x48 = np.concatenate([x48, np.zeros(RNNOISE_DELAY, dtype=np.float32)])
            x48 = np.pad(x48, (0, -x48.shape[0] % RNNOISE_FRAME))
        usable = x48.shape[0] - x48.shape[0] % RNNOISE_FRAME
        self._pending = x48[usable:]
        y48 = self._run_frames(x48[:usable])
        dropped = min(self._to_drop, y48.shape[0])
        self._to_drop -= dropped
        out = self._down.resample_chunk(y48[dropped:], last=last)
        if last:  # the frame padding leaves a few samples too many (or the resampler too few)
            remaining = self._n_in - self._n_out
            out = np.pad(out[:remaining], (0, max(0, remaining - out.shape[0])))
        self._n_out += out.shape[0]
        return out


def denoise(wav: np.ndarray, sr: int, speech_reduction_db: float = SPEECH_REDUCTION_DB) -> np.ndarray:
    """RNNoise on a whole (n,) float signal at `sr` Hz → (n,) float32, delay compensated (see `Denoiser`)."""
    samples = np.asarray(wav, dtype=np.float32)
    if samples.ndim != 1:
        raise DenoiseError(f"expected a mono signal (n,), got shape {samples.shape}; downmix it first")
    return Denoiser(sr, speech_reduction_db).process(samples, last=True)


def denoise_file(
    path: str | os.PathLike,
    out_path: str | os.PathLike,
    on_progress: Callable[[float, str], None] | None = None,
    speech_reduction_db: float = SPEECH_REDUCTION_DB,
) -> Path:
    """Write a denoised copy of recording `path` to `out_path` (mono, 32 kHz, float WAV). Returns it.

    The recording is decoded into a temporary file and denoised in blocks (bounded memory);
    `on_progress(fraction, message)` is called after each block and may raise to stop.
    """
    path, out_path = Path(path), Path(out_path)
    if out_path.resolve() == path.resolve():
        raise DenoiseError(f"{out_path}: the denoised copy would overwrite the original; use another folder")
    report = on_progress or (lambda fraction, message: None)
    block = int(_BLOCK_SECONDS * IMPORT_SR)
    with tempfile.TemporaryDirectory(prefix="timbre-denoise-") as tmp:
        wav = load_audio_ffmpeg(path, IMPORT_SR, into=Path(tmp) / "decoded.f32")
        n = wav.shape[0]
        denoiser = Denoiser(IMPORT_SR, speech_reduction_db)
        with atomic_replace(out_path) as target:
            with sf.SoundFile(target, "w", IMPORT_SR, 1, subtype="FLOAT", format="WAV") as f:
                for start in range(0, n, block):
                    f.write(denoiser.process(wav[start : start + block], last=start + block >= n))
                    report(min(1.0, (start + block) / n), f"{path.name}: denoising")
        del wav  # the memory map must be closed before its file is removed
    return out_path


def denoise_preview(path: str | os.PathLike, seconds: float = 10.0) -> tuple[int, np.ndarray, np.ndarray]:
    """The first `seconds` of recording `path` before and after denoising: (sr, before, after), float32."""
    try:
        before, sr = sf.read(str(path), frames=int(seconds * sf.info(str(path)).samplerate), dtype="float32")
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{Path(path).name}: not a readable WAV file ({exc})") from exc
    if before.ndim == 2:
        before = before.mean(axis=1)
    return sr, before, denoise(before, sr)
