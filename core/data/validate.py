"""Checks a dataset's `.list` before anything trains on it: each problem has a line number, a reason and a
severity. An `error` blocks training (the line would crash it or be dropped by it); a `warning` does not
(the line trains, but probably not well).

Errors (from `listfile.validate_list`): a line that cannot be parsed, a clip name used twice, an unknown
language code, an empty transcript or one the text frontend cannot read, an audio file that is missing or
does not decode, a clip outside the 0.6–54 s the reference's SoVITS loader keeps (`listfile.MIN_SECONDS`,
`MAX_SECONDS`).
Warnings: a clip outside the 3–12 s that trains best (the reference's guidance is clips of about 3–10 s; 12 s
is the slicer's own maximum clip length, so clips it made are not flagged), and a dataset with less than
`quality.MIN_SPEECH_SECONDS` of clips in all (on no line: `line_no` is None).

Training's pre-flight: `problems = validate_dataset(list_path, wav_dir)`, then refuse to start when
`any(p.blocking for p in problems)` and show the warnings.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from core.audio import audio_info
from core.data.listfile import (
    MAX_SECONDS,
    MIN_SECONDS,
    ListEntry,
    ListFile,
    audio_path,
    read_list,
    validate_list,
)
from core.data.quality import MIN_SPEECH_SECONDS
from core.data.slicer import SlicerSettings
from core.errors import TimbreError

Severity = Literal["error", "warning"]
RECOMMENDED_MIN_SECONDS = 3.0
RECOMMENDED_MAX_SECONDS = SlicerSettings.max_clip_seconds
"""Clip lengths that train best; outside them (but inside MIN_SECONDS..MAX_SECONDS) a clip is a warning."""

ReadText = Callable[[str, str], object]


@dataclass(frozen=True)
class DatasetProblem:
    """One thing wrong with a `.list`: its 1-based line (None: the dataset as a whole), why, how bad, and the
    line as written (`path|speaker|lang|text`; None for the whole dataset and for lines that could not be
    parsed), which finds it again after other lines have been dropped, merged or split."""

    line_no: int | None
    reason: str
    severity: Severity
    line: str | None = None

    @property
    def blocking(self) -> bool:
        """Whether training must not start while this problem is there."""
        return self.severity == "error"

    def __str__(self) -> str:
        where = "dataset" if self.line_no is None else f"line {self.line_no}"
        return f"{where}: {self.severity}: {self.reason}"


@functools.lru_cache(maxsize=8192)
def _seconds(path: str, mtime_ns: int, size: int) -> float | None:
    try:
        return audio_info(path)[0]
    except TimbreError:
        return None


def clip_seconds(path: str | os.PathLike) -> float | None:
    """How long the audio file at `path` lasts, None when it is missing or does not decode (cached by the
    file's modification time and size, so paging and sorting a large set stays fast)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _seconds(str(path), stat.st_mtime_ns, stat.st_size)


def _default_read_text() -> ReadText:
    from core.features import clean_line  # the frontend (and torch) load only when text is checked

    return clean_line


def _problems(
    listfile: ListFile,
    wav_dir: str | os.PathLike | None,
    read_text: ReadText | None,
    min_seconds: float,
    max_seconds: float,
) -> list[DatasetProblem]:
    good, found = validate_list(
        listfile, wav_dir, min_seconds=min_seconds, max_seconds=max_seconds, read_text=read_text
    )
    lines = {entry.line_no: entry.line() for entry in listfile.entries}
    problems = [DatasetProblem(p.line_no, p.message, "error", lines.get(p.line_no)) for p in found]
    total = 0.0
    for entry in good:
        seconds = clip_seconds(audio_path(entry, wav_dir, listfile.path.parent)) or 0.0
        total += seconds
        if not RECOMMENDED_MIN_SECONDS <= seconds <= RECOMMENDED_MAX_SECONDS:
            problems.append(
                DatasetProblem(
                    entry.line_no,
                    f"{entry.name} lasts {seconds:.2f} s; clips of {RECOMMENDED_MIN_SECONDS:g}–"
                    f"{RECOMMENDED_MAX_SECONDS:g} s train best (merge it with a neighbour or split it)",
                    "warning",
                    entry.line(),
                )
            )
    if total < MIN_SPEECH_SECONDS:
        problems.append(
            DatasetProblem(
                None,
                f"{total:.0f} s of usable clips — below the recommended {MIN_SPEECH_SECONDS:g} s; "
                "add recordings for a voice that sounds like the speaker",
                "warning",
            )
        )
    problems.sort(key=lambda p: (p.line_no is not None, p.line_no or 0, p.severity != "error"))
    return problems


def validate_dataset(
    list_path: str | os.PathLike,
    wav_dir: str | os.PathLike | None = None,
    *,
    read_text: ReadText | None = None,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
) -> list[DatasetProblem]:
    """Every problem of the `.list` at `list_path`, dataset-wide ones first, then by line (empty: ready).

    `wav_dir`: where the clips are, as for training (the base name of each path column is looked up
    there); None takes the path columns as written (relative ones from the `.list`'s folder).
    `read_text(text, language)` must raise a `TimbreError` for a text training cannot read; default
    `core.features.clean_line` (the reading training uses, without the G2PW model).
    Raises `ListFileError` when the file itself cannot be read.
    """
    listfile = read_list(list_path)
    text_reader = _default_read_text() if read_text is None else read_text
    return _problems(listfile, wav_dir, text_reader, min_seconds, max_seconds)


def validate_entries(
    list_path: str | os.PathLike,
    entries: Iterable[ListEntry],
    *,
    read_text: ReadText | None = None,
) -> list[DatasetProblem]:
    """`validate_dataset` of entries about to be written to `list_path` (line numbers as they will be
    written: the Proofread tab's clips in memory)."""
    numbered = tuple(replace(entry, line_no=i + 1) for i, entry in enumerate(entries))
    text_reader = _default_read_text() if read_text is None else read_text
    return _problems(ListFile(Path(list_path), numbered, ()), None, text_reader, MIN_SECONDS, MAX_SECONDS)


def relocate(problems: Iterable[DatasetProblem], entries: Iterable[ListEntry]) -> list[DatasetProblem]:
    """`problems` renumbered to where their lines now are in `entries` (after lines were dropped, merged
    or split); problems of lines no longer there as they were are left out, dataset-wide ones kept."""
    lines = {}
    for i, entry in enumerate(entries):
        lines.setdefault(entry.line(), i + 1)
    return [
        problem if problem.line is None else replace(problem, line_no=lines[problem.line])
        for problem in problems
        if problem.line is None or problem.line in lines
    ]
