"""Proofreading a dataset's `.list`: its place in the workspace, a list started from sliced clips, and an
edit model with undo and redo.

    <workspace>/datasets/<name>/clips/        the sliced clips (and clips made by merging and splitting)
    <workspace>/datasets/<name>/<name>.list   path|speaker|lang|text, one line per clip
    <workspace>/datasets/<name>/<name>.list.confidence.json   what ASR heard, with its confidence (asr.py)

`ListEdits` holds the entries and the history to undo and redo each change; every change returns a new
`ListEdits` and the caller writes `entries` with `save` (atomic) after it. Text, language, delete, replace
and undo/redo touch only the entries. Merging and splitting also write new clip files beside the old ones
(never over an existing file); no change ever deletes an audio file, so undo and redo always find the clips
they put back. Clips no line uses any more stay in the clips folder until the user removes them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from core.audio import load_audio, resample, write_wav
from core.data.importer import DATASETS_DIR, dataset_dir
from core.data.listfile import (
    LANGUAGE_CODES,
    ListEntry,
    ListFileError,
    ListProblem,
    audio_path,
    clean_path,
    read_list,
    write_list,
)
from core.data.slicer import clip_origin
from core.data.validate import clip_seconds
from core.errors import TimbreError
from core.workspace import Workspace

CLIPS_DIR = "clips"
MAX_UNDO = 200
"""Changes kept for undo (older ones are forgotten)."""
SPLIT_MIN_SECONDS = 0.1
"""Neither part of a split may be shorter than this."""
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "yue"})
"""Languages written without spaces between words: merged transcripts are joined with nothing between."""
SortKey = Literal["file", "confidence", "shortest", "longest"]
SORT_KEYS: tuple[SortKey, ...] = ("file", "confidence", "shortest", "longest")


class ProofreadError(TimbreError):
    """A change the edit model cannot make (nothing to merge with, a split time outside the clip...)."""


def list_path(workspace: Workspace, name: str) -> Path:
    """The `.list` of dataset `name`: `<workspace>/datasets/<name>/<name>.list`."""
    return dataset_dir(workspace, name) / f"{name}.list"


def clips_dir(workspace: Workspace, name: str) -> Path:
    """Where the slicer writes the clips of dataset `name`."""
    return dataset_dir(workspace, name) / CLIPS_DIR


def datasets_with_lists(workspace: Workspace) -> list[str]:
    """Names of the workspace's datasets that have a `.list` to proofread, sorted."""
    root = workspace.root / DATASETS_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / f"{p.name}.list").is_file())


def add_clips(path: str | os.PathLike, clips: Iterable[str | os.PathLike], speaker: str, lang: str) -> Path:
    """Add a line with an empty transcript for each clip not yet in the `.list` at `path` (created if absent);
    lines already there (and their transcripts) are kept. `lang` is a language column code (`ZH`, `en`...)."""
    if lang not in LANGUAGE_CODES:
        raise ListFileError(f"unknown language code {lang!r}; use one of {', '.join(sorted(LANGUAGE_CODES))}")
    path = Path(path)
    entries = list(read_list(path).entries) if path.is_file() else []
    known = {os.path.abspath(e.path) for e in entries}
    for clip in clips:
        if os.path.abspath(clip) not in known:
            entries.append(ListEntry(len(entries) + 1, str(clip), speaker, lang, ""))
    return write_list(path, entries)


def drop_earlier_slices(path: str | os.PathLike, clips: Iterable[str | os.PathLike]) -> int:
    """Before a new slicing's `clips` join the `.list` at `path`: drop the lines of clips that an earlier
    slicing cut from the same recordings into the same folder and that hold no transcript yet (training
    would hear that audio twice). Lines with a transcript stay, so nothing typed is lost: returns how many
    of those earlier clips stay."""
    path = Path(path)
    if not path.is_file():
        return 0
    new = {os.path.abspath(clip) for clip in clips}
    recordings = {(os.path.dirname(c), origin[0]) for c in new if (origin := clip_origin(c)) is not None}
    listed = read_list(path).entries
    entries, stayed = [], 0
    for entry in listed:
        clip = os.path.abspath(entry.path)
        origin = clip_origin(clip)
        earlier = clip not in new and origin is not None and (os.path.dirname(clip), origin[0]) in recordings
        if earlier and not entry.text.strip():
            continue
        stayed += earlier
        entries.append(entry)
    if len(entries) < len(listed):  # else the file stays untouched
        write_list(path, entries)
    return stayed


def _clean_text(text: str) -> str:
    """Line breaks and `|` become spaces (a `.list` line cannot hold them); runs of spaces become one."""
    return " ".join(text.replace("|", " ").split())


def _join_texts(first: str, second: str, language: str | None) -> str:
    separator = "" if language in UNSPACED_LANGUAGES else " "
    return separator.join(part for part in (first.strip(), second.strip()) if part)


def _new_clip_columns(entry: ListEntry, list_dir: Path | None, taken: set[str], count: int) -> list[str]:
    """`count` path columns for new clips made from `entry`'s clip: `<stem>~<k>.wav` in its folder, written
    the way its own column is (absolute or relative), named after no existing file and no clip in `taken`
    (base names). `<stem>` drops an earlier `~<k>`, so names stay short through repeated merges."""
    column = clean_path(entry.path)
    folder = audio_path(entry, None, list_dir).parent
    stem = Path(column).stem.split("~")[0]
    columns: list[str] = []
    k = 1
    while len(columns) < count:
        name = f"{stem}~{k}.wav"
        if not (folder / name).exists() and name not in taken:
            columns.append(os.path.join(os.path.dirname(column), name))
        k += 1
    return columns


def _lines(entries: Iterable[ListEntry]) -> list[str]:
    """What a `.list` holds, line by line (entries' line numbers change as lines are added and removed)."""
    return [entry.line() for entry in entries]


@dataclass(frozen=True)
class ListEdits:
    """A `.list`'s entries and the changes made to them, each undoable and redoable.

    `history[i]` is (entries before change i, index of the clip it touched), newest last; `future` holds
    the changes undone, newest undo last, and is forgotten when a new change is made. `undo`/`redo` return
    the index of the clip to show. `on_disk`: the entries the file held when these edits last read or wrote
    it (None: edits not read from a file); `save` refuses to write over a file that changed since.
    """

    entries: tuple[ListEntry, ...]
    history: tuple[tuple[tuple[ListEntry, ...], int], ...] = ()
    future: tuple[tuple[tuple[ListEntry, ...], int], ...] = ()
    on_disk: tuple[ListEntry, ...] | None = None

    @classmethod
    def read(cls, path: str | os.PathLike) -> tuple[ListEdits, list[ListProblem]]:
        """The `.list` at `path` with no edits to undo, and the problems of lines that could not be read
        (the first save drops those lines)."""
        listfile = read_list(path)
        return cls(listfile.entries, on_disk=listfile.entries), list(listfile.problems)

    def _changed(self, entries: tuple[ListEntry, ...], index: int) -> ListEdits:
        history = (*self.history, (self.entries, index))[-MAX_UNDO:]
        return replace(self, entries=entries, history=history, future=())

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self.entries):
            raise IndexError(f"clip {index + 1} does not exist; the list has {len(self.entries)} clip(s)")

    def edit(self, index: int, *, text: str | None = None, lang: str | None = None) -> ListEdits:
        """Set the text and/or language column of clip `index`; unchanged when both already hold that value.
        Line breaks and `|` in `text` become spaces (a `.list` line cannot hold them)."""
        self._check(index)
        entry = self.entries[index]
        if lang is not None and lang not in LANGUAGE_CODES:
            raise ListFileError(
                f"unknown language code {lang!r}; use one of {', '.join(sorted(LANGUAGE_CODES))}"
            )
        new = replace(
            entry,
            text=entry.text if text is None else _clean_text(text),
            lang=entry.lang if lang is None else lang,
        )
        if new == entry:
            return self
        return self._changed((*self.entries[:index], new, *self.entries[index + 1 :]), index)

    def delete(self, index: int) -> ListEdits:
        """Drop clip `index` from the list (its audio file stays on disk, for undo)."""
        self._check(index)
        return self._changed((*self.entries[:index], *self.entries[index + 1 :]), index)

    def merge_next(self, index: int, list_dir: Path | None) -> ListEdits:
        """Replace clip `index` and the one after it by one clip: their audio end to end in a new file beside
        the first (at the first's sample rate), their transcripts joined (with a space, or nothing for
        Chinese, Japanese and Cantonese). The merged line keeps the first clip's speaker and language.
        `list_dir`: the `.list`'s folder, for relative path columns. Both old files stay on disk."""
        self._check(index)
        if index + 1 >= len(self.entries):
            raise ProofreadError(f"clip {index + 1} is the last one; there is no next clip to merge it with")
        first, second = self.entries[index], self.entries[index + 1]
        wav, sr = load_audio(audio_path(first, None, list_dir))
        tail, tail_sr = load_audio(audio_path(second, None, list_dir))
        if tail_sr != sr:
            tail = resample(tail, tail_sr, sr)
        (column,) = _new_clip_columns(first, list_dir, {e.name for e in self.entries}, 1)
        write_wav(audio_path(replace(first, path=column), None, list_dir), np.concatenate([wav, tail]), sr)
        merged = replace(first, path=column, text=_join_texts(first.text, second.text, first.language))
        return self._changed((*self.entries[:index], merged, *self.entries[index + 2 :]), index)

    def split(
        self, index: int, seconds: float, list_dir: Path | None, at_char: int | None = None
    ) -> ListEdits:
        """Replace clip `index` by two clips cut at `seconds` (two new files beside it; the old one stays).

        The transcript is split at character `at_char` when given (each part stripped of spaces); without
        it the whole transcript stays with the first part and the second starts empty, for the user to
        move the words that belong to it: only a listener knows where the cut falls in the text.
        """
        self._check(index)
        entry = self.entries[index]
        wav, sr = load_audio(audio_path(entry, None, list_dir))
        total = len(wav) / sr
        if not (math.isfinite(seconds) and SPLIT_MIN_SECONDS <= seconds <= total - SPLIT_MIN_SECONDS):
            raise ProofreadError(
                f"cannot split {entry.name} at {seconds:g} s: it lasts {total:.2f} s; choose a time between "
                f"{SPLIT_MIN_SECONDS:g} and {total - SPLIT_MIN_SECONDS:.2f} s"
            )
        cut = round(seconds * sr)
        if at_char is None:
            texts = (entry.text, "")
        else:
            at = max(0, min(at_char, len(entry.text)))
            texts = (entry.text[:at].strip(), entry.text[at:].strip())
        columns = _new_clip_columns(entry, list_dir, {e.name for e in self.entries}, 2)
        parts = []
        for column, samples, text in zip(columns, (wav[:cut], wav[cut:]), texts, strict=True):
            part = replace(entry, path=column, text=text)
            write_wav(audio_path(part, None, list_dir), samples, sr)
            parts.append(part)
        return self._changed((*self.entries[:index], *parts, *self.entries[index + 1 :]), index)

    def replace_all(self, find: str, replacement: str) -> tuple[ListEdits, int]:
        """Replace every `find` (plain text, case-sensitive) in every transcript by `replacement`, as one
        undo step. Returns the new edits and the number of replacements (0: unchanged)."""
        if not find:
            raise ProofreadError("give the text to find; an empty search would match everywhere")
        count = sum(entry.text.count(find) for entry in self.entries)
        if count == 0:
            return self, 0
        entries = tuple(
            replace(entry, text=_clean_text(entry.text.replace(find, replacement)))
            if find in entry.text
            else entry
            for entry in self.entries
        )
        first = next(i for i, entry in enumerate(self.entries) if find in entry.text)
        return self._changed(entries, first), count

    def undo(self) -> tuple[ListEdits, int | None]:
        """The state before the last change and the index of the clip it touched; (self, None) if none."""
        if not self.history:
            return self, None
        entries, index = self.history[-1]
        future = (*self.future, (self.entries, index))
        return replace(self, entries=entries, history=self.history[:-1], future=future), index

    def redo(self) -> tuple[ListEdits, int | None]:
        """The change last undone made again and the index of the clip it touched; (self, None) if none."""
        if not self.future:
            return self, None
        entries, index = self.future[-1]
        history = (*self.history, (self.entries, index))[-MAX_UNDO:]
        return replace(self, entries=entries, history=history, future=self.future[:-1]), index

    def find(self, line: str) -> int | None:
        """The index of the first clip whose line (`path|speaker|lang|text`) is `line`, None when there is
        none (any more): how a problem found by a check is found again after other changes."""
        return next((i for i, entry in enumerate(self.entries) if entry.line() == line), None)

    @property
    def can_undo(self) -> bool:
        return bool(self.history)

    @property
    def can_redo(self) -> bool:
        return bool(self.future)

    def save(self, path: str | os.PathLike) -> ListEdits:
        """Write the entries to `path` atomically; return these edits, now known to be on disk.

        Edits read from a file refuse to write over it when it no longer holds what they read or last
        wrote (another page, a transcription or the CLI changed it): writing would undo that change.
        """
        if (
            self.on_disk is not None
            and os.path.exists(path)
            and _lines(read_list(path).entries) != _lines(self.on_disk)
        ):
            raise ProofreadError(
                f"{Path(path).name} was changed by something else (another browser tab, a transcription or "
                "the command line) since it was opened here, so this change was not saved over it. Reload "
                "the page to open the file as it is now, then make the change again."
            )
        write_list(path, self.entries)
        return replace(self, on_disk=self.entries)


def review_scores(list_file: str | os.PathLike, entries: Iterable[ListEntry]) -> dict[str, float]:
    """Path column -> how sure we are of the line's text, for sorting by confidence: the ASR confidence from
    the `.list`'s `<list>.confidence.json` (see `core.data.asr`) while the text is still what ASR heard, 1.0
    once a person has changed it. Lines ASR gave no confidence for are left out.
    Raises `AsrError` for a confidence file that cannot be read."""
    from core.data.asr import read_confidences  # imported here: core.data.asr imports this module

    heard = read_confidences(list_file)
    scores = {}
    for entry in entries:
        transcript = heard.get(entry.path)
        if transcript is not None and transcript.confidence is not None:
            scores[entry.path] = transcript.confidence if entry.text == transcript.text else 1.0
    return scores


def view_order(
    entries: Iterable[ListEntry], by: SortKey, list_dir: Path | None, confidence: Mapping[str, float]
) -> list[int]:
    """Indices of `entries` in the order to proofread them: `file` (as listed), `confidence` (lowest first;
    `confidence` maps path columns to scores, see `review_scores`), `shortest` or `longest` (by duration).
    Clips with no confidence, or whose audio cannot be read, come last; ties keep the list's order."""
    entries = list(entries)
    if by == "file":
        return list(range(len(entries)))
    if by not in SORT_KEYS:
        raise ProofreadError(f"cannot sort by {by!r}; use one of {', '.join(SORT_KEYS)}")

    def key(index: int) -> tuple[bool, float]:
        if by == "confidence":
            value = confidence.get(entries[index].path)
        else:
            value = clip_seconds(audio_path(entries[index], None, list_dir))
            value = None if value is None else (value if by == "shortest" else -value)
        return (value is None, 0.0 if value is None else value)

    return sorted(range(len(entries)), key=key)
