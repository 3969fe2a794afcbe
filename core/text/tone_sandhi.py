"""Mandarin tone sandhi on jieba-segmented words (the rules the GPT-SoVITS v2 frontend applies).

Tones live in TONE3 finals (`"ao3"`, `"e5"`: digit 1-4, 5 = neutral). The rules, in the order they run:

* re-grouping of the segmentation before any reading is taken (`merge_for_sandhi`): `不` and `一`
  are glued to the word after them, `V 一 V` becomes one word (`看一看`), repeated words are joined
  (`看`+`看`), runs of third-tone words up to three characters are joined (Timbre's reading: only the
  pairs the syntax groups first, `_joins_for_sandhi`), and a lone `儿` is glued to the word before it;
* `不` before a fourth tone becomes second tone, and neutral inside `X不X` (`看不懂`);
* `一` becomes second tone before a fourth tone, fourth tone before other tones, neutral inside `V一V`, first
  tone as an ordinal (`第一`) or inside a number;
* neutral tones: reduplicated nouns/verbs/adjectives, modal particles, `的地得`, aspect `了着过`, suffixes
  `们子`, locatives `上下里`, directional `来去`, the classifier `个`, and a list of words whose last
  syllable is conventionally neutral;
* third-tone sandhi: a third tone before a third tone becomes second tone, split along the word's sub-words.
  Timbre's reading then applies it across word boundaries too (`third_across_words`).

Word lists are data (`data/zh_tone_words.json`). The class holds no mutable state after construction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_DATA_DIR = Path(__file__).resolve().parent / "data"

# Characters that end a word as a sentence-final particle and are read in the neutral tone.
_PARTICLES = "吧呢哈啊呐噻嘛吖嗨呐哦哒额滴哩哟喽啰耶喔诶"
# Digits read one by one (years, codes): 一 next to one of them is read yi1.
_DIGITS = "零〇一二三四五六七八九"
# Punctuation after "一" that keeps it in the first tone.
_PUNCT_AFTER_YI = "：，；。？！“”‘’':,;.?!"

# Nouns and measure words whose doubling means "every" (天天, 处处, 个个): not neutral in Timbre's reading.
_DISTRIBUTIVE = frozenset("天年人处家事个时日月样条句字步次层户件回顿")

Segment = list[list[str]]  # [[word, pos], ...]


@dataclass(frozen=True)
class ToneWordLists:
    """Word lists driving the neutral-tone and erhua rules."""

    neutral_tone_words: frozenset[str]
    never_neutral_words: frozenset[str]
    erhua_words: frozenset[str]
    not_erhua_words: frozenset[str]


@lru_cache(maxsize=2)
def load_tone_word_lists(*, reference_compat: bool = True) -> ToneWordLists:
    """Read `data/zh_tone_words.json`: the reference's lists, or Timbre's (fewer non-standard neutral
    tones, and reduplicated verbs such as 想想 neutral)."""
    raw = json.loads((_DATA_DIR / "zh_tone_words.json").read_text(encoding="utf-8"))
    neutral = set(raw["neutral_tone_words"])
    never = set(raw["never_neutral_words"])
    if not reference_compat:
        neutral -= set(raw["timbre_not_neutral_words"])
        never -= set(raw["timbre_reduplicated_verbs"])
    return ToneWordLists(
        neutral_tone_words=frozenset(neutral),
        never_neutral_words=frozenset(never),
        erhua_words=frozenset(raw["erhua_words"]),
        not_erhua_words=frozenset(raw["not_erhua_words"]),
    )


def _with_tone(final: str, tone: str) -> str:
    return final[:-1] + tone


def _all_third(finals: Sequence[str]) -> bool:
    return all(f[-1] == "3" for f in finals)


def _is_doubled(word: str) -> bool:
    return len(word) == 2 and word[0] == word[1]


def _joins_for_sandhi(tones: Sequence[str | None] | None, left: Sequence[str], right: Sequence[str]) -> bool:
    """May two adjacent third-tone words (`[word, pos]`) be read as one unit, the first third tone rising?

    The reference joins any two of at most three characters. Timbre's reading (`tones` given) joins only two
    one-character words that the syntax groups first: a modifier or numeral with the noun or measure word
    after it (小|李, 五|本), a preposition with its object (比|我), a verb with a pronoun object or a result
    complement (请|你, 想|好); a subject or adverb belongs with the words after it instead, and the run is
    read in pairs from its end (`third_across_words`): 我|也|想|买 wó yě xiáng mǎi, 我|很|好 wǒ hén hǎo,
    比我|小|五岁 bí wǒ xiáo wǔ.
    """
    if tones is None:
        return True
    if len(left[0]) != 1 or len(right[0]) != 1:
        return False
    head, dependent = left[1][:1], right[1][:1]
    return dependent in ("n", "q", "m") or head == "p" or (head == "v" and dependent in ("r", "a"))


def _is_abab_verb(word: str, pos: str) -> bool:
    """A two-syllable verb said twice, 'do it a little' (研究研究, 讨论讨论); not an ABAB adjective
    (雪白雪白)."""
    return len(word) == 4 and word[:2] == word[2:] and word[0] != word[1] and pos[:1] == "v"


class ToneSandhi:
    """Applies the sandhi rules above.

    `cut_for_search(word)` yields the sub-words of a word (jieba's search-engine mode); `finals_of(word)`
    returns the word's TONE3 finals before sandhi (pypinyin, neutral tone as 5). Both are injected so that the
    caller decides which tokenizer and which dictionary readings are used.
    """

    def __init__(
        self,
        words: ToneWordLists,
        cut_for_search: Callable[[str], Iterable[str]],
        finals_of: Callable[[str], list[str]],
    ) -> None:
        self.words = words
        self._cut_for_search = cut_for_search
        self._finals_of = finals_of

    # ---- re-grouping of the segmentation -------------------------------------------------------------
    def merge_for_sandhi(
        self, seg: Sequence[Sequence[str]], tones: Sequence[str | None] | None = None
    ) -> Segment:
        """Re-group a jieba `[(word, pos), ...]` segmentation so that the sandhi rules see whole units.

        `tones` (Timbre's reading) gives, per character of the sentence, a tone digit that replaces the
        dictionary's when deciding which third tones meet (None: keep the dictionary's).
        A grouping step that fails on an unusual reading (an empty final) is skipped, as in the reference.
        """
        out = self._merge_bu(seg)
        out = self._guarded(self._merge_yi, out)
        out = self._merge_repeats(out)
        out = self._guarded(lambda s: self._merge_third_tone_words(s, tones), out)
        out = self._guarded(lambda s: self._merge_third_tone_edges(s, tones), out)
        return self._merge_er(out)

    def _seg_finals(self, seg: Segment, tones: Sequence[str | None] | None) -> list[list[str]]:
        finals = [self._finals_of(word) for word, _ in seg]
        if tones is None:
            return finals
        start = 0
        for k, (word, _) in enumerate(seg):
            if len(finals[k]) == len(word):
                finals[k] = [
                    f if tones[start + i] is None else f[:-1] + str(tones[start + i])
                    for i, f in enumerate(finals[k])
                ]
            start += len(word)
        return finals

    @staticmethod
    def _guarded(step: Callable[[Segment], Segment], seg: Segment) -> Segment:
        try:
            return step(seg)
        except IndexError:
            return seg

    @staticmethod
    def _merge_bu(seg: Sequence[Sequence[str]]) -> Segment:
        out: Segment = []
        prev = ""
        for word, pos in seg:
            if prev == "不":
                word = prev + word
            if word != "不":
                out.append([word, pos])
            prev = word
        if prev == "不":
            out.append([prev, "d"])
        return out

    @staticmethod
    def _merge_yi(seg: Segment) -> Segment:
        # V 一 V -> one word (听一听)
        grouped: Segment = []
        i = 0
        while i < len(seg):
            word, pos = seg[i]
            if i >= 1 and word == "一" and i + 1 < len(seg):
                left = grouped[-1] if grouped else seg[i - 1]
                right = seg[i + 1]
                if left[0] == right[0] and left[1] == "v" and right[1] == "v":
                    grouped[-1] = [left[0] + "一" + right[0], left[1]]
                    i += 2
                    continue
            grouped.append([word, pos])
            i += 1
        # a lone 一 takes the word after it
        out: Segment = []
        for word, pos in grouped:
            if out and out[-1][0] == "一":
                out[-1][0] = out[-1][0] + word
            else:
                out.append([word, pos])
        return out

    @staticmethod
    def _merge_repeats(seg: Segment) -> Segment:
        out: Segment = []
        for word, pos in seg:
            if out and word == out[-1][0]:
                out[-1][0] = out[-1][0] + word
            else:
                out.append([word, pos])
        return out

    def _merge_third_tone_words(self, seg: Segment, tones: Sequence[str | None] | None = None) -> Segment:
        """Join two adjacent all-third-tone words when together they are at most three characters."""
        finals = self._seg_finals(seg, tones)
        out: Segment = []
        joined = [False] * len(seg)
        for i, (word, pos) in enumerate(seg):
            if (
                i >= 1
                and _joins_for_sandhi(tones, seg[i - 1], seg[i])
                and _all_third(finals[i - 1])
                and _all_third(finals[i])
                and not joined[i - 1]
                and not _is_doubled(seg[i - 1][0])
                and len(seg[i - 1][0]) + len(word) <= 3
            ):
                out[-1][0] = out[-1][0] + word
                joined[i] = True
            else:
                out.append([word, pos])
        return out

    def _merge_third_tone_edges(self, seg: Segment, tones: Sequence[str | None] | None = None) -> Segment:
        """Join two adjacent words when the first ends and the second starts with a third tone (≤ 3 chars)."""
        finals = self._seg_finals(seg, tones)
        out: Segment = []
        joined = [False] * len(seg)
        for i, (word, pos) in enumerate(seg):
            if (
                i >= 1
                and _joins_for_sandhi(tones, seg[i - 1], seg[i])
                and finals[i - 1][-1][-1] == "3"
                and finals[i][0][-1] == "3"
                and not joined[i - 1]
                and not _is_doubled(seg[i - 1][0])
                and len(seg[i - 1][0]) + len(word) <= 3
            ):
                out[-1][0] = out[-1][0] + word
                joined[i] = True
            else:
                out.append([word, pos])
        return out

    @staticmethod
    def _merge_er(seg: Segment) -> Segment:
        out: Segment = []
        for i, (word, pos) in enumerate(seg):
            if i >= 1 and word == "儿" and seg[i - 1][0] != "#":
                out[-1][0] = out[-1][0] + word
            else:
                out.append([word, pos])
        return out

    # ---- tone changes inside one word ----------------------------------------------------------------
    def apply(
        self,
        word: str,
        pos: str,
        finals: list[str],
        *,
        timbre_rules: bool = False,
        keep: Sequence[bool] | None = None,
    ) -> list[str]:
        """Return the finals of `word` (jieba POS `pos`) after 不, 一, neutral-tone and third-tone sandhi.

        Timbre's reading only (`timbre_rules=True`): only true reduplications are neutralised (`奶奶`,
        `看看`, `高高兴兴`, not `银行|行长` or `好好`), and 一 before 百/千/万/亿 inside a number takes its
        sandhi (一千 yi4 qian1, 一万 yi2 wan4). `keep[i]` protects syllable `i` (a reading fixed by the
        phrase table) from the neutral-tone rules.
        """
        finals = list(finals)
        fixed = list(finals)
        finals = self._bu(word, finals)
        finals = self._yi(word, finals)
        if keep is not None:  # a fixed neutral 不/一 (会|不会 bu5) is not undone by the 不/一 sandhi
            finals = [o if k and o.endswith("5") else f for o, f, k in zip(fixed, finals, keep, strict=True)]
        if timbre_rules:
            finals = self._yi_in_cardinal(word, finals)
        before = list(finals)
        finals = self._neutral(word, pos, finals, split_doubles=timbre_rules)
        if keep is not None:
            finals = [b if k else f for b, f, k in zip(before, finals, keep, strict=True)]
        return self._third(word, finals)

    @staticmethod
    def _bu(word: str, finals: list[str]) -> list[str]:
        if len(word) == 3 and word[1] == "不":
            finals[1] = _with_tone(finals[1], "5")
            return finals
        for i, ch in enumerate(word):
            if ch == "不" and i + 1 < len(word) and finals[i + 1][-1] == "4":
                finals[i] = _with_tone(finals[i], "2")
        return finals

    @staticmethod
    def _yi_in_cardinal(word: str, finals: list[str]) -> list[str]:
        """一 in numbers: a digit read one by one keeps yi1 (一九九一年), so does the units digit (十一点);
        before 百千万亿 in an all-numeral word it takes its sandhi, yi2 before a fourth tone, else yi4 (一千,
        一万, 一万一千), except in 十一 (十一万)."""
        if len(finals) != len(word):
            return finals
        numeral = all(ch.isnumeric() for ch in word)
        for i, ch in enumerate(word):
            if ch != "一":
                continue
            prev, nxt = word[i - 1 : i], word[i + 1 : i + 2]
            if (prev and prev in _DIGITS) or (nxt and nxt in _DIGITS):
                finals[i] = _with_tone(finals[i], "1")
            elif numeral and nxt and nxt in "百千万亿" and prev != "十":
                finals[i] = _with_tone(finals[i], "2" if finals[i + 1][-1] == "4" else "4")
            elif prev and prev.isnumeric():
                finals[i] = _with_tone(finals[i], "1")
        return finals

    @staticmethod
    def _yi(word: str, finals: list[str]) -> list[str]:
        if "一" in word and all(ch.isnumeric() for ch in word if ch != "一"):
            return finals  # a digit string (一零零) or 一 alone
        if len(word) == 3 and word[1] == "一" and word[0] == word[-1]:
            finals[1] = _with_tone(finals[1], "5")
        elif word.startswith("第一"):
            finals[1] = _with_tone(finals[1], "1")
        else:
            for i, ch in enumerate(word):
                if ch != "一" or i + 1 >= len(word):
                    continue
                if finals[i + 1][-1] == "4":
                    finals[i] = _with_tone(finals[i], "2")
                elif word[i + 1] not in _PUNCT_AFTER_YI:
                    finals[i] = _with_tone(finals[i], "4")
        return finals

    def _is_neutral_word(self, word: str) -> bool:
        return word in self.words.neutral_tone_words or word[-2:] in self.words.neutral_tone_words

    def _true_reduplication(self, word: str, pos: str, j: int) -> bool:
        """Timbre's reading: is word[j] the neutral second half of a reduplication?

        Yes for a doubled noun or verb (奶奶, 看看), the AABB pattern (高高兴兴) and AA before one more
        character (妈妈们, 看看书; 钓钓鱼 too, which jieba tags as an idiom); no for a doubled adjective or
        adverb (好好, 慢慢 keep their tones), for AA before a two-character word (好好学习), a distributive
        AA (天天, 处处) and where two sub-words meet (银行|行长).
        """
        if self._doubled_across_subwords(word, j):
            return False
        if pos[0] in "li":  # AAB whose AB is a word: a verb said twice before its object (钓钓鱼, 聊聊天)
            return len(word) == 3 and j == 1 and word[1:] in set(self._cut_for_search(word))
        if len(word) == 2:
            return pos[0] in "nv" and word[0] not in _DISTRIBUTIVE
        if len(word) == 4 and word[0] == word[1] and word[2] == word[3]:
            return True
        return len(word) == 3 and j == 1 and pos[0] in "nv"

    def _doubled_across_subwords(self, word: str, j: int) -> bool:
        """True when word[j-1] == word[j] only because two sub-words meet there (银行|行长)."""
        if len(word) < 4 or j < 2 or j + 2 > len(word):
            return False
        subwords = set(self._cut_for_search(word))
        left, right = word[j - 2 : j], word[j : j + 2]
        return left in subwords and right in subwords and not _is_doubled(left) and not _is_doubled(right)

    def _neutral(self, word: str, pos: str, finals: list[str], *, split_doubles: bool) -> list[str]:
        idiom = split_doubles and pos[0] in "li"  # only its AAB verb-object form can be neutral (钓钓鱼)
        tagged = pos[0] in "nva" or idiom
        for j in range(1, len(word)):
            if word[j] == word[j - 1] and tagged and word not in self.words.never_neutral_words:
                if split_doubles and not self._true_reduplication(word, pos, j):
                    continue
                if split_doubles and pos[0] in "vli" and finals[j - 1][-1] == finals[j][-1] == "3":
                    # a verb's third tone rises before its neutral repeat: 想想 xiángxiang (not 姐姐)
                    finals[j - 1] = _with_tone(finals[j - 1], "2")
                finals[j] = _with_tone(finals[j], "5")
        if split_doubles and _is_abab_verb(word, pos):  # 研究研究: the repeat's last syllable is light
            finals[3] = _with_tone(finals[3], "5")
        ge = word.find("个")
        last = word[-1:]
        if last and last in _PARTICLES:
            finals[-1] = _with_tone(finals[-1], "5")
        elif last and last in "的地得":
            finals[-1] = _with_tone(finals[-1], "5")
        elif len(word) == 1 and word in "了着过" and pos in {"ul", "uz", "ug"}:
            finals[-1] = _with_tone(finals[-1], "5")
        elif (
            len(word) > 1
            and last in "们子"
            and pos in {"r", "n"}
            and word not in self.words.never_neutral_words
        ):
            finals[-1] = _with_tone(finals[-1], "5")
        elif len(word) > 1 and last in "上下里" and pos in {"s", "l", "f"}:
            finals[-1] = _with_tone(finals[-1], "5")
        elif len(word) > 1 and last in "来去" and word[-2] in "上下进出回过起开":
            finals[-1] = _with_tone(finals[-1], "5")
        elif (
            ge >= 1 and (word[ge - 1].isnumeric() or word[ge - 1] in "几有两半多各整每做是")
        ) or word == "个":
            finals[ge] = _with_tone(finals[ge], "5")
        elif self._is_neutral_word(word):
            finals[-1] = _with_tone(finals[-1], "5")

        parts = self._split_in_two(word)
        halves = [finals[: len(parts[0])], finals[len(parts[0]) :]]
        for part, half in zip(parts, halves, strict=True):
            if self._is_neutral_word(part):
                half[-1] = _with_tone(half[-1], "5")
        return halves[0] + halves[1]

    def _split_in_two(self, word: str) -> list[str]:
        """Split at the shortest search-mode sub-word: [it, rest] if it starts the word, else [rest, it]."""
        shortest = sorted(self._cut_for_search(word), key=len)[0]
        if word.find(shortest) == 0:
            return [shortest, word[len(shortest) :]]
        return [word[: -len(shortest)], shortest]

    @staticmethod
    def third_across_words(finals: Sequence[str], tied: Sequence[bool]) -> list[str]:
        """Timbre's reading, once every word is read: a third tone still before a third tone becomes second,
        whatever the word boundaries (我|想 wó xiǎng, 新|品种 xīn pín zhǒng); the per-word rule above only
        sees pairs inside one word. Applied from the end of the sentence, so that a syllable before one that
        has already risen keeps its third tone: a run across words is read in pairs from its end, as the
        syntax groups it (我|很好 wǒ hén hǎo, 水果|很好吃 shuíguǒ hén hǎochī, 你|买|几把伞 ní mǎi jí bá sǎn).
        `tied[i]`: syllable i is an erhua 儿 that shares the tone of the syllable before it (一点儿|水 diánr
        shuǐ, 哪儿|呢 nǎr ne). A punctuation mark (no tone digit) breaks the chain."""
        out = list(finals)
        for i in reversed(range(len(out) - 1)):
            if tied[i]:
                continue
            j = i + 1
            while j < len(out) and tied[j]:
                j += 1
            if j < len(out) and out[i][-1:] == "3" and out[j][-1:] == "3":
                out[i:j] = [_with_tone(f, "2") for f in out[i:j]]
        return out

    def _third(self, word: str, finals: list[str]) -> list[str]:
        if len(word) == 2 and _all_third(finals):
            finals[0] = _with_tone(finals[0], "2")
        elif len(word) == 3:
            parts = self._split_in_two(word)
            if _all_third(finals):
                if len(parts[0]) == 2:  # 蒙古/包
                    finals[0] = _with_tone(finals[0], "2")
                    finals[1] = _with_tone(finals[1], "2")
                elif len(parts[0]) == 1:  # 纸/老虎
                    finals[1] = _with_tone(finals[1], "2")
            else:
                halves = [finals[: len(parts[0])], finals[len(parts[0]) :]]
                for i, half in enumerate(halves):
                    if _all_third(half) and len(half) == 2:  # 所有/人
                        half[0] = _with_tone(half[0], "2")
                    elif i == 1 and not _all_third(half) and half[0][-1] == "3" and halves[0][-1][-1] == "3":
                        halves[0][-1] = _with_tone(halves[0][-1], "2")  # 好/喜欢
                finals = halves[0] + halves[1]
        elif len(word) == 4:
            halves = [finals[:2], finals[2:]]
            finals = []
            for half in halves:
                if _all_third(half):
                    half[0] = _with_tone(half[0], "2")
                finals += half
        return finals
