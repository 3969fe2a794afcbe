"""Vocal / accompaniment separation before slicing, for recordings with music behind the voice: Demucs.

The library is `demucs` 4.1 (MIT), HT-Demucs by its author, released again in 2026 from his repository
(adefossez/demucs) after the original one was archived; its weights are on the Hugging Face Hub as
safetensors, one repository per model, which `python -m core pretrained download --separator NAME`
fetches into `<pretrained>/separator/NAME/` (`core.pretrained.SEPARATOR_MODELS`). Nothing is downloaded
behind the user's back: a missing model is a `PretrainedMissingError` naming that command.
Not python-audio-separator (the UVR MDX-Net / Roformer models the reference's UVR5 tool runs): its current
releases require numpy >= 2 and onnx-weekly, which clash with this project's pins, and a dozen more
packages; demucs adds four small ones (julius, einops, lameenc, sphn).

A recording is decoded at 32 kHz mono (as imported recordings), resampled to the model's rate and given to
both of its input channels, normalised as demucs does, and separated in blocks of `_BLOCK_SECONDS` with
`_CONTEXT_SECONDS` of audio on each side and a `_FADE_SECONDS` crossfade between blocks, so memory stays
bounded however long the recording. The vocals are written mono, 32 kHz, float WAV; the accompaniment is
the rest (recording minus vocals), so the two add up to the recording. Demucs adds no delay: slice times
stay true. `shifts=0` (no random time shifts): the same input always gives the same output.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from core.audio import load_audio_ffmpeg, resample
from core.data.importer import IMPORT_SR
from core.errors import PretrainedMissingError, TimbreError
from core.pretrained import (
    DEFAULT_SEPARATOR,
    SEPARATOR_DIR,
    SEPARATOR_MODELS,
    separator_download_command,
    separator_missing,
)
from core.workspace import atomic_replace

ACCOMPANIMENT_DIR = "accompaniment"
"""Subfolder of the output folder for the accompaniment (so that slicing the output folder slices vocals)."""
_BLOCK_SECONDS = 60.0
_CONTEXT_SECONDS = 2.0
_FADE_SECONDS = 1.0
_VOCALS = "vocals"


class SeparateError(TimbreError):
    """demucs is not installed, or a model or recording cannot be used for separation."""


@dataclass(frozen=True)
class Separation:
    """The files `separate_file` wrote."""

    vocals: Path
    accompaniment: Path | None


def model_folder(model: str, pretrained_dir: str | os.PathLike) -> Path:
    """A model folder given by path, or by name under `<pretrained_dir>/separator/`."""
    given = Path(model)
    return given if given.is_dir() else Path(pretrained_dir) / SEPARATOR_DIR / model


def require_model(model: str, pretrained_dir: str | os.PathLike) -> Path:
    """The model folder, complete; else a `PretrainedMissingError` saying what to run (nothing is read)."""
    folder = model_folder(model, pretrained_dir)
    missing = separator_missing(folder)
    if not missing:
        return folder
    if folder.name in SEPARATOR_MODELS:
        todo = f"run `{separator_download_command(folder.name, pretrained_dir)}` when online"
    else:
        known = ", ".join(SEPARATOR_MODELS)
        todo = f"`python -m core pretrained download --separator NAME` fetches one of {known}"
    raise PretrainedMissingError(
        f"vocal separation model {folder.name!r} is not in {folder} (missing {', '.join(missing)}); {todo}"
    )


class VocalSeparator:
    """A Demucs model (a bag of one or more) that splits recordings into vocals and accompaniment."""

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        import yaml

        try:
            from demucs.apply import BagOfModels
            from demucs.hf import load_safetensors_model
        except ImportError as exc:
            raise SeparateError(
                f"vocal separation needs demucs ({exc}): `pip install demucs==4.1.0`"
            ) from exc
        bag_file = folder / f"{folder.name}.yaml"
        try:
            bag = yaml.safe_load(bag_file.read_text(encoding="utf-8"))
            models = [load_safetensors_model(folder / f"{sig}.safetensors") for sig in bag["models"]]
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
            raise SeparateError(
                f"{folder}: not a usable Demucs model ({type(exc).__name__}: {exc}); download it again"
            ) from exc
        self.model = BagOfModels(models, bag.get("weights"), bag.get("segment")).eval()
        if _VOCALS not in self.model.sources:
            raise SeparateError(f"{folder}: the model separates {self.model.sources}, no vocals")
        self.name = folder.name
        self.device = device

    def vocals(self, wav: np.ndarray, sr: int) -> np.ndarray:
        """The vocals of a (n,) float signal at `sr` Hz → (n,) float32."""
        import torch
        from demucs.apply import apply_model

        x = resample(np.asarray(wav, dtype=np.float32), sr, self.model.samplerate)
        mix = torch.from_numpy(np.ascontiguousarray(x)).expand(self.model.audio_channels, -1)
        mean, std = mix.mean(), mix.std() + 1e-8  # demucs separates a normalised mix
        with torch.inference_mode():
            sources = apply_model(self.model, ((mix - mean) / std)[None], shifts=0, device=self.device)[0]
        vocals = (sources[self.model.sources.index(_VOCALS)] * std + mean).mean(dim=0).cpu().numpy()
        out = resample(vocals.astype(np.float32), self.model.samplerate, sr)[: wav.shape[0]]
        return np.pad(out, (0, wav.shape[0] - out.shape[0]))

    def separate_file(
        self,
        path: str | os.PathLike,
        out_dir: str | os.PathLike,
        accompaniment: bool = True,
        on_progress: Callable[[float, str], None] | None = None,
    ) -> Separation:
        """Write the vocals of recording `path` to `out_dir/<stem>.wav` and, with `accompaniment`, the rest
        to `out_dir/accompaniment/<stem>.wav` (mono, 32 kHz, float WAV); never over `path`.
        `on_progress(fraction, message)` is called after each block and may raise to stop."""
        path, out_dir = Path(path), Path(out_dir)
        vocals_path = out_dir / f"{path.stem}.wav"
        rest_path = out_dir / ACCOMPANIMENT_DIR / f"{path.stem}.wav" if accompaniment else None
        if path.resolve() in {vocals_path.resolve(), rest_path and rest_path.resolve()}:
            raise SeparateError(
                f"{path}: the separated copy would overwrite the original; use another folder"
            )
        report = on_progress or (lambda fraction, message: None)
        with tempfile.TemporaryDirectory(prefix="timbre-separate-") as tmp:
            wav = load_audio_ffmpeg(path, IMPORT_SR, into=Path(tmp) / "decoded.f32")
            with ExitStack() as stack:  # each file replaced (atomically) once all are written
                targets = [stack.enter_context(atomic_replace(t)) for t in (vocals_path, rest_path) if t]
                writers = [
                    stack.enter_context(sf.SoundFile(t, "w", IMPORT_SR, 1, "FLOAT", format="WAV"))
                    for t in targets
                ]
                for start, vocals in self._blocks(wav):
                    writers[0].write(vocals)
                    if rest_path:
                        writers[1].write(wav[start : start + vocals.shape[0]] - vocals)
                    report(min(1.0, (start + vocals.shape[0]) / wav.shape[0]), f"{path.name}: separating")
            del wav  # the memory map must be closed before its file is removed
        return Separation(vocals_path, rest_path)

    def _blocks(self, wav: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(start, vocals) for consecutive stretches of `wav` covering it: blocks separated with context on
        each side, crossfaded into the next over `_FADE_SECONDS` around each boundary."""
        n, block = wav.shape[0], int(_BLOCK_SECONDS * IMPORT_SR)
        context, half = int(_CONTEXT_SECONDS * IMPORT_SR), int(_FADE_SECONDS * IMPORT_SR) // 2
        pending = np.zeros(0, dtype=np.float32)  # the previous block's vocals over the next fade
        for start in range(0, n, block):
            end = min(n, start + block)
            lo, hi = max(0, start - context), min(n, end + context)
            vocals = self.vocals(np.asarray(wav[lo:hi]), IMPORT_SR)
            first = start - half if start > 0 else 0
            last = end - half if end < n else n
            out = vocals[first - lo : last - lo].copy()
            fade = min(pending.shape[0], out.shape[0])
            ramp = (np.arange(fade, dtype=np.float32) + 0.5) / max(fade, 1)
            out[:fade] = pending[:fade] * (1 - ramp) + out[:fade] * ramp
            pending = vocals[last - lo : last - lo + 2 * half]
            yield first, out


def separate_file(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    model: str = DEFAULT_SEPARATOR,
    pretrained_dir: str | os.PathLike = "pretrained",
    *,
    accompaniment: bool = True,
    device: str = "cpu",
    on_progress: Callable[[float, str], None] | None = None,
) -> Separation:
    """Split recording `path` into vocals (`out_dir/<stem>.wav`) and accompaniment
    (`out_dir/accompaniment/<stem>.wav`) with Demucs model `model` (a name under
    `<pretrained_dir>/separator/`, or a folder). A missing model raises `PretrainedMissingError` naming the
    download command before anything is decoded or written. See `VocalSeparator.separate_file`."""
    separator = VocalSeparator(require_model(model, pretrained_dir), device)
    return separator.separate_file(path, out_dir, accompaniment, on_progress)
