"""Context rules for Chinese readings: one table (`data/zh_context_readings.tsv`), one engine.

A rule gives a character a TONE3 reading where its context holds. Conditions, all of which must hold:

- on the text of the sentence: `left=RE` (the text just before the character ends with a match; a negative
  lookbehind such as `(?<![这那])` says 'not right after'), `right=RE`
  (the text just after starts with a match), `span=RE` (a match of RE in the sentence puts its group `c`
  on the character: `(.)了(?P<c>一)\\1` for 想了一想);
- on the jieba words around a character that is a word of its own (word rules): `prev`, `next`, `prev2`,
  `next2` (the word 1 or 2 before / after matches RE entirely), `pos`, `prev_pos`, `next_pos`, `prev2_pos`,
  `next2_pos` (the same for part-of-speech tags), `window` (one of the 5 words before matches RE),
  `later_pos` (a later word of the same clause has a tag matching RE), and the flags `clause_end` (no word
  or a punctuation mark after) and `first` (no word before); `!` before one of these keys negates it
  (`!later_pos=v.*`: no verb follows in the clause, as after the copula 为 of 有效期为三年);
- on the jieba word holding the character, of any length: `word_pos=RE` (its part-of-speech tag), the flags
  `word_start` (the character is the word's first: the 区 of 区老师, not of 社区老师), `unlisted` (the word
  is not a phrase of pypinyin's dictionary, whose reading would otherwise stand: 重填, not 重视) and
  `name_start` (the first character of a word of 2-3 characters tagged as a person's name, `nr*`, that no
  dictionary phrase opens: 曾国藩, not 曾经).

Rules are tried in table order and the first that holds gives the reading. Rules with word conditions apply
only to a character that jieba cut as a word of its own, or with `word_start` to the first character of a
word of any length, whose neighbours they then look at (地 opening the word 地教 that jieba glued after the
adjective 认真: `word_start prev_pos=a.*`); conditions on the word holding it and text rules apply anywhere
the phrase table has not fixed the reading. Default (Timbre) reading only: `reference_compat` never consults
the table.

A rule never overrides the polyphone phrase table (`data/zh_polyphone_phrases.txt`) unless it has the flag
`over_phrase`: then it is also tried where a phrase fixed the reading (年纪|最长 zhǎng, though the phrase 最长
reads cháng after a degree word; 很|好处 chǔ, though 好处 is hǎochù).

Classes (`data/zh_reading_classes.tsv`: class, character, reading) let one row stand for a class of
characters: a row whose character is `@name` applies to every member of class `name` (`@name[曾解]` to
those members only), and a reading `@`
is each member's own reading (`@surname @ left=姓` reads every surname after 姓); `{char}` in a condition
stands for the member (`@verb @ left={char}了?` reads the second 量 of 量了量 as the first). The rule is tried
at the row's place in the table, as if written out once per member.
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
CLASSES = Path(__file__).resolve().parent / "data" / "zh_reading_classes.tsv"
_WORD_KEYS = (
    "prev", "next", "prev2", "next2", "pos", "prev_pos", "next_pos", "prev2_pos", "next2_pos", "window",
    "later_pos",
)  # fmt: skip
_NOT = "!"  # before a word key: the condition must not hold
_TEXT_KEYS = ("left", "right", "span")
_FLAGS = ("clause_end", "first")
_NAME_FLAG = "name_start"
_START_FLAG = "word_start"
_UNLISTED_FLAG = "unlisted"
_OVER_PHRASE_FLAG = "over_phrase"  # tried also where the phrase table fixed the reading
_OWN_WORD_FLAGS = (_START_FLAG, _NAME_FLAG, _UNLISTED_FLAG)  # about the word holding a character, any length
_OWN_WORD_KEYS = ("word_pos",)
_WINDOW = 5
_NAME_LENGTHS = (2, 3)  # a surname and a one- or two-character given name
# Common in transliterated foreign names (查尔斯, 盖茨, 华莱士), rare in Chinese given names: a word holding
# one after its first character is not read as a Chinese surname and given name.
_TRANSLITERATION = frozenset("尔斯特克莱茨韦普莫拉伊塔兹顿姆")
_TONE3 = re.compile(r"[a-z]+[1-5]")


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
        """True when the rule looks at the jieba words (then it needs them)."""
        return bool(self.words or self.flags - {_OVER_PHRASE_FLAG})

    @property
    def needs_single(self) -> bool:
        """True when the rule's word conditions are about a character that is a word of its own."""
        neighbour_flags = self.flags.difference(_OWN_WORD_FLAGS, (_OVER_PHRASE_FLAG,))
        return bool(self.words.keys() - set(_OWN_WORD_KEYS) or neighbour_flags)


def parse_classes(lines: Sequence[str], source: str = "classes") -> dict[str, dict[str, str]]:
    """{class: {char: reading}} from TAB-separated lines `class, char, reading[, # why]`."""
    classes: dict[str, dict[str, str]] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3 or len(fields[1]) != 1 or not _TONE3.fullmatch(fields[2]):
            raise TextError(f"{source} line {number}: expected class, one character and a TONE3 syllable")
        classes.setdefault(fields[0], {})[fields[1]] = fields[2]
    return classes


def _class_members(name: str, classes: dict[str, dict[str, str]], where: str) -> dict[str, str]:
    """The members of `@class` or of the subset `@class[chars]` (each of `chars` a member), with readings."""
    found = re.fullmatch(r"@(\w+)(?:\[(\w+)\])?", name)
    members = classes.get(found.group(1)) if found else None
    if not members:
        raise TextError(f"{where}: unknown character class {name!r}")
    if found.group(2) is None:
        return members
    strangers = [c for c in found.group(2) if c not in members]
    if strangers:
        raise TextError(f"{where}: {''.join(strangers)} not in class {found.group(1)!r}")
    return {c: members[c] for c in found.group(2)}


def _parse_conditions(
    conditions: str, source: str, number: int
) -> tuple[dict[str, re.Pattern[str]], dict[str, re.Pattern[str]], frozenset[str]]:
    """(word conditions, text conditions, flags) of one rule's space-separated conditions."""
    words: dict[str, re.Pattern[str]] = {}
    text: dict[str, re.Pattern[str]] = {}
    flags = set()
    for condition in conditions.split():
        key, _, value = condition.partition("=")
        try:
            if key in (*_FLAGS, *_OWN_WORD_FLAGS, _OVER_PHRASE_FLAG) and not value:
                flags.add(key)
            elif (key.removeprefix(_NOT) in _WORD_KEYS or key in _OWN_WORD_KEYS) and value:
                words[key] = re.compile(value)
            elif key == "left" and value:
                text[key] = re.compile(f"(?:{value})$")
            elif key in _TEXT_KEYS and value:
                text[key] = re.compile(value)
            else:
                raise TextError(f"{source} line {number}: unknown condition {condition!r}")
        except re.error as exc:
            raise TextError(f"{source} line {number}: bad pattern in {condition!r}: {exc}") from None
    return words, text, frozenset(flags)


def parse_rules(
    lines: Sequence[str], source: str = "table", classes: dict[str, dict[str, str]] | None = None
) -> dict[str, tuple[ContextRule, ...]]:
    """Rules by character, in order, from TAB-separated lines `char, reading, conditions[, # why]`;
    `char` may be `@class`, `reading` `@` and the conditions may name `{char}` (see the module docstring)."""
    rules: dict[str, list[ContextRule]] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise TextError(f"{source} line {number}: expected char, reading and conditions, got {line!r}")
        char, reading, conditions = fields[0], fields[1], fields[2]
        if char.startswith("@"):
            members = _class_members(char, classes or {}, f"{source} line {number}")
        else:
            members = {char: reading}
        for member, own in members.items():
            member_reading = own if reading == "@" else reading
            if len(member) != 1 or not _TONE3.fullmatch(member_reading):
                raise TextError(f"{source} line {number}: expected one character and a TONE3 syllable")
            own_conditions = conditions.replace("{char}", re.escape(member))
            words, text, flags = _parse_conditions(own_conditions, source, number)
            rule = ContextRule(member, member_reading, words, text, flags, number)
            rules.setdefault(member, []).append(rule)
    return {char: tuple(found) for char, found in rules.items()}


@functools.lru_cache(maxsize=1)
def context_rules() -> dict[str, tuple[ContextRule, ...]]:
    """The shipped table, parsed once."""
    classes = parse_classes(CLASSES.read_text(encoding="utf-8").splitlines(), CLASSES.name)
    return parse_rules(TABLE.read_text(encoding="utf-8").splitlines(), TABLE.name, classes)


def _in_phrase_dictionary(phrase: str) -> bool:
    from pypinyin.constants import PHRASES_DICT  # deferred: pypinyin's big table loads on first use

    return phrase in PHRASES_DICT


def _own_word_conditions_hold(rule: ContextRule, i: int, words: Sequence[tuple[str, str]], k: int) -> bool:
    """The conditions on the jieba word `words[k]`, which holds the character at `i`."""
    word, pos = words[k]
    word_pos = rule.words.get("word_pos")
    if word_pos is not None and not word_pos.fullmatch(pos):
        return False
    if (_START_FLAG in rule.flags or _NAME_FLAG in rule.flags) and i != sum(len(w) for w, _ in words[:k]):
        return False
    if _UNLISTED_FLAG in rule.flags and _in_phrase_dictionary(word):
        return False
    if _NAME_FLAG in rule.flags:  # a surname and a given name that no dictionary phrase opens (曾经)
        is_name = len(word) in _NAME_LENGTHS and pos.startswith("nr") and not _TRANSLITERATION & set(word[1:])
        return is_name and not any(_in_phrase_dictionary(word[:n]) for n in range(2, len(word) + 1))
    return True


_SLOTS = {"prev": -1, "next": 1, "prev2": -2, "next2": 2, "pos": 0}


def _word_condition(key: str, pattern: re.Pattern[str], words: Sequence[tuple[str, str]], k: int) -> bool:
    """One neighbour condition (`key` without its `!`) on the word `words[k]`."""
    if key == "window":
        return any(pattern.fullmatch(w) for w, _ in words[max(0, k - _WINDOW) : k])
    if key == "later_pos":
        for word, pos in words[k + 1 :]:
            if word in PUNCTUATION:
                return False
            if pattern.fullmatch(pos):
                return True
        return False
    name, _, kind = key.partition("_")
    j = k + _SLOTS[name]
    if not 0 <= j < len(words):
        return False
    word, pos = words[j]
    return bool(pattern.fullmatch(pos if kind == "pos" or name == "pos" else word))


def _word_conditions_hold(rule: ContextRule, words: Sequence[tuple[str, str]], k: int) -> bool:
    for key, pattern in rule.words.items():
        if key in _OWN_WORD_KEYS:
            continue  # `_own_word_conditions_hold`
        negated = key.startswith(_NOT)
        if _word_condition(key.removeprefix(_NOT), pattern, words, k) == negated:
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
    *,
    over_phrase: bool = False,
) -> str | None:
    """The reading the table gives `sentence[i]`, or None.

    `words`/`k`: the jieba (word, POS) list and the index of the word holding `i`; without them only
    rules without word conditions are tried. `over_phrase`: only the rules flagged `over_phrase` (the
    phrase table fixed the character's reading).
    """
    table = context_rules() if rules is None else rules
    for rule in table.get(sentence[i], ()):
        if over_phrase and _OVER_PHRASE_FLAG not in rule.flags:
            continue
        if rule.needs_word:
            if words is None or k is None:
                continue
            if rule.needs_single and len(words[k][0]) != 1 and _START_FLAG not in rule.flags:
                continue
            if not _own_word_conditions_hold(rule, i, words, k):
                continue
            if not _word_conditions_hold(rule, words, k):
                continue
        if _text_conditions_hold(rule, sentence, i):
            return rule.reading
    return None
