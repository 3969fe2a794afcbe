"""Where people speak: silero-vad's speech probability per 32 ms window, and the non-speech gaps between.

The model is the `silero-vad` wheel's own `silero_vad.onnx` (nothing downloaded), run with onnxruntime
directly: the package's Python wrapper needs torch tensors for every 32 ms window, and we only need the
probabilities. The signal is resampled to 16 kHz in blocks (soxr HQ streamed, the resampler of
`core.audio.resample`), so a recording of hours is never copied whole.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from core.errors import TimbreError

VAD_SR = 16000
VAD_WINDOW = 512  # samples per probability at 16 kHz (32 ms), the model's fixed input size
_CONTEXT = 64  # samples of the previous window the model sees before each window
# Hysteresis, as silero's own `get_speech_timestamps`: speech starts at ≥ 0.5, ends below 0.35.
SPEECH_THRESHOLD = 0.5
_END_THRESHOLD = SPEECH_THRESHOLD - 0.15
_BLOCK_SECONDS = 30.0


class VadError(TimbreError):
    """silero-vad is missing or its model cannot be loaded."""


@functools.lru_cache(maxsize=1)
def _model_path() -> Path:
    # Found without importing the package: its __init__ imports torch, which onnxruntime does not need.
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise VadError("the VAD slicing mode needs silero-vad; install it: `pip install silero-vad==6.2.3`")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise VadError(f"{path} is missing; reinstall it: `pip install --force-reinstall silero-vad`")
    return path


def _session():
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = options.intra_op_num_threads = 1  # windows run one after another
    return onnxruntime.InferenceSession(
        str(_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )


def speech_probabilities(samples: np.ndarray, sr: int) -> np.ndarray:
    """Speech probability of each 32 ms window of (n,) float `samples` at `sr` Hz: window k covers seconds
    [k, k + 1) × VAD_WINDOW / VAD_SR. The last, partial window is zero-padded."""
    import soxr

    session = _session()
    state = np.zeros((2, 1, 128), dtype=np.float32)
    rate = np.array(VAD_SR, dtype=np.int64)
    resampler = soxr.ResampleStream(sr, VAD_SR, 1, dtype="float32", quality="HQ") if sr != VAD_SR else None
    context = np.zeros(_CONTEXT, dtype=np.float32)
    pending = np.zeros(0, dtype=np.float32)
    out: list[float] = []
    n, block = samples.shape[0], int(_BLOCK_SECONDS * sr)
    for start in range(0, n, block):
        chunk = np.ascontiguousarray(samples[start : start + block], dtype=np.float32)
        last = start + block >= n
        x = resampler.resample_chunk(chunk, last=last) if resampler else chunk
        x = np.concatenate([pending, x])
        if last:
            x = np.pad(x, (0, -x.shape[0] % VAD_WINDOW))
        usable = x.shape[0] - x.shape[0] % VAD_WINDOW
        pending = x[usable:]
        for i in range(0, usable, VAD_WINDOW):
            window = np.concatenate([context, x[i : i + VAD_WINDOW]])[None, :]
            prob, state = session.run(None, {"input": window, "state": state, "sr": rate})
            out.append(float(prob[0, 0]))
            context = window[0, -_CONTEXT:]
    return np.asarray(out)


def speech_windows(probabilities: np.ndarray) -> np.ndarray:
    """Which windows are speech (bool), with silero's hysteresis (starts at ≥ 0.5, lasts while ≥ 0.35)."""
    speech = np.zeros(probabilities.shape[0], dtype=bool)
    inside = False
    for k, p in enumerate(probabilities):
        inside = p >= _END_THRESHOLD if inside else p >= SPEECH_THRESHOLD
        speech[k] = inside
    return speech


def nonspeech_runs(samples: np.ndarray, sr: int) -> list[tuple[int, int]]:
    """Every run of non-speech in `samples` as [start, end) sample ranges at `sr`, in order; the first may
    start at 0 and the last end at n. Empty when the VAD hears speech everywhere."""
    n = samples.shape[0]
    speech = speech_windows(speech_probabilities(samples, sr))
    step = VAD_WINDOW * sr / VAD_SR  # samples at `sr` per window
    edges = np.flatnonzero(np.diff(np.concatenate([[True], speech, [True]]).astype(np.int8)))
    runs = []
    for first, last in zip(edges[::2], edges[1::2], strict=True):  # windows [first, last) are non-speech
        runs.append((min(n, round(first * step)), min(n, round(last * step))))
    return [(a, b) for a, b in runs if b > a]
