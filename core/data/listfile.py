"""The reference's `.list` transcript file: one clip per line, `path|speaker|lang|text`, UTF-8.

Reading never stops at a bad line: `read_list` returns the lines it could parse plus a `ListProblem` (with
its 1-based line number) for each one it could not (bytes that are not UTF-8, a wrong number of fields);
`validate_list` then checks every parsed line before anything trains (the audio file exists and decodes,
its duration is within the training bounds, the language code is known, the text is readable). Writing is
atomic (`write_list`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.audio import audio_info
from core.errors import TimbreError
from core.workspace import atomic_write_text

FIELD_SEPARATOR = "|"
N_FIELDS = 4

LANGUAGE_CODES: dict[str, str] = {
    "ZH": "zh",
    "zh": "zh",
    "JP": "ja",
    "jp": "ja",
    "JA": "ja",
    "ja": "ja",
    "EN": "en",
    "en": "en",
    "En": "en",
    "KO": "ko",
    "Ko": "ko",
    "ko": "ko",
    "yue": "yue",
    "YUE": "yue",
    "Yue": "yue",
}
"""Language column → language (the reference's `1-get-text.py` table; anything else is not trained on)."""

MIN_SECONDS = 0.6
MAX_SECONDS = 54.0
"""Clip durations SoVITS training keeps (the reference's s2 data loader drops clips outside 0.6–54 s)."""


class ListFileError(TimbreError):
    """A `.list` file that cannot be read at all (missing, a folder, unreadable)."""


@dataclass(frozen=True)
class ListEntry:
    """One parsed line: the four columns as written, and where it was (1-based line number)."""

    line_no: int
    path: str
    speaker: str
    lang: str
    text: str

    @property
    def name(self) -> str:
        """The clip's name in an experiment folder: the base name of the path column (extension kept)."""
        return os.path.basename(clean_path(self.path))

    @property
    def language(self) -> str | None:
        """The language the column stands for (`zh`, `en`, `ja`, `ko`, `yue`), None for an unknown code."""
        return LANGUAGE_CODES.get(self.lang)

    def line(self) -> str:
        """The line as written to a `.list` file (no newline)."""
        return FIELD_SEPARATOR.join((self.path, self.speaker, self.lang, self.text))


@dataclass(frozen=True)
class ListProblem:
    """Something wrong with one line (or with the file when `line_no` is None), in words."""

    line_no: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line_no is None else f"line {self.line_no}: {self.message}"


@dataclass(frozen=True)
class ListFile:
    path: Path
    entries: tuple[ListEntry, ...]
    problems: tuple[ListProblem, ...]  # lines that could not be parsed


def clean_path(path: str) -> str:
    """A path column as the reference reads it: trailing slashes dropped, both separators accepted, spaces,
    quotes, newlines and U+202A (a mark Windows' "copy as path" adds) stripped from both ends."""
    path = path.rstrip("/\\")
    path = path.replace("\\", "/")
    return path.strip(" '\n\r\"\u202a")


def read_list(path: str | os.PathLike) -> ListFile:
    """Parse a `.list` file. Blank lines are ignored; a UTF-8 byte-order mark and `\\r\\n` line ends are
    accepted. A line that is not UTF-8 or does not have exactly 4 `|`-separated fields (or has an empty
    path) becomes a `ListProblem` and the other lines are still returned.
    Raises `ListFileError` only when the file itself cannot be read.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ListFileError(f"{path}: transcript list not found; check the path") from exc
    except IsADirectoryError as exc:
        raise ListFileError(f"{path}: is a folder; pass the .list file inside it") from exc
    except OSError as exc:
        raise ListFileError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    entries, problems = [], []
    for line_no, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                ListProblem(
                    line_no,
                    f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                    "save the file as UTF-8 (e.g. iconv -f GBK -t UTF-8)",
                )
            )
            continue
        fields = line.split(FIELD_SEPARATOR)
        if len(fields) != N_FIELDS:
            problems.append(
                ListProblem(
                    line_no,
                    f"expected {N_FIELDS} fields path|speaker|lang|text separated by '|', found "
                    f"{len(fields)}; fix or remove the line (the text itself must not contain '|')",
                )
            )
            continue
        clip_path, speaker, lang, text = fields
        if not clean_path(clip_path):
            problems.append(ListProblem(line_no, "the path column is empty; give the clip's file"))
            continue
        entries.append(ListEntry(line_no, clip_path, speaker, lang.strip(), text))
    return ListFile(path, tuple(entries), tuple(problems))


def write_list(path: str | os.PathLike, entries: Iterable[ListEntry]) -> Path:
    """Write entries as a `.list` file atomically (UTF-8, `\\n` line ends, a final newline)."""
    lines = []
    for entry in entries:
        for column in (entry.path, entry.speaker, entry.lang, entry.text):
            if FIELD_SEPARATOR in column or "\n" in column:
                raise ListFileError(
                    f"line {entry.line_no}: a column holds '|' or a line break ({column!r}); remove it"
                )
        lines.append(entry.line())
    return atomic_write_text(path, "".join(line + "\n" for line in lines))


def audio_path(entry: ListEntry, wav_dir: str | os.PathLike | None, list_dir: Path | None = None) -> Path:
    """Where the clip of `entry` is: `wav_dir/<base name>` when `wav_dir` is given (the reference's rule),
    else the path column itself, a relative one taken from the current folder or, failing that, from the
    `.list` file's folder `list_dir`."""
    cleaned = clean_path(entry.path)
    if wav_dir:
        return Path(wav_dir) / os.path.basename(cleaned)
    path = Path(cleaned)
    if not path.is_absolute() and not path.exists() and list_dir is not None:
        return list_dir / path
    return path


def check_entry(
    entry: ListEntry,
    wav_dir: str | os.PathLike | None,
    list_dir: Path | None = None,
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
    read_text: Callable[[str, str], object] | None = None,
) -> list[str]:
    """What is wrong with one entry (empty: nothing). Checks the language code, the text (non-empty and,
    with `read_text(text, lang)`, readable: it raises a `TimbreError` otherwise), and that the audio file
    exists, decodes and lasts `min_seconds`..`max_seconds`."""
    problems = []
    language = entry.language
    if language is None:
        known = ", ".join(sorted(set(LANGUAGE_CODES.values())))
        problems.append(f"unknown language code {entry.lang!r}; use one of {known}")
    if not entry.text.strip():
        problems.append("the transcript is empty; write what the clip says")
    elif language is not None and read_text is not None:
        try:
            read_text(entry.text, language)
        except TimbreError as exc:
            problems.append(f"the transcript cannot be read: {exc}")
    wav = audio_path(entry, wav_dir, list_dir)
    if not wav.is_file():
        problems.append(f"audio file {wav} not found; fix the path or pass --wav-dir")
    else:
        try:
            seconds, _, _ = audio_info(wav)
        except TimbreError as exc:
            problems.append(str(exc))
        else:
            if not min_seconds <= seconds <= max_seconds:
                problems.append(
                    f"{wav.name} lasts {seconds:.2f} s; training uses clips of "
                    f"{min_seconds:g}–{max_seconds:g} s (slice longer recordings, drop very short ones)"
                )
    return problems


def validate_list(
    listfile: ListFile,
    wav_dir: str | os.PathLike | None = None,
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
    read_text: Callable[[str, str], object] | None = None,
) -> tuple[list[ListEntry], list[ListProblem]]:
    """Split a parsed list into entries fit for training and problems (parse problems included), by line.

    A clip name (base name of the path) used twice is a problem on the later line: the experiment folder
    names files after it. See `check_entry` for the checks and `read_text`.
    """
    good: list[ListEntry] = []
    problems = list(listfile.problems)
    first_line: dict[str, int] = {}
    for entry in listfile.entries:
        if entry.name in first_line:
            problems.append(
                ListProblem(
                    entry.line_no,
                    f"clip name {entry.name!r} is already used on line {first_line[entry.name]}; "
                    "rename one of the files",
                )
            )
            continue
        first_line[entry.name] = entry.line_no
        found = check_entry(
            entry,
            wav_dir,
            listfile.path.parent,
            min_seconds=min_seconds,
            max_seconds=max_seconds,
            read_text=read_text,
        )
        problems.extend(ListProblem(entry.line_no, message) for message in found)
        if not found:
            good.append(entry)
    problems.sort(key=lambda p: p.line_no or 0)
    return good, problems
