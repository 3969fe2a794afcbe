"""Inline reading overrides: `<...>` markup written right after the characters or word it reads.

- Chinese: `这把剑长<chang2>三十公分`, `长大<zhang3 da4>`: N TONE3 syllables (tone 5 = neutral, `v` or `ü`
  for ü) give the readings of the N Chinese characters just before the `<`.
- English: `I live<L IH1 V> here`: ARPAbet phones (stress digits on vowels) for the English word just
  before the `<`.

`parse_inline` removes the markup and returns the plain text plus what was asked, anchored to character
positions of the plain text. A `<` or `>` followed by a number (`10>7`, `x<=5`) is a comparison sign and stays
in the text. Anything else that does not fit (unclosed `<`, stray `>`, empty `<>`, markup after a
space or a digit, a bad syllable or phone, more syllables than characters) is a `TextError` naming the
position in the text as typed (0-based character offset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import TextError
from core.text.symbols import ARPABET_PLAIN, ARPABET_STRESSES, ARPABET_VOWELS

OPEN, CLOSE = "<", ">"
_PINYIN_SYLLABLE = re.compile(r"^[a-z]+[1-5]$")
# Vowels must carry a stress digit (the table's bare ER/IH are not what the English G2P produces).
_ARPABET: frozenset[str] = frozenset(
    [f"{v}{s}" for v in ARPABET_VOWELS for s in ARPABET_STRESSES]
    + [p for p in ARPABET_PLAIN if p not in ARPABET_VOWELS]
)
_ENGLISH_WORD_CHAR = re.compile(r"[A-Za-z']")
# What follows a `<` or `>` that compares numbers (`10>7`, `x<=5`, `3 < -2`) rather than opens or closes a
# reading: readings start with a letter, never with a digit.
_COMPARED_NUMBER = re.compile(r"=?\s*[-+]?\d")


def is_han(char: str) -> bool:
    """True for a CJK unified ideograph (the characters the Chinese G2P reads)."""
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def normalize_syllable(syllable: str) -> str:
    """A TONE3 pinyin syllable in canonical spelling (`lü4` -> `lv4`); raises ValueError if malformed."""
    s = syllable.strip().lower().replace("ü", "v").replace("u:", "v")
    if not _PINYIN_SYLLABLE.match(s):
        raise ValueError(f"{syllable!r} is not a TONE3 pinyin syllable such as 'chang2' or 'le5'")
    return s


def normalize_arpabet(phone: str) -> str:
    """An ARPAbet phone in the v2 spelling (`ih1` -> `IH1`); raises ValueError if unknown."""
    p = phone.strip().upper()
    if p not in _ARPABET:
        raise ValueError(f"{phone!r} is not an ARPAbet phone (vowels need a stress digit: 'IH1', 'AH0')")
    return p


@dataclass(frozen=True)
class ZhReading:
    """Readings for `len(syllables)` Chinese characters starting at `start` of the plain text."""

    start: int
    syllables: tuple[str, ...]


@dataclass(frozen=True)
class EnReading:
    """ARPAbet phones for the English word `word` occupying [start, start + len(word)) of the plain text."""

    start: int
    word: str
    phones: tuple[str, ...]


@dataclass(frozen=True)
class InlineOverrides:
    """The text without markup, and the readings the markup asked for."""

    text: str
    zh: tuple[ZhReading, ...] = ()
    en: tuple[EnReading, ...] = ()

    def shifted(self, offset: int, text: str) -> InlineOverrides:
        """The same readings on a text with `offset` characters added in front (e.g. the "." retry)."""
        return InlineOverrides(
            text=text,
            zh=tuple(ZhReading(r.start + offset, r.syllables) for r in self.zh),
            en=tuple(EnReading(r.start + offset, r.word, r.phones) for r in self.en),
        )


def parse_inline(text: str) -> InlineOverrides:
    """Strip `<...>` markup from `text` and return the plain text with the readings it carries.

    Raises `TextError` (with the 0-based position of the offending `<` or `>`) on malformed markup.
    """
    if OPEN not in text and CLOSE not in text:
        return InlineOverrides(text=text)
    plain: list[str] = []
    zh: list[ZhReading] = []
    en: list[EnReading] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in (OPEN, CLOSE) and _COMPARED_NUMBER.match(text, pos + 1):
            plain.append(char)
            pos += 1
            continue
        if char == CLOSE:
            raise TextError(
                f"'>' at position {pos} has no matching '<' (inline readings look like 长<chang2>)"
            )
        if char != OPEN:
            plain.append(char)
            pos += 1
            continue
        end = text.find(CLOSE, pos + 1)
        nested = text.find(OPEN, pos + 1)
        if end < 0 or (0 <= nested < end):
            raise TextError(
                f"'<' at position {pos} is not closed by '>' (inline readings look like 长<chang2>)"
            )
        body = text[pos + 1 : end].split()
        if not body:
            raise TextError(f"empty reading '<>' at position {pos}; write the pinyin or ARPAbet inside")
        before = plain[-1] if plain else ""
        if is_han(before):
            zh.append(_zh_reading(plain, body, pos))
        elif _ENGLISH_WORD_CHAR.match(before or " "):
            en.append(_en_reading(plain, body, pos))
        else:
            raise TextError(
                f"the reading at position {pos} must follow Chinese characters or an English word directly "
                f"(no space before '<'), e.g. 长<chang2> or live<L IH1 V>"
            )
        pos = end + 1
    return InlineOverrides(text="".join(plain), zh=tuple(zh), en=tuple(en))


def _zh_reading(plain: list[str], body: list[str], pos: int) -> ZhReading:
    try:
        syllables = tuple(normalize_syllable(s) for s in body)
    except ValueError as exc:
        raise TextError(f"reading at position {pos}: {exc}") from None
    n = len(syllables)
    chars = plain[-n:] if n <= len(plain) else plain
    if len(chars) < n or not all(is_han(c) for c in chars):
        raise TextError(
            f"reading at position {pos} has {n} syllable(s) but fewer Chinese characters stand right "
            "before it"
        )
    return ZhReading(start=len(plain) - n, syllables=syllables)


def _en_reading(plain: list[str], body: list[str], pos: int) -> EnReading:
    try:
        phones = tuple(normalize_arpabet(p) for p in body)
    except ValueError as exc:
        raise TextError(f"reading at position {pos}: {exc}") from None
    start = len(plain)
    while start > 0 and _ENGLISH_WORD_CHAR.match(plain[start - 1]):
        start -= 1
    run = "".join(plain[start:])
    word = run.lstrip("'")
    if not word:
        raise TextError(f"reading at position {pos} must follow an English word, e.g. live<L IH1 V>")
    return EnReading(start=start + len(run) - len(word), word=word, phones=phones)
