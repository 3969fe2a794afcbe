"""Import recordings into a dataset of the workspace: decode, downmix, resample, measure, give a verdict.

    <workspace>/datasets/<name>/raw/<stem>.wav    mono, 32 kHz, 32-bit float WAV (no clipping, no dither)

Any format ffmpeg reads, a zip of them, or a folder of them (searched recursively). Each recording is
decoded by ffmpeg into a temporary file and copied out in blocks, so hours of audio never sit in memory.
A file that cannot be decoded is reported and skipped; nothing already imported is touched (a second
import of a file with the same name gets a numbered name).
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from core.audio import load_audio_ffmpeg
from core.data.quality import AudioQuality, combine, measure, verdict
from core.errors import AudioError, TimbreError, WorkspaceError
from core.workspace import Workspace, atomic_replace

DATASETS_DIR = "datasets"
RAW_DIR = "raw"
IMPORT_SR = 32000
"""Rate imported recordings are stored at (the reference slices and trains at 32 kHz), Hz."""
AUDIO_SUFFIXES = frozenset(
    {".wav", ".mp3", ".flac", ".m4a", ".ogg", ".opus", ".aac", ".wma", ".webm", ".mp4"}
)
_NAME = re.compile(r"^[\w][\w .-]{0,63}$")
_MEASURE_CHUNK_SECONDS = 600  # long recordings are measured in pieces this long (bounded memory)
_COPY_BLOCK = 1 << 20  # samples per block when writing the imported WAV


@dataclass(frozen=True)
class ImportedFile:
    """One source file: where it went and its measures, or why it was skipped."""

    source: str
    path: Path | None = None
    quality: AudioQuality | None = None
    error: str | None = None


@dataclass(frozen=True)
class ImportReport:
    dataset_dir: Path
    files: tuple[ImportedFile, ...]
    total: AudioQuality | None  # the set's measures and verdict (None when nothing was imported)

    @property
    def verdict(self) -> str:
        return verdict(self.total) if self.total is not None else "nothing imported"


def dataset_dir(workspace: Workspace, name: str) -> Path:
    """`<workspace>/datasets/<name>`; `name` is 1-64 letters, digits, spaces, `_`, `-` or `.`."""
    if not _NAME.match(name):
        raise WorkspaceError(
            f"dataset name {name!r} is not allowed; use 1-64 letters, digits, spaces, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return workspace.resolve(Path(DATASETS_DIR) / name)


def _audio_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _sources(paths: list[Path], tmp: Path) -> Iterator[tuple[str, Path, str]]:
    """(name shown, file, stem to import it as) for every recording in `paths`; zips are extracted into
    `tmp` (audio members only, under numbered names, so a member cannot be written outside `tmp`)."""
    n_extracted = 0
    for given in paths:
        if given.is_dir():
            for path in _audio_in(given):
                yield str(path.relative_to(given.parent)), path, path.stem
        elif given.is_file() and zipfile.is_zipfile(given):
            with zipfile.ZipFile(given) as archive:
                for member in archive.infolist():
                    base = Path(member.filename).name
                    if member.is_dir() or Path(base).suffix.lower() not in AUDIO_SUFFIXES:
                        continue
                    n_extracted += 1
                    out = tmp / f"member{n_extracted:05d}{Path(base).suffix.lower()}"
                    with archive.open(member) as src, open(out, "wb") as dst:
                        while chunk := src.read(_COPY_BLOCK):
                            dst.write(chunk)
                    yield f"{given.name}:{member.filename}", out, Path(base).stem
        else:
            yield given.name, given, given.stem


def _free_name(folder: Path, stem: str) -> Path:
    candidate, number = folder / f"{stem}.wav", 1
    while candidate.exists():
        number += 1
        candidate = folder / f"{stem}_{number}.wav"
    return candidate


def measure_long(wav: np.ndarray, sr: int) -> AudioQuality:
    """`measure` for a recording of any length: pieces of 10 minutes measured and combined (loudness and
    shares are then duration-weighted over the pieces)."""
    chunk = _MEASURE_CHUNK_SECONDS * sr
    if wav.shape[0] <= chunk:
        return measure(np.asarray(wav), sr)
    parts = [measure(np.asarray(wav[i : i + chunk]), sr) for i in range(0, wav.shape[0], chunk)]
    parts = [p for p in parts if p.seconds >= 1.0] or parts
    return combine(parts, per_file=True)


def import_recordings(
    workspace: Workspace,
    name: str,
    sources: list[str | os.PathLike],
    on_progress: Callable[[float, str], None] | None = None,
) -> ImportReport:
    """Import `sources` (files, zips, folders) into dataset `name` (created if absent).

    `on_progress(fraction, message)` is called after each recording and may raise to stop. Raises
    `AudioError` only when no source file was found at all; unreadable files are in the report.
    """
    raw = dataset_dir(workspace, name) / RAW_DIR
    report = on_progress or (lambda fraction, message: None)
    done: list[ImportedFile] = []
    paths = [Path(p) for p in sources]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise AudioError(f"{missing[0]}: no such file or folder; check the path")
    with tempfile.TemporaryDirectory(prefix="timbre-import-") as tmp_name:
        tmp = Path(tmp_name)
        found = list(_sources(paths, tmp))
        if not found:
            raise AudioError("no audio files found (looked for " + ", ".join(sorted(AUDIO_SUFFIXES)) + ")")
        for index, (shown, path, stem) in enumerate(found):
            decoded = tmp / "decoded.f32"
            try:
                wav = load_audio_ffmpeg(path, IMPORT_SR, into=decoded)
                quality = measure_long(wav, IMPORT_SR)
                target = _free_name(raw, stem)
                with atomic_replace(target) as out:
                    with sf.SoundFile(out, "w", IMPORT_SR, 1, subtype="FLOAT", format="WAV") as f:
                        for start in range(0, wav.shape[0], _COPY_BLOCK):
                            f.write(np.asarray(wav[start : start + _COPY_BLOCK]))
                done.append(ImportedFile(shown, target, quality))
            except TimbreError as exc:
                done.append(ImportedFile(shown, error=str(exc)))
            finally:
                wav = None  # close the memory map before its file goes
                decoded.unlink(missing_ok=True)
            report((index + 1) / len(found), f"{index + 1} of {len(found)}: {shown}")
    qualities = [f.quality for f in done if f.quality is not None]
    total = combine(qualities) if qualities else None
    return ImportReport(raw.parent, tuple(done), total)
