"""Chinese G2P: reference parity (pypinyin path), Timbre's readings, inline overrides."""

import json
from pathlib import Path

import pytest

from core.errors import TextError
from core.text.zh_g2p import g2p_zh, pinyin_of_phones, syllable_phones

DATA = Path(__file__).resolve().parent / "data"


def _zh_segments(conformance_dir: Path) -> list[tuple[str, dict]]:
    """Every `zh` segment of the public text fixtures, except those cleaned by clean_special (SP2/SP3)."""
    out = []
    for line in (conformance_dir / "text" / "public.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        for seg in case.get("segments", []):
            if seg["lang"] == "zh" and not {"SP2", "SP3"} & set(seg["phones"]):
                out.append((case["id"], seg))
    return out


def test_compat_mode_matches_every_reference_zh_segment(conformance_dir: Path) -> None:
    segments = _zh_segments(conformance_dir)
    assert segments
    failures = []
    for case_id, seg in segments:
        phones, word2ph = g2p_zh(seg["norm_text"], reference_compat=True)
        if phones != seg["phones"] or word2ph != seg["word2ph"]:
            failures.append((case_id, seg["norm_text"], phones, seg["phones"]))
    assert not failures, f"{len(failures)}/{len(segments)} segments differ, first: {failures[:3]}"


def test_phone_count_matches_word2ph_and_characters() -> None:
    text = "银行行长说,我们一会儿还得去还钱!"
    for compat in (True, False):
        phones, word2ph = g2p_zh(text, reference_compat=compat)
        assert sum(word2ph) == len(phones)
        assert len(word2ph) == len(text)


@pytest.mark.parametrize(
    ("initial", "final", "pinyin"),
    [
        ("zh", "ang1", "zhang1"),
        ("y", "v3", "yu3"),
        ("l", "v4", "lv4"),
        ("zh", "ir4", "zhi4"),
        ("AA", "a5", "a5"),
        ("w", "ei4", "wei4"),
        ("j", "v2", "ju2"),
        ("EE", "er2", "er2"),
        ("y", "i1", "yi1"),
        ("s", "i04", "si4"),
    ],
)
def test_pinyin_of_phones_inverts_the_opencpop_map(initial: str, final: str, pinyin: str) -> None:
    assert pinyin_of_phones(initial, final) == pinyin
    assert syllable_phones(pinyin) == (initial, final)


def test_pinyin_of_phones_rejects_a_non_syllable() -> None:
    with pytest.raises(TextError):
        pinyin_of_phones("zh", "v3")
    with pytest.raises(TextError):
        pinyin_of_phones("zh", "ang")


def test_override_wins_over_sandhi_and_phrase_table() -> None:
    # 长 would be zhang3 (长大), 一 yi2 before a fourth tone: the user's readings are spoken as written.
    for compat in (True, False):
        phones, word2ph = g2p_zh("他长大了一万岁", overrides={1: "chang2", 4: "yi1"}, reference_compat=compat)
        assert phones[2:4] == ["ch", "ang2"]
        assert phones[8:10] == ["y", "i1"]
        assert len(word2ph) == 7


def test_override_neutral_tone_and_umlaut() -> None:
    phones, _ = g2p_zh("绿色", overrides={0: "lü4", 1: "se5"})
    assert phones == ["l", "v4", "s", "e5"]


@pytest.mark.parametrize("bad", [{0: "chang"}, {0: "xyz2"}, {9: "ma1"}, {2: "ma1"}])
def test_bad_override_is_a_text_error(bad: dict[int, str]) -> None:
    with pytest.raises(TextError):
        g2p_zh("你好,", overrides=bad)


def test_unreadable_character_is_a_text_error() -> None:
    with pytest.raises(TextError):
        g2p_zh("你好@", reference_compat=True)


def test_syllable_without_a_vowel_is_a_text_error_in_compat_and_read_by_default() -> None:
    # pypinyin reads 噷 "hm": the reference's sandhi fails on its empty final with an IndexError
    with pytest.raises(TextError, match="reference-compat"):
        g2p_zh("恶噷噷是大家都知道的.", reference_compat=True)
    phones, word2ph = g2p_zh("恶噷噷是大家都知道的.")
    assert sum(word2ph) == len(phones) and len(word2ph) == 11


def _pinyin_per_char(text: str, *, reference_compat: bool) -> str:
    phones, word2ph = g2p_zh(text, reference_compat=reference_compat)
    out, i = [], 0
    for n in word2ph:
        if n == 2:
            out.append(pinyin_of_phones(phones[i], phones[i + 1]))
        i += n
    return " ".join(out)


def test_default_reads_labelled_polyphones_right() -> None:
    items = [
        json.loads(line) for line in (DATA / "readings_zh_polyphones.jsonl").read_text("utf-8").splitlines()
    ]
    assert len(items) >= 70
    right = sum(_pinyin_per_char(it["text"], reference_compat=False) == it["expect_pinyin"] for it in items)
    compat = sum(_pinyin_per_char(it["text"], reference_compat=True) == it["expect_pinyin"] for it in items)
    assert right / len(items) >= 0.97
    assert compat < right  # the reference misreads some of them


@pytest.mark.parametrize(
    ("text", "compat", "default"),
    [
        ("银行行长", "yin2 hang2 hang5 zhang3", "yin2 hang2 hang2 zhang3"),  # not a reduplication
        ("目的", "mu4 di5", "mu4 di4"),  # 的 that is not the particle
        ("土地", "tu3 di5", "tu3 di4"),
        ("他慢慢地走", "ta1 man4 man4 di5 zou3", "ta1 man4 man4 de5 zou3"),  # particle 地 is de
        ("我们要调整计划", "wo3 men5 yao4 tiao2 zheng3 ji4 hua5", "wo3 men5 yao4 tiao2 zheng3 ji4 hua4"),
        ("妈妈在和面", "ma1 ma5 zai4 he2 mian4", "ma1 ma5 zai4 huo2 mian4"),  # phrase across jieba words
        ("家长大会", "jia1 zhang3 da4 hui4", "jia1 zhang3 da4 hui4"),  # 长大 would cut 家长 in two
        ("一千二百", "yi1 qian1 er4 bai3", "yi4 qian1 er4 bai3"),  # 一 before a unit takes its sandhi
        ("十一点", "shi2 yi4 dian3", "shi2 yi1 dian3"),  # the units digit stays yi1
        ("我们好好学习", "wo3 men5 hao3 hao5 xue2 xi2", "wo3 men5 hao2 hao3 xue2 xi2"),  # adverbial AA
        ("银行的钱还没还", "yin2 hang2 de5 qian2 hai2 mei2 hai2", "yin2 hang2 de5 qian2 hai2 mei2 huan2"),
        ("他把头转过去了", "ta1 ba3 tou2 zhuan3 guo4 qu4 le5", "ta1 ba3 tou2 zhuan3 guo4 qu5 le5"),
        ("电影讲述了", "dian4 ying3 jiang3 shu4 le5", "dian4 ying2 jiang3 shu4 le5"),  # sandhi across words
        ("你在哪儿呢", "ni3 zai4 na3 er3 ne5", "ni3 zai4 na3 er3 ne5"),  # erhua 儿 is not a third syllable
    ],
)
def test_default_fixes_reference_misreadings(text: str, compat: str, default: str) -> None:
    assert _pinyin_per_char(text, reference_compat=True) == compat
    assert _pinyin_per_char(text, reference_compat=False) == default


@pytest.mark.parametrize(
    ("text", "index", "reading"),
    [
        ("领导让他便宜行事", 4, "bian4"),  # the table's 便宜 yields to the dictionary's longer word
        ("他在朝阳区上班", 2, "chao2"),  # nor is the 朝 of 朝阳区 the table's 朝阳 zhāoyáng
        ("这件衣服很便宜", 5, "pian2"),  # the table still reads the word itself
        ("这就叫一物降一物", 5, "xiang2"),  # a dictionary phrase that jieba cuts: 一物|降|一物
        ("大家都会来的", 2, "dou1"),  # but no two-character one across 都|会 (都会 dūhuì)
        ("我们去天台山看日出", 4, "tai1"),  # place names keep their local reading
    ],
)
def test_default_reads_dictionary_phrases_across_jieba_words(text: str, index: int, reading: str) -> None:
    assert _pinyin_per_char(text, reference_compat=False).split()[index] == reading


def test_phrase_table_is_well_formed() -> None:
    from core.text.zh_g2p import read_phrase_table

    table = read_phrase_table(
        Path(__file__).resolve().parents[1] / "core" / "text" / "data" / "zh_polyphone_phrases.txt"
    )
    assert len(table) > 300
    for phrase, syllables in table.items():
        assert len(phrase) == len(syllables)
        for syllable in syllables:
            syllable_phones(syllable)  # raises on a syllable outside the v2 phone set
