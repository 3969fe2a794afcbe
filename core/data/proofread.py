"""Proofreading a dataset's `.list`: its place in the workspace, a list started from sliced clips, and an
undo-able edit model.

    <workspace>/datasets/<name>/clips/        the sliced clips
    <workspace>/datasets/<name>/<name>.list   path|speaker|lang|text, one line per clip

`ListEdits` is pure: every edit returns a new `ListEdits` holding the new entries and the history needed to
undo it; the caller writes `entries` with `write_list` (atomic) after each change.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from core.data.importer import DATASETS_DIR, dataset_dir
from core.data.listfile import LANGUAGE_CODES, ListEntry, ListFileError, read_list, write_list
from core.workspace import Workspace

CLIPS_DIR = "clips"
MAX_UNDO = 200
"""Edits kept for undo (older ones are forgotten)."""


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


@dataclass(frozen=True)
class ListEdits:
    """A `.list`'s entries and the edits made to them, newest last, each undoable.

    `history[i]` is (entries before edit i, index of the clip edit i touched), so `undo` restores the
    entries and says which clip to show.
    """

    entries: tuple[ListEntry, ...]
    history: tuple[tuple[tuple[ListEntry, ...], int], ...] = ()

    def _changed(self, entries: tuple[ListEntry, ...], index: int) -> ListEdits:
        history = (*self.history, (self.entries, index))[-MAX_UNDO:]
        return ListEdits(entries, history)

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self.entries):
            raise IndexError(f"clip {index + 1} does not exist; the list has {len(self.entries)} clip(s)")

    def edit(self, index: int, *, text: str | None = None, lang: str | None = None) -> ListEdits:
        """Set the text and/or language column of clip `index`; unchanged when both already hold that value.
        Line breaks and `|` in `text` become spaces (a `.list` line cannot hold them)."""
        self._check(index)
        entry = self.entries[index]
        if text is not None:
            text = " ".join(text.replace("|", " ").split())
        if lang is not None and lang not in LANGUAGE_CODES:
            raise ListFileError(
                f"unknown language code {lang!r}; use one of {', '.join(sorted(LANGUAGE_CODES))}"
            )
        new = replace(
            entry, text=entry.text if text is None else text, lang=entry.lang if lang is None else lang
        )
        if new == entry:
            return self
        return self._changed((*self.entries[:index], new, *self.entries[index + 1 :]), index)

    def delete(self, index: int) -> ListEdits:
        """Drop clip `index` from the list (its audio file stays on disk)."""
        self._check(index)
        return self._changed((*self.entries[:index], *self.entries[index + 1 :]), index)

    def undo(self) -> tuple[ListEdits, int | None]:
        """The state before the last edit and the index of the clip it touched; (self, None) if none."""
        if not self.history:
            return self, None
        entries, index = self.history[-1]
        return ListEdits(entries, self.history[:-1]), index

    @property
    def can_undo(self) -> bool:
        return bool(self.history)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the entries to `path` atomically."""
        return write_list(path, self.entries)
