"""Tone classes of the default Chinese reading (issue 20, round 8b): third tones grouped by syntax, 一/不 by
construction, and neutral-tone words whose full reading a meaning in context selects.

Each case names the syllables it checks (character index -> TONE3); the rest of the sentence is free.
"""

import pytest

from core.text import text_to_phones


def _read(text: str, *, compat: bool = False) -> list[str | None]:
    return [s for _, s in text_to_phones(text, "zh", reference_compat=compat).pinyin()]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # a subject or adverb is not glued to the word before it: the run is read in pairs from its end
        ("我们的老板很好说话。", {3: "lao2", 4: "ban3", 5: "hen2", 6: "hao3"}),
        ("他也想买水果。", {1: "ye3", 2: "xiang2", 3: "mai3", 4: "shui2", 5: "guo3"}),
        # a numeral with its measure word, a preposition or verb with its pronoun object: one unit first
        ("书架上还剩五本小说。", {5: "wu2", 6: "ben2", 7: "xiao3"}),
        ("她比你小两岁。", {1: "bi2", 2: "ni3", 3: "xiao2", 4: "liang3"}),
        ("请你转交给老师。", {0: "qing2", 1: "ni2", 2: "zhuan3"}),
        # ABAB verbs: the repeat's last syllable is light
        ("我们讨论讨论这个问题。", {4: "tao3", 5: "lun5"}),
    ],
)
def test_third_tones_and_reduplication(text: str, want: dict[int, str]) -> None:
    got = _read(text)
    assert {i: got[i] for i in want} == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("这些题我一个下午做不完。", {9: "bu5"}),  # a potential complement split by jieba
        ("我觉得这样做不好。", {6: "bu4"}),  # not a complement: 'doing so is not good'
        ("他们一直忙个不了。", {6: "bu4"}),  # 个不了 'endlessly'
        ("我们的办公室在一楼。", {7: "yi1"}),  # the first floor
        ("桌上落了一层灰。", {4: "yi4"}),  # a count
        ("她是一班的学生。", {2: "yi1"}),  # class one
    ],
)
def test_yi_and_bu_by_construction(text: str, want: dict[int, str]) -> None:
    got = _read(text)
    assert {i: got[i] for i in want} == want


@pytest.mark.parametrize(
    ("text", "index", "full", "neutral"),
    [
        ("这座小岛东西宽约两公里。", 5, "xi1", "这家店的东西很贵。"),
        ("这笔钱由地方财政支出。", 5, "fang1", "这个地方很安静。"),
        ("买卖双方都同意了。", 1, "mai4", "他在城里做买卖。"),
        ("这种奉献精神值得学习。", 5, "shen2", "他今天看起来很精神。"),
        ("他们兄弟俩都当了兵。", 3, "di4", "这是我兄弟。"),
        ("这户人家的狗很凶。", 3, "jia1", "人家不同意。"),
        ("他多少知道一点内情。", 2, "shao3", "这本书多少钱？"),
        ("过去的事不要再提了。", 1, "qu4", "你们先过去吧。"),
        ("这里的气候很温和。", 7, "he2", None),
        ("那个小伙子很热情。", 3, "huo3", None),
    ],
)
def test_neutral_tone_words_by_meaning(text: str, index: int, full: str, neutral: str | None) -> None:
    assert _read(text)[index] == full
    if neutral is not None:  # the same word in its other sense keeps the neutral tone
        word = text[index - 1 : index + 1]
        at = neutral.index(word) + 1
        assert _read(neutral)[at] == full[:-1] + "5"


def test_reference_compat_keeps_the_reference_grouping() -> None:
    # the reference joins 你也 and reads it ní yě; Timbre reads the run from its end: nǐ yé hěn
    assert _read("你也很勇敢。", compat=True)[:3] == ["ni2", "ye3", "hen3"]
    assert _read("你也很勇敢。")[:3] == ["ni3", "ye2", "hen3"]
