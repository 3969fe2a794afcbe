"""Text frontend behaviours: errors, symbols, inline readings, the user dictionary, long input."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from core.errors import TextError, WorkspaceError
from core.text import LANGUAGES, UserDictionary, phones_to_ids, symbols, text_to_phones
from core.text.overrides import parse_inline

# -- symbols ---------------------------------------------------------------------------------------


def test_v2_symbol_table_matches_the_reference_table(conformance_dir: Path) -> None:
    expected = json.loads((conformance_dir / "text" / "symbols_v2.json").read_text(encoding="utf-8"))
    assert list(symbols("v2")) == expected


def test_unknown_phone_has_no_id() -> None:
    with pytest.raises(TextError, match="not in the v2 phone table"):
        phones_to_ids(["a1", "not-a-phone"])


# -- argument errors -------------------------------------------------------------------------------


def test_unknown_language_names_the_accepted_codes() -> None:
    with pytest.raises(TextError) as info:
        text_to_phones("你好世界", "klingon")
    for code in LANGUAGES:
        assert code in str(info.value)


@pytest.mark.parametrize("lang", ["ja", "ko", "yue", "all_ja"])
def test_languages_without_a_frontend_are_not_supported_yet(lang: str) -> None:
    with pytest.raises(TextError, match="not supported yet"):
        text_to_phones("你好世界", lang)


@pytest.mark.parametrize("version", ["v1", "v3", "v4", "v2Pro"])
def test_other_versions_are_not_supported_yet(version: str) -> None:
    with pytest.raises(TextError, match="not supported yet"):
        text_to_phones("你好世界", "zh", version=version)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("text", ["", "   ", "\n", " \t "])
def test_empty_text_is_nothing_to_read(lang: str, text: str) -> None:
    with pytest.raises(TextError, match="nothing to read"):
        text_to_phones(text, lang)


@pytest.mark.parametrize("text", ["😀😀", "。，！？", "...", "🎉 🎉!"])
def test_text_without_words_is_rejected_in_default_mode(text: str) -> None:
    with pytest.raises(TextError, match="nothing to read"):
        text_to_phones(text, "auto")


def test_too_long_text_is_refused_with_the_limit() -> None:
    from core.text.frontend import MAX_CHARS

    with pytest.raises(TextError, match=str(MAX_CHARS)):
        text_to_phones("好" * (MAX_CHARS + 1), "all_zh")


# -- inline readings: parsing ----------------------------------------------------------------------


def test_inline_pinyin_reads_the_characters_before_it() -> None:
    parsed = parse_inline("这把剑长<chang2>三十公分")
    assert parsed.text == "这把剑长三十公分"
    assert [(r.start, r.syllables) for r in parsed.zh] == [(3, ("chang2",))]


def test_inline_pinyin_with_several_syllables_covers_as_many_characters() -> None:
    parsed = parse_inline("他长大<zhang3 da4>了，绿<lü4>色")
    assert parsed.text == "他长大了，绿色"
    assert [(r.start, r.syllables) for r in parsed.zh] == [(1, ("zhang3", "da4")), (5, ("lv4",))]


def test_inline_arpabet_reads_the_word_before_it() -> None:
    parsed = parse_inline("I live<l ih1 v> here, they live<L AY1 V>")
    assert parsed.text == "I live here, they live"
    assert [(r.start, r.word, r.phones) for r in parsed.en] == [
        (2, "live", ("L", "IH1", "V")),
        (18, "live", ("L", "AY1", "V")),
    ]


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("长<chang2", 1),  # not closed
        ("长chang2>", 7),  # stray >
        ("长<>", 1),  # empty
        ("长 <chang2>", 2),  # not right after the characters
        ("<chang2>长", 0),  # nothing before
        ("长<chang>", 1),  # no tone
        ("长<chang2 da4>", 1),  # more syllables than characters
        ("live<L IH V>", 4),  # vowel without stress
        ("12<shi2>", 2),  # after digits
        ("长<cha<ng2>", 1),  # nested
    ],
)
def test_malformed_inline_reading_names_the_position(text: str, position: int) -> None:
    with pytest.raises(TextError, match=f"position {position}\\b"):
        parse_inline(text)


def test_malformed_inline_reading_is_a_text_error_from_the_frontend() -> None:
    with pytest.raises(TextError, match="position 4"):
        text_to_phones("这把剑长<chang2 三十公分", "zh")


@pytest.mark.parametrize("text", ["温度<5度", "if x>3 then", "长<chang2 三十公分"])
def test_compat_mode_reads_malformed_markup_as_plain_text(text: str) -> None:
    # The reference has no inline markup: `<` and `>` are ordinary characters there.
    got = text_to_phones(text, "zh", reference_compat=True)
    assert "".join(s.text for s in got.segments) == text


def test_default_mode_reads_a_sign_before_a_number_as_a_comparison() -> None:
    assert text_to_phones("温度<5度", "zh").norm_text == "温度小于五度"
    assert "".join(s.text for s in text_to_phones("if x>3 then", "zh").segments) == "if x>3 then"
    with pytest.raises(TextError, match="position 1"):
        text_to_phones("长<chang2 三十公分", "zh")


# -- user dictionary -------------------------------------------------------------------------------


def test_user_dictionary_validates_entries() -> None:
    d = UserDictionary()
    d.add("长大", "zhang3 da4")
    d.add("Live", "l ih1 v")
    assert d.entries == {"长大": "zhang3 da4", "live": "L IH1 V"}
    with pytest.raises(TextError, match="2 characters"):
        d.add("长大", "zhang3")
    with pytest.raises(TextError, match="TONE3"):
        d.add("长", "chang")
    with pytest.raises(TextError, match="ARPAbet"):
        d.add("read", "R EE D")
    with pytest.raises(TextError, match="neither"):
        d.add("长a", "chang2 ei1")
    d.remove("LIVE")
    assert "live" not in d and "长大" in d
    with pytest.raises(KeyError):
        d.remove("不在")


def test_user_dictionary_matches_longest_words_first() -> None:
    d = UserDictionary({"长": "chang2", "长大": "zhang3 da4", "大人": "da4 ren5"})
    assert d.chinese_readings("长大人长") == {0: "zhang3", 1: "da4", 3: "chang2"}


@pytest.mark.parametrize("name", ["dict.json", "dict.tsv"])
def test_user_dictionary_round_trips_through_a_file(tmp_path: Path, name: str) -> None:
    d = UserDictionary({"重庆": "chong2 qing4", "tomato": "T AH0 M AA1 T OW2"})
    path = tmp_path / "sub" / name
    d.save(path)
    assert UserDictionary.load(path) == d
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temporary file left behind


def test_user_dictionary_save_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dict.json"
    UserDictionary({"重庆": "chong2 qing4"}).save(path)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(WorkspaceError, match="disk full"):
        UserDictionary({"长大": "zhang3 da4"}).save(path)
    monkeypatch.undo()
    assert UserDictionary.load(path).entries == {"重庆": "chong2 qing4"}
    assert [p.name for p in tmp_path.iterdir()] == ["dict.json"]


def test_bad_user_dictionary_file_is_a_text_error(tmp_path: Path) -> None:
    bad = tmp_path / "d.txt"
    bad.write_text("# comment\n长大\tzhang3 da4\n行长 hang2\n", encoding="utf-8")
    with pytest.raises(TextError, match="line 3"):
        UserDictionary.load(bad)
    with pytest.raises(TextError, match="cannot read"):
        UserDictionary.load(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(TextError, match="entries"):
        UserDictionary.load(tmp_path / "x.json")


# -- reading with overrides (needs the Chinese and English frontends) ------------------------------


def _pinyin(result) -> list[str | None]:  # noqa: ANN001
    return [s for _, s in result.pinyin()]


def test_inline_pinyin_wins_in_the_reading() -> None:
    plain = text_to_phones("这把剑长三十公分", "zh")
    marked = text_to_phones("这把剑长<zhang3>三十公分", "zh")
    assert marked.norm_text == plain.norm_text
    assert _pinyin(marked)[3] == "zhang3"
    assert _pinyin(marked)[:3] == _pinyin(plain)[:3] and _pinyin(marked)[4:] == _pinyin(plain)[4:]


def test_inline_pinyin_after_a_number_lands_on_its_character() -> None:
    result = text_to_phones("3个长<zhang3>", "all_zh")
    chars = [c for c, _ in result.pinyin()]
    assert _pinyin(result)[chars.index("长")] == "zhang3"


def test_inline_arpabet_wins_in_the_reading() -> None:
    result = text_to_phones("I live<L AY1 V> here.", "en")
    assert "L AY1 V" in " ".join(result.phones)


def test_user_dictionary_applies_in_both_languages() -> None:
    d = UserDictionary({"行长": "hang2 zhang3", "live": "L AY1 V"})
    result = text_to_phones("行长说live music很好听。", "zh", user_dict=d)
    chars = [c for c, _ in result.pinyin()]
    assert _pinyin(result)[chars.index("行") : chars.index("行") + 2] == ["hang2", "zhang3"]
    assert "L AY1 V" in " ".join(result.phones)


def test_inline_reading_beats_the_user_dictionary() -> None:
    d = UserDictionary({"长": "zhang3"})
    result = text_to_phones("长<chang2>江很长", "all_zh", user_dict=d)
    assert _pinyin(result)[:1] == ["chang2"] and _pinyin(result)[-1] == "zhang3"


# -- results ---------------------------------------------------------------------------------------


def test_result_fields_are_consistent() -> None:
    result = text_to_phones("我用iPhone拍了3张照片。", "zh")
    assert result.phones == [p for s in result.segments for p in s.phones]
    assert result.norm_text == "".join(s.norm_text for s in result.segments)
    assert result.ids == phones_to_ids(result.phones)
    word2ph = result.word2ph()
    assert len(word2ph) == len(result.norm_text) == len(result.pinyin())
    assert [s.lang for s in result.segments] == ["zh", "en", "zh"]
    zh = result.segments[0]
    assert zh.word2ph is not None and sum(zh.word2ph) == len(zh.phones)


def test_long_input_reads_like_its_sentences() -> None:
    sentence = "今天天气很好，我们去公园散步吧。他买了3斤苹果，花了12.5元！"
    single = text_to_phones(sentence, "zh")
    count = 4000 // len(sentence)
    result = text_to_phones(sentence * count, "zh")
    assert result.phones == single.phones * count
    assert result.norm_text == single.norm_text * count


@pytest.mark.slow
def test_hundred_thousand_characters_are_read() -> None:
    sentence = "今天天气很好，我们去公园散步吧。I like long walks in 2024. 他买了3斤苹果，花了12.5元！"
    text = (sentence * (100_000 // len(sentence) + 1))[:100_000]
    t0 = time.perf_counter()
    result = text_to_phones(text, "zh")
    elapsed = time.perf_counter() - t0
    single = text_to_phones(sentence, "zh")
    assert result.phones[: len(single.phones)] == single.phones
    assert len(result.phones) > 50 * len(single.phones)
    print(f"100 000 characters read in {elapsed:.1f} s")


def test_inline_reading_in_the_wrong_language_part_is_an_error() -> None:
    with pytest.raises(TextError, match="inline pinyin reading falls in the 'en' part"):
        text_to_phones("长<chang2> is long", "en")


# -- segmentation ----------------------------------------------------------------------------------------


def test_kanji_only_pieces_the_detector_calls_japanese_are_read_as_chinese(conformance_dir: Path) -> None:
    path = conformance_dir / "text" / "public_langseg_only.jsonl"
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    from core.text.langseg import KANA

    kanji_only = [c for c in cases if not KANA.search(c["text"])]
    assert kanji_only
    for case in kanji_only:
        for compat in (False, True):
            result = text_to_phones(case["text"], case["lang"], reference_compat=compat)
            assert {s.lang for s in result.segments} <= {"zh", "en"}
            assert all(s.word2ph is not None for s in result.segments if s.lang == "zh")
        # the default mode joins the relabelled piece to its Chinese neighbour
        default = text_to_phones(case["text"], case["lang"])
        langs = [s.lang for s in default.segments]
        assert all(a != b for a, b in zip(langs, langs[1:], strict=False))


def test_japanese_kana_is_not_supported_yet() -> None:
    with pytest.raises(TextError, match="Japanese"):
        text_to_phones("今日はいい天気ですね。", "auto")


def test_a_short_text_gets_a_leading_pause_that_is_not_a_decimal_point() -> None:
    short = text_to_phones("2次", "zh")  # too few phones: read again with a pause before it
    assert short.final_retry and short.phones[0] == "." and short.norm_text == ".两次"
    assert text_to_phones("2次", "zh", reference_compat=True).norm_text == "零点二次"  # the reference: 0.2
    assert "零点五" in text_to_phones(".5米", "zh").norm_text  # a decimal point the user typed stays one


def test_a_pause_mark_between_pieces_the_detector_labels_apart_is_kept() -> None:
    # the detector cuts 几天雨 from 河水 (which it calls Japanese) at the comma; the reference drops it
    assert text_to_phones("连续下了几天雨，河水上涨了", "zh").norm_text == "连续下了几天雨,河水上涨了"
    assert text_to_phones("连续下了几天雨，河水上涨了", "zh", reference_compat=True).norm_text == (
        "连续下了几天雨河水上涨了"
    )
