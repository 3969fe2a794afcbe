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
