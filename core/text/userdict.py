"""The user's pronunciation dictionary: words whose reading the user has fixed once and for all.

Entries map a word to a reading:
- a Chinese word to one TONE3 pinyin syllable per character: `"长大": "zhang3 da4"`;
- an English word to ARPAbet phones: `"live": "L IH1 V"` (English words are matched case-insensitively).

The frontend applies them as overrides: Chinese words by longest match over each Chinese piece's
normalized text (inline `<...>` readings still win), English words wherever the word occurs.

On disk: a `.json` file holds
`{"format": "timbre-user-dictionary", "version": 1, "entries": {word: reading}}`; any other suffix is a
plain UTF-8 text file, one `word<TAB>reading` per line (blank lines and lines starting with `#` are
ignored). `save` writes a temporary file next to the target and renames it over the target, so a crash never
leaves a half-written dictionary.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from core.errors import TextError
from core.text.overrides import is_han, normalize_arpabet, normalize_syllable
from core.workspace import atomic_write_text

_FORMAT = "timbre-user-dictionary"
_VERSION = 1
_ENGLISH_WORD = re.compile(r"^[A-Za-z][A-Za-z'\-]*$")


class UserDictionary:
    """Word -> reading entries (Chinese pinyin or English ARPAbet), validated when added."""

    def __init__(self, entries: dict[str, str] | None = None) -> None:
        self._zh: dict[str, tuple[str, ...]] = {}
        self._en: dict[str, tuple[str, ...]] = {}
        for word, reading in (entries or {}).items():
            self.add(word, reading)

    # -- editing -----------------------------------------------------------------------------------------

    def add(self, word: str, reading: str) -> None:
        """Add or replace an entry. Raises `TextError` when the word or the reading is malformed."""
        word = word.strip()
        if word and all(is_han(c) for c in word):
            syllables = reading.split()
            if len(syllables) != len(word):
                raise TextError(
                    f"user dictionary: {word!r} has {len(word)} characters but the reading {reading!r} has "
                    f"{len(syllables)} syllables; give one TONE3 syllable per character, e.g. 'zhang3 da4'"
                )
            try:
                self._zh[word] = tuple(normalize_syllable(s) for s in syllables)
            except ValueError as exc:
                raise TextError(f"user dictionary: {word!r}: {exc}") from None
        elif _ENGLISH_WORD.match(word):
            phones = reading.split()
            if not phones:
                raise TextError(
                    f"user dictionary: {word!r} has an empty reading; give ARPAbet such as 'L IH1 V'"
                )
            try:
                self._en[word.lower()] = tuple(normalize_arpabet(p) for p in phones)
            except ValueError as exc:
                raise TextError(f"user dictionary: {word!r}: {exc}") from None
        else:
            raise TextError(
                f"user dictionary: {word!r} is neither a Chinese word (Chinese characters only) nor an "
                "English word (Latin letters, apostrophes, hyphens)"
            )

    def remove(self, word: str) -> None:
        """Remove an entry; `KeyError` when it is not there."""
        word = word.strip()
        if word in self._zh:
            del self._zh[word]
        elif word.lower() in self._en:
            del self._en[word.lower()]
        else:
            raise KeyError(word)

    # -- reading -----------------------------------------------------------------------------------------

    @property
    def entries(self) -> dict[str, str]:
        """A copy of all entries, word -> reading text (Chinese first, then English, each sorted).

        Edit with `add`/`remove`; changing the returned dict changes nothing.
        """
        out = {w: " ".join(s) for w, s in sorted(self._zh.items())}
        out.update({w: " ".join(p) for w, p in sorted(self._en.items())})
        return out

    def __len__(self) -> int:
        return len(self._zh) + len(self._en)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and (word in self._zh or word.lower() in self._en)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserDictionary) and self.entries == other.entries

    def english(self) -> dict[str, list[str]]:
        """Lower-cased English word -> ARPAbet phones (the form the English G2P takes as overrides)."""
        return {w: list(p) for w, p in self._en.items()}

    def chinese_readings(self, norm_text: str) -> dict[int, str]:
        """Character index of `norm_text` -> TONE3 syllable, for every dictionary word found in it.

        Words are matched left to right, longest first; matches do not overlap.
        """
        if not self._zh:
            return {}
        longest = max(len(w) for w in self._zh)
        readings: dict[int, str] = {}
        i = 0
        while i < len(norm_text):
            for size in range(min(longest, len(norm_text) - i), 0, -1):
                syllables = self._zh.get(norm_text[i : i + size])
                if syllables is not None:
                    readings.update(zip(range(i, i + size), syllables, strict=True))
                    i += size
                    break
            else:
                i += 1
        return readings

    # -- files -------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> UserDictionary:
        """Read a dictionary file (`.json`, or tab-separated text). Raises `TextError` when unreadable."""
        path = Path(path)
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TextError(f"user dictionary {path}: cannot read it ({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            raise TextError(f"user dictionary {path}: not UTF-8 text; save it as UTF-8") from None
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise TextError(f"user dictionary {path}: not valid JSON ({exc})") from None
            if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
                raise TextError(f"user dictionary {path}: expected a JSON object with an 'entries' object")
            if data.get("version", _VERSION) != _VERSION:
                raise TextError(
                    f"user dictionary {path}: format version {data.get('version')!r} is not supported "
                    f"(expected {_VERSION})"
                )
            return cls({str(k): str(v) for k, v in data["entries"].items()})
        out = cls()
        for number, line in enumerate(raw.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) != 2:
                raise TextError(f"user dictionary {path}, line {number}: expected 'word<TAB>reading'")
            try:
                out.add(parts[0], parts[1])
            except TextError as exc:
                raise TextError(f"{path}, line {number}: {exc}") from None
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the dictionary atomically (temporary file in the same folder, then `os.replace`)."""
        path = Path(path)
        if path.suffix.lower() == ".json":
            data = {"format": _FORMAT, "version": _VERSION, "entries": self.entries}
            text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
        else:
            text = "".join(f"{w}\t{r}\n" for w, r in self.entries.items())
        atomic_write_text(path, text)
