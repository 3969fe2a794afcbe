"""Mandarin grapheme-to-phoneme: normalized Chinese text -> v2 phones and phones-per-character.

Input is the output of `normalize_zh` (CJK characters U+4E00-U+9FA5 and the punctuation `! ? … , . -`).
Output phones are opencpop-style pairs: an initial (`zh`, or `AA`/`EE`/`OO`/`y`/`w` for zero-initial
syllables) and a final carrying its tone digit (`ang1`, `ir4`, `v3`, `er5`); each punctuation mark is one
phone. `word2ph[i]` is the number of phones of character `i` (2 for a syllable, 1 for punctuation).

The pipeline per sentence (split after each punctuation mark):

1. jieba (`jieba_fast`) segments the sentence and tags parts of speech;
2. `ToneSandhi.merge_for_sandhi` regroups the words (不, 一, repeats, third tones, 儿);
3. each word is read with pypinyin (phrase dictionary first), tone sandhi is applied, then erhua;
4. each syllable is mapped through `data/opencpop-strict.txt` to its two phones.

`reference_compat=True` is exactly the GPT-SoVITS v2 pypinyin path (G2PW off). The default adds Timbre's
corrections, all of them general rules rather than per-sentence fixes:

* a polyphone phrase table (`data/zh_polyphone_phrases.txt`) read before pypinyin; a phrase only counts where
  it does not cut a jieba word in two (so 还钱 in 我|还|钱 matches, 长大 in 家长|大会 does not), and inside a
  longer word that pypinyin's dictionary reads otherwise the dictionary wins (便宜 in 便宜行事 is biàn);
* a polyphone no rule reads takes the reading of the longest dictionary phrase of 3+ characters made of
  whole jieba words around it (一物|降|一物 xiáng): the idioms jieba does not know and cuts into pieces;
* part-of-speech and neighbour rules for one-character words (还/v huán, 还 closing a clause huán, 数/v
  shǔ, 地/uv de, 得 after a subject děi / dé before 了, 上/f after a noun shang5, 来/去 after a verb
  ending in 过/回/... neutral, 数/转/冲/种/扇/系 by their neighbours, 把 X 还/当/落 huán/dàng/là, ...);
* construction rules across words: 得 before 了/过 and a rank, number or prize is dé (考试中得了第一名);
  inside a jieba word V得X 得 is de (说得对) and V得了/V不着 are liǎo/zháo; 地 opening a word after a
  reduplicated word is the particle (高高兴兴|地走了);
* the neutral-tone rules leave alone a syllable whose reading the phrase table fixes, 的/地 that are not
  particles (目的 mùdì, 土地 tǔdì) and repeats that are not reduplications (银行|行长, adverbial 好好); a few
  words the reference's list wrongly makes neutral keep their tones (计划, 幸福, ...); the particle 地 is
  read `de`;
* 一 in numbers: the units digit stays yī (十一点), 一 before 百/千/万/亿 takes its sandhi (一千 yìqiān);
* third-tone grouping uses the corrected readings (你得 → ní děi), and a third tone still before a third
  tone once every word is read becomes second across word boundaries (我|也 wó yě).

With a G2PW model (`g2pw=`), the model's readings plus the reference's correction table replace pypinyin
(and the phrase table and POS rules); sandhi and erhua follow as in the chosen mode.

Inline overrides (`overrides`, character index -> TONE3 syllable) are applied last, after sandhi and erhua:
what the user wrote is what is spoken.

Nothing is loaded at import time: the dictionaries and the jieba tokenizer are built on first use by
`_load_engine()` (a bounded cache) and never mutated afterwards.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import TextError
from core.text.tone_sandhi import ToneSandhi, load_tone_word_lists
from core.text.zh_context import context_reading

if TYPE_CHECKING:
    from core.text.g2pw import G2PW

_DATA_DIR = Path(__file__).resolve().parent / "data"

PUNCTUATION: tuple[str, ...] = ("!", "?", "…", ",", ".", "-")
_SENTENCE_END = re.compile(r"(?<=[!?…,.\-])\s*")
_LATIN = re.compile(r"[a-zA-Z]+")
_TONE3 = re.compile(r"^([a-zü:]+?)([1-5])$")

# Finals whose written form is shortened after an initial (uei -> ui, ...).
_SHORT_FINALS = {"uei": "ui", "iou": "iu", "uen": "un"}
# Zero-initial syllables written with y/w (whole syllables first, then the first letter).
_ZERO_INITIAL_WHOLE = {"ing": "ying", "i": "yi", "in": "yin", "u": "wu"}
_ZERO_INITIAL_FIRST = {"v": "yu", "e": "e", "i": "y", "u": "w"}


@dataclass(frozen=True)
class _Engine:
    """Everything the G2P reads: built once, never mutated."""

    jieba: object  # jieba_fast.Tokenizer
    posseg: object  # jieba_fast.posseg.POSTokenizer
    sandhi: ToneSandhi  # the reference's word lists
    timbre_sandhi: ToneSandhi  # Timbre's word lists
    pinyin_to_phones: dict[str, tuple[str, str]]
    phones_to_pinyin: dict[tuple[str, str], str]
    phrases: dict[str, tuple[str, ...]]
    max_phrase_len: int


def _read_opencpop(path: Path) -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        key, value = line.split("\t")
        initial, final = value.strip().split(" ")
        table[key] = (initial, final)
    return table


def read_phrase_table(path: Path) -> dict[str, tuple[str, ...]]:
    """Read a `phrase<TAB>syl1 syl2 ...` table (TONE3, `#` comments); one syllable per character."""
    phrases: dict[str, tuple[str, ...]] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, _, reading = line.partition("\t")
        syllables = tuple(reading.split())
        if len(syllables) != len(word.strip()):
            raise TextError(
                f"{path.name} line {n}: {word!r} has {len(word)} characters but {len(syllables)} syllables"
            )
        phrases[word.strip()] = syllables
    return phrases


@lru_cache(maxsize=65536)
def _pypinyin(word: str, style: str) -> tuple[str, ...]:
    """pypinyin's reading of one word (a pure function of the word; cached because texts repeat words)."""
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(word, neutral_tone_with_five=True, style=Style[style]))


def _finals_tone3(word: str) -> list[str]:
    return list(_pypinyin(word, "FINALS_TONE3"))


def _initials(word: str) -> list[str]:
    return list(_pypinyin(word, "INITIALS"))


@lru_cache(maxsize=1)
def _load_engine() -> _Engine:
    import jieba_fast
    import jieba_fast.posseg

    logging.getLogger("jieba_fast").setLevel(logging.CRITICAL)
    tokenizer = jieba_fast.Tokenizer()
    tokenizer.initialize()
    posseg = jieba_fast.posseg.POSTokenizer(tokenizer)
    sandhi = ToneSandhi(
        load_tone_word_lists(), cut_for_search=tokenizer.cut_for_search, finals_of=_finals_tone3
    )
    timbre_sandhi = ToneSandhi(
        load_tone_word_lists(reference_compat=False),
        cut_for_search=tokenizer.cut_for_search,
        finals_of=_finals_tone3,
    )
    to_phones = _read_opencpop(_DATA_DIR / "opencpop-strict.txt")
    to_pinyin: dict[tuple[str, str], str] = {}
    for key, pair in to_phones.items():
        to_pinyin.setdefault(pair, key)
    phrases = read_phrase_table(_DATA_DIR / "zh_polyphone_phrases.txt")
    return _Engine(
        jieba=tokenizer,
        posseg=posseg,
        sandhi=sandhi,
        timbre_sandhi=timbre_sandhi,
        pinyin_to_phones=to_phones,
        phones_to_pinyin=to_pinyin,
        phrases=phrases,
        max_phrase_len=max((len(p) for p in phrases), default=1),
    )


# ---- syllables <-> phones ------------------------------------------------------------------------------
def _split_tone3(syllable: str) -> tuple[str, str]:
    """TONE3 pinyin (`"lve4"`, `"nü3"`, `"ma5"`) -> (initial, final+tone) as pypinyin writes them."""
    from pypinyin.contrib.tone_convert import to_finals_tone3, to_initials

    text = syllable.strip().lower().replace("ü", "v").replace("u:", "v")
    if not _TONE3.match(text):
        raise TextError(
            f"{syllable!r} is not TONE3 pinyin; write the syllable then its tone 1-5, e.g. 'chang2', 'lv4'"
        )
    return to_initials(text, strict=True), to_finals_tone3(text, strict=True, neutral_tone_with_five=True)


def _syllable_to_phones(engine: _Engine, initial: str, final: str) -> tuple[str, str]:
    """pypinyin (initial, TONE3 final) -> (opencpop initial, opencpop final + tone)."""
    base, tone = final[:-1], final[-1:]
    if tone not in ("1", "2", "3", "4", "5") or not base:
        raise TextError(f"cannot read the syllable {initial + final!r}: no tone digit 1-5")
    if initial:
        pinyin = initial + _SHORT_FINALS.get(base, base)
    elif base in _ZERO_INITIAL_WHOLE:
        pinyin = _ZERO_INITIAL_WHOLE[base]
    elif base[0] in _ZERO_INITIAL_FIRST:
        pinyin = _ZERO_INITIAL_FIRST[base[0]] + base[1:]
    else:
        pinyin = base
    if pinyin not in engine.pinyin_to_phones:
        raise TextError(f"the syllable {pinyin + tone!r} has no v2 phones (not in opencpop-strict.txt)")
    new_initial, new_final = engine.pinyin_to_phones[pinyin]
    return new_initial, new_final + tone


def pinyin_of_phones(initial: str, final: str) -> str:
    """Inverse of the opencpop map: (`"zh"`, `"ang1"`) -> `"zhang1"`, (`"y"`, `"v3"`) -> `"yu3"`.

    The final must carry its tone digit; ü is written `v` (`"lv4"`). Raises `TextError` for a pair that is
    not a v2 Mandarin syllable.
    """
    engine = _load_engine()
    tone = final[-1:]
    if tone not in ("1", "2", "3", "4", "5"):
        raise TextError(f"{final!r} has no tone digit 1-5")
    pinyin = engine.phones_to_pinyin.get((initial, final[:-1]))
    if pinyin is None:
        raise TextError(f"({initial!r}, {final!r}) is not a Mandarin syllable of the v2 phone set")
    return pinyin + tone


def syllable_phones(syllable: str) -> tuple[str, str]:
    """TONE3 pinyin (`"chang2"`, `"lv4"`, neutral tone `5`) -> its two v2 phones (`("ch", "ang2")`)."""
    engine = _load_engine()
    initial, final = _split_tone3(syllable)
    return _syllable_to_phones(engine, initial, final)


# ---- erhua -------------------------------------------------------------------------------------------
def _erhua(engine: _Engine, initials: list[str], finals: list[str], word: str, pos: str) -> list[str]:
    """儿 at the end of a word: a first tone becomes second; in an erhua word 儿 takes the tone before it."""
    lists = engine.sandhi.words
    for i, final in enumerate(finals):
        if i == len(finals) - 1 and word[i] == "儿" and final == "er1":
            finals[i] = "er2"
    if word not in lists.erhua_words and (word in lists.not_erhua_words or pos in {"a", "j", "nr"}):
        return finals
    if len(finals) != len(word):
        return finals
    out: list[str] = []
    for i, final in enumerate(finals):
        if (
            i == len(finals) - 1
            and word[i] == "儿"
            and final in {"er2", "er5"}
            and word[-2:] not in lists.not_erhua_words
            and out
        ):
            final = "er" + out[-1][-1]
        out.append(final)
    return out


# ---- Timbre's readings ----------------------------------------------------------------------------------
def _word_spans(words: Sequence[str]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for word in words:
        spans.append((start, start + len(word)))
        start += len(word)
    return spans


@lru_cache(maxsize=65536)
def _dictionary_reading(phrase: str) -> tuple[str, ...] | None:
    """pypinyin's phrase-dictionary reading of `phrase` in TONE3 (neutral tone 5), or None if not listed."""
    from pypinyin.constants import PHRASES_DICT  # deferred: pypinyin's big table loads on first use
    from pypinyin.contrib.tone_convert import to_tone3

    found = PHRASES_DICT.get(phrase)
    return None if found is None else tuple(to_tone3(s[0], neutral_tone_with_five=True) for s in found)


def _same_reading(a: str, b: str) -> bool:
    """Two TONE3 syllables agree: equal, or the same syllable with one of them neutral."""
    return a == b or (a[:-1] == b[:-1] and "5" in (a[-1], b[-1]))


def _yields_to_dictionary(
    sentence: str, span: tuple[int, int], word: tuple[int, int], reading: Sequence[str]
) -> bool:
    """True when a table phrase at `span` lies strictly inside the jieba word at `word`, which pypinyin's
    dictionary lists with another reading of those characters: the longer phrase settles them (便宜 in
    便宜行事 is biàn, 朝阳 in 朝阳区 is cháo, 为人 in 舍己为人 is wèi)."""
    if span == word:
        return False
    whole = _dictionary_reading(sentence[word[0] : word[1]])
    if whole is None or len(whole) != word[1] - word[0]:
        return False
    inner = whole[span[0] - word[0] : span[1] - word[0]]
    return not all(_same_reading(a, b) for a, b in zip(inner, reading, strict=True))


def _phrase_readings(engine: _Engine, sentence: str, words: Sequence[str]) -> list[str | None]:
    """Per character, the phrase table's TONE3 reading or None.

    Forward longest match; a match must not cut a jieba word in two (it either covers whole words or lies
    inside one word), and inside a longer word it yields to the dictionary's reading of that word.
    """
    spans = _word_spans(words)
    word_of = [0] * len(sentence)
    for k, (a, b) in enumerate(spans):
        for i in range(a, b):
            word_of[i] = k
    readings: list[str | None] = [None] * len(sentence)
    i = 0
    while i < len(sentence):
        matched = 0
        for length in range(min(engine.max_phrase_len, len(sentence) - i), 1, -1):
            phrase = sentence[i : i + length]
            if phrase not in engine.phrases:
                continue
            first, last = spans[word_of[i]], spans[word_of[i + length - 1]]
            inside_one = word_of[i] == word_of[i + length - 1]
            whole_words = first[0] == i and last[1] == i + length
            if inside_one and _yields_to_dictionary(sentence, (i, i + length), first, engine.phrases[phrase]):
                continue
            if inside_one or whole_words:
                readings[i : i + length] = list(engine.phrases[phrase])
                matched = length
                break
        i += matched or 1
    return readings


# The shortest dictionary phrase that may settle a reading across jieba words: two-character matches across
# two one-character words are mostly accidents (都|会 is not 都会 dūhuì, 和|了 not the mahjong 和了 húle).
_SPANNING_MIN = 3
_SPANNING_MAX = 8  # longer dictionary phrases are proverbs jieba keeps whole or splits into dictionary words


def _is_polyphone(char: str) -> bool:
    """True for a character pypinyin lists with more than one reading."""
    from pypinyin.constants import PINYIN_DICT

    return "," in PINYIN_DICT.get(ord(char), "")


def _longest_spanning_phrase(
    sentence: str, spans: Sequence[tuple[int, int]], k: int
) -> tuple[int, int] | None:
    """The longest dictionary phrase of whole jieba words (3+ characters) that holds word `k` and more."""
    first, last = spans[k]
    starts = [a for a, _ in spans[: k + 1] if last - a <= _SPANNING_MAX]
    ends = [b for _, b in spans[k:] if b - first <= _SPANNING_MAX]
    pairs = [
        (a, b)
        for a in starts
        for b in ends
        if (a, b) != (first, last) and _SPANNING_MIN <= b - a <= _SPANNING_MAX
    ]
    for a, b in sorted(pairs, key=lambda pair: pair[0] - pair[1]):
        if _dictionary_reading(sentence[a:b]):
            return a, b
    return None


def _mark_spanning_phrases(sentence: str, words: Sequence[tuple[str, str]], fixed: list[str | None]) -> None:
    """A polyphone that no rule has read takes the reading of the longest dictionary phrase (3+ characters)
    made of whole jieba words around it, where that differs from its own word's reading: the phrases jieba
    does not know cut into pieces (一物|降|一物 xiáng, 家|给|户|足 jǐ)."""
    spans = _word_spans([w for w, _ in words])
    for k, (first, last) in enumerate(spans):
        todo = [i for i in range(first, last) if fixed[i] is None and _is_polyphone(sentence[i])]
        found = _longest_spanning_phrase(sentence, spans, k) if todo else None
        if found is None:
            continue
        phrase = _dictionary_reading(sentence[found[0] : found[1]]) or ()
        own = _pypinyin(sentence[first:last], "TONE3")
        for i in todo:
            reading = phrase[i - found[0]]
            if not reading.endswith("5") and not _same_reading(reading, own[i - first]):
                fixed[i] = reading


def _pos_reading(words: Sequence[tuple[str, str]], k: int, sentence: str, start: int) -> str | None:
    """Reading of the one-character word `words[k]` (at `sentence[start]`) from its neighbours, or None:
    the context table (`core.text.zh_context`), after the potential complement 了 (its objects are
    `_OBTAINED`, shared with `_mark_de_obtain`)."""
    word = words[k][0]
    if (
        word == "了"
        and k > 1
        and words[k - 1][0] == "得"
        and words[k - 2][1].startswith("v")
        and k + 1 < len(words)
        and not words[k + 1][1].startswith("m")
        and not words[k + 1][0].startswith(_OBTAINED)
    ):
        return "liao3"  # potential complement: 干得|了这活儿吗
    return context_reading(sentence, start, words, k)


# What one obtains after 得了 (得了第一名, 得了一百分, 得了冠军, 得了重感冒): 得 is the verb dé.
_OBTAINED = (
    "第",
    "满分",
    "冠军",
    "亚军",
    "季军",
    "金牌",
    "银牌",
    "铜牌",
    "奖",
    "大奖",
    "病",
    "重病",
    "大病",
    "感冒",
    "重感冒",
    "癌症",
    "肺炎",
    "高分",
    "好评",
    "胜利",
    "荣誉",
    "称号",
)


def _mark_de_obtain(words: Sequence[tuple[str, str]], fixed: list[str | None]) -> None:
    """得 ending a word, then 了 or 过, then a rank, number or prize: the verb dé (考试中得了第一名)."""
    start = 0
    for k, (word, _) in enumerate(words):
        end = start + len(word)
        if (
            word.endswith("得")
            and fixed[end - 1] in (None, "de5")
            and k + 2 < len(words)
            and words[k + 1][0] in ("了", "过")
        ):
            obj, obj_pos = words[k + 2]
            if obj_pos.startswith("m") or obj.startswith(_OBTAINED):
                fixed[end - 1] = "de2"
        start = end


def _mark_de_complement(engine: _Engine, words: Sequence[tuple[str, str]], fixed: list[str | None]) -> None:
    """得 inside a three-character verb (说得对, 看得见, 听得懂) is the complement particle de5.

    Not after a dé word of the phrase table (获得者).
    """
    start = 0
    for word, _ in words:
        if len(word) == 3 and word[1:] in ("不着", "得着") and fixed[start + 2] is None:
            fixed[start + 2] = "zhao2"  # potential complement: 睡不着, 找得着
        freq = getattr(engine.jieba, "FREQ", {}).get(word[:2]) or 0
        if len(word) == 3 and word[1:] == "得了" and fixed[start + 2] is None and freq == 0:
            fixed[start + 2] = "liao3"  # potential complement: 干得了, 吃得了 (not 记得|了)
        if len(word) == 3 and word[1] == "得" and fixed[start + 1] is None:
            head = engine.phrases.get(word[:2])
            if head is None or head[1] != "de2":
                fixed[start + 1] = "de5"
        start += len(word)


def _mark_adverbial_de(words: Sequence[tuple[str, str]], fixed: list[str | None]) -> None:
    """地 opening a jieba word right after a reduplicated word is the particle (高高兴兴|地走了)."""
    start = 0
    for k, (word, _) in enumerate(words):
        prev = words[k - 1][0] if k > 0 else ""
        if (
            len(word) > 1
            and word[0] == "地"
            and len(prev) >= 2
            and prev[-1] == prev[-2]
            and fixed[start] is None
        ):
            fixed[start] = "de5"
        start += len(word)


def _mark_a_not_a(words: Sequence[tuple[str, str]], fixed: list[str | None]) -> None:
    """The 不 of an A-not-A question split by jieba (会|不会, 要|不要) is neutral, as in 累不累."""
    start = 0
    for k, (word, _) in enumerate(words):
        nxt = words[k + 1][0] if k + 1 < len(words) else ""
        if len(word) == 1 and nxt == "不" + word and fixed[start + 1] is None:
            fixed[start + 1] = "bu5"
        start += len(word)


# Nouns that a one-character verb before them opens without being said twice: 问|问题 is not 问问.
_NOT_REDUPLICATED = frozenset(("问题", "学生", "用户", "看法", "想法", "说法", "打算", "等等"))
# Verbs that are also auxiliaries: before a verb that they open they are the auxiliary, not a repeat
# (要|要求, 会|会见, 想|想象).
_AUXILIARIES = frozenset("要会能想得该敢肯愿可")


def _mark_reduplicated_verbs(words: Sequence[tuple[str, str]], fixed: list[str | None]) -> None:
    """The second verb of a reduplication before its object that jieba cut apart, V|VX (睡|睡懒觉, 爬|爬山,
    练|练字), is neutral, as in 看看 and 散散步. (V了V keeps its full tone: 笑了笑, 算了|算了.)"""
    start = 0
    for k, (word, pos) in enumerate(words):
        nxt, nxt_pos = words[k + 1] if k + 1 < len(words) else ("", "")
        if (
            len(word) == 1
            and pos.startswith("v")
            and word not in _AUXILIARIES
            and 2 <= len(nxt) <= 3
            and nxt[0] == word
            and nxt_pos.startswith(("v", "n", "l", "i"))  # a verb phrase (爬山, 睡懒觉), not 去|去年
            and nxt not in _NOT_REDUPLICATED
        ):  # the syllable as read (遛弯 liù by the phrase table), made neutral; a third tone before it rises
            own = fixed[start + 1] or fixed[start] or _pypinyin(nxt, "TONE3")[0]
            fixed[start + 1] = own[:-1] + "5"
            if own.endswith("3") and (fixed[start] or own)[:-1] == own[:-1]:
                fixed[start] = own[:-1] + "2"
        start += len(word)


def _non_particle_ending(word: str, pos: str, finals: Sequence[str]) -> bool:
    """True when a word ends in 的/地 that is not the structural particle (目的, 土地)."""
    last = word[-1:]
    if len(word) < 2 or last not in "的地":
        return False
    if last == "地":  # the particle only after a reduplicated stem (慢慢地); otherwise 土地, 特地
        stem = word[:-1]
        return not (len(stem) >= 2 and stem[-1] == stem[-2])
    if last == "的":  # read di (目的, 标的) by the dictionary: not the particle
        return not finals[-1].startswith("e")
    return False  # 得 dé words (获得, 取得) are in the phrase table


# ---- the per-sentence pipeline -------------------------------------------------------------------------
@dataclass
class _Syllable:
    initial: str
    final: str  # TONE3 final, or the punctuation mark itself (then initial == final)


def _split_reduplicated_yi(seg: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`来看 一 看` -> `来 看 一 看`, so that the V一V rule (看一看, yi5) sees the verb on both sides."""
    out = list(seg)
    for k in range(len(out) - 2, 0, -1):
        prev, mid, nxt = out[k - 1], out[k], out[k + 1]
        if (
            mid[0] == "一"
            and len(nxt[0]) == 1
            and len(prev[0]) > 1
            and prev[0][-1] == nxt[0]
            and nxt[1] == "v"
        ):
            out[k - 1 : k] = [(prev[0][:-1], prev[1]), (prev[0][-1], "v")]
    return out


def _g2pw_word(word: str, readings: Sequence[str | None]) -> tuple[list[str], list[str]]:
    """G2PW readings of one word -> (initials, TONE3 finals), after the reference's correction table."""
    from pypinyin.contrib.tone_convert import to_finals_tone3, to_initials

    from core.text.g2pw import correct_readings

    if any(r is None for r in readings):
        raise TextError(f"G2PW gave no reading for a character of {word!r}; add an inline pinyin override")
    initials, finals = [], []
    for reading in correct_readings(word, readings):  # type: ignore[arg-type]
        if reading[:1].isalpha():
            initials.append(to_initials(reading))
            finals.append(to_finals_tone3(reading, neutral_tone_with_five=True))
        else:
            initials.append(reading)
            finals.append(reading)
    return initials, finals


def _read_sentence(
    engine: _Engine, sentence: str, *, compat: bool, g2pw_readings: Sequence[str | None] | None = None
) -> list[_Syllable]:
    raw = [(w, p) for w, p in engine.posseg.lcut(sentence)]
    sandhi = engine.sandhi if compat else engine.timbre_sandhi
    fixed: list[str | None] = [None] * len(sentence)
    # 一/不 readings a context rule gave: the tone of the construction, which no 一/不 sandhi changes.
    final: dict[int, str] = {}
    if not compat and g2pw_readings is None:
        raw = _split_reduplicated_yi(raw)
        fixed = _phrase_readings(engine, sentence, [w for w, _ in raw])
        start = 0
        for k, (word, _) in enumerate(raw):
            for i in range(start, start + len(word)):
                # a phrase fixes 一/不 in its citation tone, for the sandhi to change; a context rule may
                # still give the tone of a construction (数一数 in 数一数二 is yī); other characters a phrase
                # fixed take only the rules flagged over_phrase (年纪|最长 zhǎng)
                if fixed[i] is not None and sentence[i] not in "一不":
                    fixed[i] = context_reading(sentence, i, raw, k, over_phrase=True) or fixed[i]
                    continue
                if len(word) == 1:
                    reading = _pos_reading(raw, k, sentence, i)
                else:  # inside a longer word only the table's text and name rules apply
                    reading = context_reading(sentence, i, raw, k)
                if reading is not None and sentence[i] in "一不":
                    final[i] = reading
                fixed[i] = reading or fixed[i]
            start += len(word)
        _mark_spanning_phrases(sentence, raw, fixed)
        _mark_de_obtain(raw, fixed)
        _mark_de_complement(engine, raw, fixed)
        _mark_adverbial_de(raw, fixed)
        _mark_a_not_a(raw, fixed)
        _mark_reduplicated_verbs(raw, fixed)
    merged = sandhi.merge_for_sandhi(raw, None if compat else [r[-1] if r else None for r in fixed])

    out: list[_Syllable] = []
    tied: list[bool] = []  # per syllable: an erhua 儿 sharing the tone of the syllable before it
    start = 0
    for word, pos in merged:
        end = start + len(word)
        if pos == "eng":
            start = end
            continue
        if g2pw_readings is not None:
            initials, finals = _g2pw_word(word, g2pw_readings[start:end])
        else:
            initials, finals = _initials(word), _finals_tone3(word)
        n = min(len(initials), len(finals))
        initials, finals = initials[:n], finals[:n]
        if compat:
            if not all(finals):  # the reference's sandhi and phone lookup fail on these (IndexError)
                raise TextError(
                    f"cannot read {word!r} in reference-compat mode: pypinyin gives it a syllable without a "
                    f"vowel or tone ({' '.join(_pypinyin(word, 'TONE3'))}); the default mode reads it"
                )
            finals = sandhi.apply(word, pos, finals)
        else:
            keep = [False] * n
            if n == len(word):
                for i in range(n):
                    reading = fixed[start + i]
                    if reading is not None:
                        initials[i], finals[i] = _split_tone3(reading)
                        keep[i] = True
                if _non_particle_ending(word, pos, finals):
                    keep[-1] = True
            finals = sandhi.apply(word, pos, finals, timbre_rules=True, keep=keep)
            for i in range(n) if n == len(word) else ():
                if start + i in final:
                    finals[i] = _split_tone3(final[start + i])[1]
            particle_di = n == len(word) and word[-1] == "地" and not keep[-1]
            if particle_di and initials[-1] == "d" and finals[-1] == "i5":
                finals[-1] = "e5"  # the particle 地 is read de
        finals = _erhua(engine, initials, finals, word, pos)
        out.extend(_Syllable(c, v) for c, v in zip(initials, finals, strict=False))
        tied.extend(
            i > 0 and word[i] == "儿" and finals[i] == "er" + finals[i - 1][-1:] for i in range(len(finals))
        )
        start = end
    if not compat:
        finals = sandhi.third_across_words([s.final for s in out], tied)
        out = [_Syllable(s.initial, f) for s, f in zip(out, finals, strict=True)]
    return out


def g2p_zh(
    norm_text: str,
    *,
    overrides: Mapping[int, str] | None = None,
    reference_compat: bool = False,
    g2pw: G2PW | None = None,
) -> tuple[list[str], list[int]]:
    """Normalized Chinese text -> (v2 phones, phones per character).

    `overrides` maps a character index of `norm_text` to a TONE3 syllable (`"chang2"`, neutral tone `5`); it
    wins over every other rule and is applied after tone sandhi. `reference_compat=True` reproduces the
    GPT-SoVITS v2 pypinyin path exactly (and still honours `overrides`).
    `g2pw` (a loaded `core.text.g2pw.G2PW`) replaces pypinyin (and, in the default reading, the phrase table
    and part-of-speech rules) as the source of readings, as the reference does with G2PW on; tone sandhi
    and erhua follow as usual (the reference's rules with `reference_compat=True`, Timbre's otherwise).
    Raises `TextError` for a character that cannot be read or a bad override.
    """
    engine = _load_engine()
    sentences = [_LATIN.sub("", s) for s in _SENTENCE_END.split(norm_text) if s.strip()]
    sentences = [s for s in sentences if s]
    readings: list[list[str | None]] | list[None] = [None] * len(sentences)
    if g2pw is not None and sentences:
        readings = g2pw.predict(sentences)
    syllables: list[_Syllable] = []
    for sentence, sentence_readings in zip(sentences, readings, strict=True):
        syllables.extend(
            _read_sentence(engine, sentence, compat=reference_compat, g2pw_readings=sentence_readings)
        )

    if overrides:
        _apply_overrides(norm_text, syllables, overrides)

    phones: list[str] = []
    word2ph: list[int] = []
    for syl in syllables:
        if syl.initial == syl.final:
            if syl.initial not in PUNCTUATION:
                raise TextError(
                    f"cannot read {syl.initial!r} in {norm_text!r}: only Chinese characters and "
                    "! ? … , . - are allowed here; normalize the text first (normalize_zh)"
                )
            phones.append(syl.initial)
            word2ph.append(1)
        else:
            phones.extend(_syllable_to_phones(engine, syl.initial, syl.final))
            word2ph.append(2)
    return phones, word2ph


def _apply_overrides(norm_text: str, syllables: list[_Syllable], overrides: Mapping[int, str]) -> None:
    if len(syllables) != len(norm_text.replace(" ", "")) or " " in norm_text:
        raise TextError(
            "inline pinyin needs one syllable per character, but this text does not map one-to-one "
            f"({len(norm_text)} characters, {len(syllables)} syllables); remove Latin letters and spaces"
        )
    for index, syllable in overrides.items():
        if not 0 <= index < len(norm_text):
            raise TextError(
                f"pinyin override at character {index} is outside the text ({len(norm_text)} characters)"
            )
        if norm_text[index] in PUNCTUATION:
            raise TextError(
                f"pinyin override {syllable!r} points at the punctuation mark {norm_text[index]!r}"
            )
        initial, final = _split_tone3(syllable)
        syllables[index] = _Syllable(initial, final)
