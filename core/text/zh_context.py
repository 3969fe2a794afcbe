"""Context rules for Chinese readings: one table (`data/zh_context_readings.tsv`), one engine.

A rule gives a character a TONE3 reading where its context holds. Conditions, all of which must hold:

- on the text of the sentence: `left=RE` (the text just before the character ends with a match; a negative
  lookbehind such as `(?<![这那])` says 'not right after'), `right=RE`
  (the text just after starts with a match), `span=RE` (a match of RE in the sentence puts its group `c`
  on the character: `(.)了(?P<c>一)\\1` for 想了一想);
- on the jieba words around a character that is a word of its own (word rules): `prev`, `next`, `prev2`,
  `next2` (the word 1 or 2 before / after matches RE entirely), `pos`, `prev_pos`, `next_pos`, `prev2_pos`,
  `next2_pos` (the same for part-of-speech tags), `window` (one of the 5 words before matches RE), and the
  flags `clause_end` (no word or a punctuation mark after) and `first` (no word before).

Rules are tried in table order and the first that holds gives the reading. Rules with word conditions apply
only to a character that jieba cut as a word of its own; the others apply anywhere the phrase table has not
fixed the reading. Default (Timbre) reading only: `reference_compat` never consults the table.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import TextError
from core.text.symbols import PUNCTUATION

TABLE = Path(__file__).resolve().parent / "data" / "zh_context_readings.tsv"
_WORD_KEYS = (
    "prev", "next", "prev2", "next2", "pos", "prev_pos", "next_pos", "prev2_pos", "next2_pos", "window",
)  # fmt: skip
_TEXT_KEYS = ("left", "right", "span")
_FLAGS = ("clause_end", "first")
_WINDOW = 5


@dataclass(frozen=True)
class ContextRule:
    """One row of the table: `char` reads `reading` where every condition holds."""

    char: str
    reading: str
    words: dict[str, re.Pattern[str]] = field(default_factory=dict)
    text: dict[str, re.Pattern[str]] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()
    line: int = 0

    @property
    def needs_word(self) -> bool:
        return bool(self.words or self.flags)


def parse_rules(lines: Sequence[str], source: str = "table") -> dict[str, tuple[ContextRule, ...]]:
    """Rules by character, in order, from TAB-separated lines `char, reading, conditions[, # why]`."""
    rules: dict[str, list[ContextRule]] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise TextError(f"{source} line {number}: expected char, reading and conditions, got {line!r}")
        char, reading, conditions = fields[0], fields[1], fields[2]
        words: dict[str, re.Pattern[str]] = {}
        text: dict[str, re.Pattern[str]] = {}
        flags = set()
        for condition in conditions.split():
            key, _, value = condition.partition("=")
            try:
                if key in _FLAGS and not value:
                    flags.add(key)
                elif key in _WORD_KEYS and value:
                    words[key] = re.compile(value)
                elif key == "left" and value:
                    text[key] = re.compile(f"(?:{value})$")
                elif key in _TEXT_KEYS and value:
                    text[key] = re.compile(value)
                else:
                    raise TextError(f"{source} line {number}: unknown condition {condition!r}")
            except re.error as exc:
                raise TextError(f"{source} line {number}: bad pattern in {condition!r}: {exc}") from None
        if len(char) != 1 or not re.fullmatch(r"[a-z]+[1-5]", reading):
            raise TextError(f"{source} line {number}: expected one character and a TONE3 syllable")
        rule = ContextRule(char, reading, words, text, frozenset(flags), number)
        rules.setdefault(char, []).append(rule)
    return {char: tuple(found) for char, found in rules.items()}


@functools.lru_cache(maxsize=1)
def context_rules() -> dict[str, tuple[ContextRule, ...]]:
    """The shipped table, parsed once."""
    return parse_rules(TABLE.read_text(encoding="utf-8").splitlines(), TABLE.name)


def _word_conditions_hold(rule: ContextRule, words: Sequence[tuple[str, str]], k: int) -> bool:
    def at(offset: int) -> tuple[str, str] | None:
        j = k + offset
        return words[j] if 0 <= j < len(words) else None

    slots = {"prev": -1, "next": 1, "prev2": -2, "next2": 2}
    for key, pattern in rule.words.items():
        if key == "window":
            if not any(pattern.fullmatch(w) for w, _ in words[max(0, k - _WINDOW) : k]):
                return False
            continue
        name, _, kind = key.partition("_")
        word = words[k] if name == "pos" else at(slots[name])
        if word is None:
            return False
        if not pattern.fullmatch(word[1] if kind == "pos" or name == "pos" else word[0]):
            return False
    if "first" in rule.flags and k != 0:
        return False
    return "clause_end" not in rule.flags or k == len(words) - 1 or words[k + 1][0] in PUNCTUATION


def _text_conditions_hold(rule: ContextRule, sentence: str, i: int) -> bool:
    left, right, span = rule.text.get("left"), rule.text.get("right"), rule.text.get("span")
    if left is not None and not left.search(sentence, 0, i):
        return False
    if right is not None and not right.match(sentence, i + 1):
        return False
    return span is None or any(m.start("c") == i for m in span.finditer(sentence))


def context_reading(
    sentence: str,
    i: int,
    words: Sequence[tuple[str, str]] | None = None,
    k: int | None = None,
    rules: dict[str, tuple[ContextRule, ...]] | None = None,
) -> str | None:
    """The reading the table gives `sentence[i]`, or None.

    `words`/`k`: the jieba (word, POS) list and the index of the one-character word at `i`, when the
    character is a word of its own; without them only rules without word conditions are tried.
    """
    table = context_rules() if rules is None else rules
    for rule in table.get(sentence[i], ()):
        if rule.needs_word and (words is None or k is None or not _word_conditions_hold(rule, words, k)):
            continue
        if _text_conditions_hold(rule, sentence, i):
            return rule.reading
    return None
