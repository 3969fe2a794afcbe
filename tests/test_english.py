"""English normalization and G2P: reference parity (compat mode) and Timbre's corrections (default mode)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import TextError
from core.text.english import g2p_en, lexicon_lookup, normalize_en

REPO_ROOT = Path(__file__).resolve().parents[1]


def _en_segments(conformance_dir: Path) -> list[tuple[str, dict]]:
    segments = []
    path = conformance_dir / "text" / "public.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        for seg in case.get("segments") or []:
            if seg["lang"] == "en":
                segments.append((case["id"], seg))
    return segments


def test_compat_mode_reproduces_every_public_english_segment(conformance_dir: Path) -> None:
    segments = _en_segments(conformance_dir)
    assert segments, "no English segments in the public text fixtures"
    failures = []
    for case_id, seg in segments:
        norm = normalize_en(seg["text"], reference_compat=True)
        phones = g2p_en(norm, reference_compat=True) if norm == seg["norm_text"] else None
        if norm != seg["norm_text"] or phones != seg["phones"]:
            failures.append(f"{case_id} {seg['text']!r}: norm {norm!r} phones {phones}")
    print(f"\nEnglish segments: {len(segments) - len(failures)}/{len(segments)} exact")
    assert not failures, "\n".join(failures)


def test_out_of_lexicon_word_goes_through_the_neural_predictor() -> None:
    # Not in the lexicon, not a name, longer than 3 letters, not splittable into known words.
    phones = g2p_en("zorblax", reference_compat=True)
    assert lexicon_lookup("zorblax") is None
    assert phones and all(p[0].isupper() for p in phones)
    assert phones[0] == "Z"


def test_short_english_segment_gets_a_leading_pause() -> None:
    assert g2p_en("m", reference_compat=True) == [",", "EH1", "M"]
    assert g2p_en("hello world", reference_compat=True) == ["HH", "AH0", "L", "OW1", "W", "ER1", "L", "D"]


def test_capital_a_alone_is_the_letter() -> None:
    assert g2p_en("A B C.", reference_compat=True) == ["EY1", "B", "IY1", "S", "IY1", "."]
    assert g2p_en("a cat", reference_compat=True)[0] == "AH0"


def test_lexicon_is_built_like_the_reference() -> None:
    for removed in ("ae", "ai", "ar", "ios", "hud", "os"):
        assert lexicon_lookup(removed) is None
    assert lexicon_lookup("json") == ["JH", "EY1", "S", "AH0", "N"]  # engdict-hot.rep overrides cmudict
    assert lexicon_lookup("Hello") == ["HH", "AH0", "L", "OW1"]


@pytest.mark.parametrize("compat", [True, False])
def test_overrides_win_over_lexicon_and_homographs(compat: bool) -> None:
    overrides = {"read": ["R", "EH1", "D"], "tomato": ["T", "AH0", "M", "AA1", "T", "OW2"]}
    phones = g2p_en("I read a tomato.", overrides=overrides, reference_compat=compat)
    assert phones == ["AY1", "R", "EH1", "D", "AH0", "T", "AH0", "M", "AA1", "T", "OW2", "."]


def test_override_with_a_phone_outside_arpabet_is_rejected() -> None:
    with pytest.raises(TextError, match="ARPAbet"):
        g2p_en("hello", overrides={"hello": ["HH", "XX1"]})


def test_importing_the_module_loads_no_data_and_no_nltk() -> None:
    code = (
        "import sys, core.text.english as e\n"
        "heavy = ('nltk', 'g2p_en', 'wordsegment', 'inflect')\n"
        "assert not any(m.startswith(heavy) for m in sys.modules), 'eager import'\n"
        "assert e._lexicon.cache_info().currsize == 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


def test_plain_text_reads_the_same_in_both_modes() -> None:
    text = "The quick brown fox jumps over the lazy dog. I have 3 cats and $3.50!"
    assert normalize_en(text) == normalize_en(text, reference_compat=True)
    norm = normalize_en(text)
    assert g2p_en(norm) == g2p_en(norm, reference_compat=True)


@pytest.mark.parametrize(
    ("text", "default", "compat"),
    [
        ("$2.5 billion", "two point five billion dollars", "two dollars and fifty cents billion"),
        ("not €40.", "not forty euros.", "not forty."),
        ("dropped to -5 degrees", "dropped to negative five degrees", "dropped tonegative five degrees"),
        ("Well - I think", "Well, I think", "Well minus I think"),
        ("It's 7:45 pm.", "It's seven forty-five P M.", "It's seven forty-five a.m. pm."),
        ("at 10:05", "at ten oh five", "at ten five a.m."),
        ("Call 555-1234.", "Call five five five, one two three four.", None),
        ("pages 10-20", "pages ten to twenty", "pages ten-twenty"),
        ("She has 2. He has 5.", "She has two. He has five.", "She has second, He has five."),
        ("Dr. Smith is in.", "Doctor Smith is in.", "Dr. Smith is in."),
        ("World War II", "World War two", "World War I I"),
        ("Henry VIII", "Henry the eighth", "Henry V I I I"),
        ("60 km/h", "sixty kilometers per hour", "sixty kmh"),
        ("Tom & Jerry", "Tom and Jerry", "Tom  Jerry"),
        ("1,234 sheep", "one thousand, two hundred thirty-four sheep", "twelve thirty-four sheep"),
        ("was 5. 6 more", "was five. six more", "was fifth, six more"),
        ("x - y = 2", "x minus y Equals two", "x minus y Equals two"),
        ("The 1990s", "The nineteen nineties", "The nineteen ninety seconds"),
        ("$10M", "ten million dollars", "ten dollars M"),
        ("a 3:2 win", "a three to two win", "a threetwo win"),
        ("a 50-50 chance", "a fifty-fifty chance", None),
        ("Call 1-800-555-1234", "Call one, eight zero zero, five five five, one two three four", None),
        ("the 101st day", "the one hundred first day", "the one hundred and first day"),
        ("The St. Louis team", "The Saint Louis team", "The St. Louis team"),
        ("World War I began.", "World War one began.", "World War I began."),
        ("See Chapter I.", "See Chapter one.", "See Chapter I."),
        ("Chapter XX is short.", "Chapter twenty is short.", "Chapter X X is short."),
        ("Louis XVIII", "Louis the eighteenth", "Louis X V I I I"),
        ("Pius XII", "Pius the twelfth", "Pius X I I"),
        ("in his 40s", "in his forties", "in his forty seconds"),
    ],
)
def test_default_mode_fixes_reference_misreadings(text: str, default: str, compat: str | None) -> None:
    assert normalize_en(text) == default
    if compat is not None:
        assert normalize_en(text, reference_compat=True) == compat


def test_acronyms_that_are_words_are_read_as_words_in_default_mode() -> None:
    assert g2p_en(normalize_en("NASA")) == ["N", "AE1", "S", "AH0"]
    assert normalize_en("NASA", reference_compat=True) == "N A S A"
    # Acronyms the lexicon spells, or does not know, are still spelled.
    assert normalize_en("The FBI and HTML") == "The F B I and H T M L"
    # A plural s after an acronym is not the word "is".
    assert g2p_en(normalize_en("APIs")) == ["EY1", "P", "IY1", "AY1", "Z"]


def _assert_reads(text: str, word: str, expected: list[str]) -> None:
    """The default reading of `text` holds `expected` (the phones of `word`) somewhere."""
    phones = g2p_en(normalize_en(text))
    n = len(expected)
    assert any(phones[i : i + n] == expected for i in range(len(phones) - n + 1)), (word, phones)


@pytest.mark.parametrize(
    ("text", "word", "expected"),
    [
        ("I live here.", "live", ["L", "IH1", "V"]),
        ("The band played live.", "live", ["L", "AY1", "V"]),
        ("The wind is strong.", "wind", ["W", "IH1", "N", "D"]),
        ("He wound the clock.", "wound", ["W", "AW1", "N", "D"]),
        ("She will lead the team.", "lead", ["L", "IY1", "D"]),
        ("Please read it.", "read", ["R", "IY1", "D"]),
        ("Close the door.", "close", ["K", "L", "OW1", "Z"]),
        ("It was close.", "close", ["K", "L", "OW1", "S"]),
        ("She dove into the lake.", "dove", ["D", "OW1", "V"]),  # the verb is only dive's past
        ("The differences are minute.", "minute", ["M", "AY0", "N", "UW1", "T"]),  # predicate adjective
        ("Wait a minute.", "minute", ["M", "IH1", "N", "AH0", "T"]),
        ("Sow the wheat early.", "sow", ["S", "OW1"]),  # imperative
        ("Turn to chapter IV now.", "chapter IV", ["CH", "AE1", "P", "T", "ER0", "F", "AO1", "R"]),
        # The sentence's only verb, after a noun subject, though the tagger calls it a noun or adjective.
        ("Students protest against fees.", "protest", ["P", "R", "AH0", "T", "EH1", "S", "T"]),
        ("The band records in London.", "records", ["R", "IH0", "K", "AO1", "R", "D", "Z"]),
        ("The present owner lives abroad.", "lives", ["L", "IH1", "V", "Z"]),
        ("The dove dove into the bushes.", "dove", ["D", "AH1", "V", "D", "OW1", "V"]),
        # Another verb in the sentence: the homograph stays a noun.
        ("Police records show the truth.", "records", ["R", "EH1", "K", "ER0", "D", "Z"]),
        ("Climate protests in Rome drew crowds.", "protests", ["P", "R", "OW1", "T", "EH2", "S", "T", "S"]),
        # After a determiner: a noun, though the tagger calls it a verb.
        ("His conduct at school improved.", "conduct", ["K", "AA1", "N", "D", "AH0", "K", "T"]),
        # Opening the sentence before a number: an imperative.
        ("Use three cups of flour.", "use", ["Y", "UW1", "Z"]),
        ("The file is invalid.", "invalid", ["IH2", "N", "V", "AE1", "L", "AH0", "D"]),
        ("Enter an invalid password.", "invalid", ["IH2", "N", "V", "AE1", "L", "AH0", "D"]),
    ],
)
def test_default_mode_reads_common_homographs_by_pos(text: str, word: str, expected: list[str]) -> None:
    _assert_reads(text, word, expected)


def test_unknown_hyphenated_compound_is_read_part_by_part_in_default_mode() -> None:
    assert g2p_en("thirty-four") == ["TH", "ER1", "D", "IY2", "F", "AO1", "R"]
    assert g2p_en(normalize_en("Wi-Fi")) == ["W", "AY1", "F", "AY2"]


def test_contraction_missing_from_the_lexicon_is_base_plus_clitic_in_default_mode() -> None:
    assert g2p_en("She'd've") == ["SH", "IY1", "D", "AH0", "V"]
    assert g2p_en("John'd") == ["JH", "AA1", "N", "D"]


def test_labelled_english_readings_cover_the_required_kinds() -> None:
    path = REPO_ROOT / "tests" / "data" / "readings_en.jsonl"
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(items) >= 25
    kinds = {item["kind"] for item in items}
    assert {"abbreviation", "acronym", "number", "ordinal", "year", "currency", "homograph"} <= kinds
    assert all(("expect_norm" in item) or ("expect_phones" in item) for item in items)


def test_unreadable_currency_amount_is_a_text_error() -> None:
    # `$,2`: the reference crashes (int(",2")); Timbre reports a TextError in both modes.
    for compat in (True, False):
        with pytest.raises(TextError):
            normalize_en("pay $,2 now", reference_compat=compat)


@pytest.mark.parametrize(
    ("text", "word", "expected"),
    [
        ("I read the book yesterday.", "read", ["R", "EH1", "D"]),
        ("I read the book yesterday and loved it.", "read", ["R", "EH1", "D"]),
        ("I read it three years ago.", "read", ["R", "EH1", "D"]),
        ("I read it in 1999.", "read", ["R", "EH1", "D"]),
        ("I have read it.", "read", ["R", "EH1", "D"]),
        ("It was read aloud.", "read", ["R", "EH1", "D"]),
        ("He read the letter.", "read", ["R", "EH1", "D"]),
        ("I read a book every day.", "read", ["R", "IY1", "D"]),
        ("I didn't read it yesterday.", "read", ["R", "IY1", "D"]),  # do-support wins over the adverb
        ("I usually read in the evening.", "read", ["R", "IY1", "D"]),
        ("It was a good read.", "read", ["R", "IY1", "D"]),
        ("She had misread the instructions.", "misread", ["M", "IH0", "S", "R", "EH1", "D"]),
        ("I always proofread my emails.", "proofread", ["P", "R", "UW1", "F", "R", "IY2", "D"]),
        ("He proofread the report yesterday.", "proofread", ["P", "R", "UW1", "F", "R", "EH2", "D"]),
        ("We reread the chapter last night.", "reread", ["R", "IY0", "R", "EH1", "D"]),
        ("I read your message this morning.", "read", ["R", "EH1", "D"]),
        ("I will read it this morning.", "read", ["R", "IY1", "D"]),
    ],
)
def test_present_past_homographs_follow_the_tense_of_their_clause(
    text: str, word: str, expected: list[str]
) -> None:
    _assert_reads(text, word, expected)


def test_compat_mode_keeps_the_reference_reading_of_read() -> None:
    # The reference picks by POS tag alone: "I read" is tagged VBP, so present, yesterday or not.
    phones = g2p_en(normalize_en("I read the book yesterday.", reference_compat=True), reference_compat=True)
    assert phones[1:4] == ["R", "IY1", "D"]


def test_tense_table_loads_and_names_only_known_groups() -> None:
    from core.text.english import _tense_table

    table = _tense_table()
    assert {"read", "reread", "misread", "proofread"} <= set(table.words)
    assert {cue.scope for cue in table.cues} == {"before", "clause", "sentence"}


@pytest.mark.parametrize(
    ("text", "word", "expected"),
    [
        ("He plays the bass guitar.", "bass", ["B", "EY1", "S"]),
        ("We caught a bass in the lake.", "bass", ["B", "AE1", "S"]),
        ("We sat in the front row.", "row", ["R", "OW1"]),
        ("The actors took a bow.", "bow", ["B", "AW1"]),
        ("A tear rolled down her cheek.", "tear", ["T", "IH1", "R"]),
        ("Don't tear the paper.", "tear", ["T", "EH1", "R"]),
        ("She speaks Polish.", "Polish", ["P", "OW1", "L", "IH0", "SH"]),  # capitalised mid-sentence
        ("Polish the shoes.", "polish", ["P", "AA1", "L", "IH0", "SH"]),  # opening the sentence: no cue
        ("The dog pulled on its lead.", "lead", ["L", "IY1", "D"]),
        ("She took the lead early.", "lead", ["L", "IY1", "D"]),
        ("Lead paint is toxic.", "lead", ["L", "EH1", "D"]),
        ("The bass was too loud at the concert.", "bass", ["B", "EY1", "S"]),
        ("She could not hold back her tears.", "tears", ["T", "IH1", "R", "Z"]),
    ],
)
def test_sense_homographs_follow_the_cue_words_of_their_sentence(
    text: str, word: str, expected: list[str]
) -> None:
    _assert_reads(text, word, expected)


def test_sense_homographs_are_default_mode_only() -> None:
    def bass(text: str, compat: bool) -> list[str]:
        phones = g2p_en(normalize_en(text, reference_compat=compat), reference_compat=compat)
        start = next(i for i in range(len(phones)) if phones[i] == "B")
        return phones[start : start + 3]

    fish, music = "We caught a bass.", "He plays bass guitar."
    assert bass(fish, compat=True) == bass(music, compat=True)  # the reference: one reading for both
    assert bass(fish, compat=False) != bass(music, compat=False)


def test_sentence_initial_capital_a_is_the_article_in_default_mode() -> None:
    assert g2p_en(normalize_en("A white dove landed."))[:3] == ["AH0", "W", "AY1"]
    assert g2p_en(normalize_en("It rained. A decrease followed."))[7] == "AH0"
    # The letter: before a verb, or mid-sentence (vitamin A), and in compat mode.
    assert g2p_en(normalize_en("A is a vowel."))[0] == "EY1"
    assert "EY1" in g2p_en(normalize_en("Take vitamin A daily."))
    assert g2p_en("A white dove.", reference_compat=True)[0] == "EY1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The part I liked best.", "The part I liked best."),
        ("Malcolm X spoke.", "Malcolm X spoke."),
        ("Samuel L Jackson", "Samuel L Jackson"),
        ("Super Bowl XL", "Super Bowl forty"),
        ("We live on Baker St. Then we left.", "We live on Baker St. Then we left."),
        ("It cost $40.", "It cost forty dollars."),
    ],
)
def test_pronoun_i_names_and_street_are_left_alone(text: str, expected: str) -> None:
    assert normalize_en(text) == expected
