"""Text -> phones: the whole text frontend of GPT-SoVITS v2 in one call, `text_to_phones`.

Steps (the reference's `TextPreprocessor.get_phones_and_bert` text logic, in order):

1. inline `<...>` readings are taken out of the text (`core.text.overrides`), runs of spaces become one;
   in the default mode, texts over `_CHUNK_CHARS` characters are cut after sentence ends and read piece
   by piece;
2. the text is cut into language segments according to the language code (`LANGUAGES`):
   `all_zh` all Chinese except pure-Latin pieces, `en` one English segment, `auto` what the language detector
   says, `zh` (the reference's "中英混合") detector pieces merged into English / not-English runs;
3. each segment is cleaned by its language's frontend (`normalize` then `g2p`); a Chinese segment holding
   `￥` (or `^`) has it read as a `,` pause turned into `SP2` (`SP3`); phones outside the table become `UNK`;
4. segment phones are concatenated; with fewer than 6 phones the whole text is redone with a `.` in front
   (the models were trained on no shorter inputs).

`reference_compat=True` reproduces the reference's output exactly (that is what the conformance fixtures
check); the default mode is Timbre's reading, which differs only where the reference is demonstrably wrong,
and also:
- writes number-attached units and currency signs next to Chinese as Chinese words before segmentation
  (`25km` -> `25公里`, `￥45` -> `45元`; `zh_normalize.prepare_zh_text`), in every mode but `en`,
- rejects texts with nothing to read (empty, spaces, only punctuation or emoji) with a `TextError`,
- reads Chinese-only pieces that the lite language detector labels Japanese (`ja`) as Chinese and joins them
  to their Chinese neighbours (compat mode relabels them too but keeps the reference's cut).
In both modes, user-dictionary words and inline readings win over the built-in readings.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.errors import SettingsError, TextError
from core.text.langseg import HANGUL, KANA, split_languages
from core.text.overrides import InlineOverrides, is_han, parse_inline
from core.text.symbols import PUNCTUATION, SPECIAL, SUPPORTED_VERSIONS, UNK, is_symbol, phones_to_ids
from core.text.userdict import UserDictionary

if TYPE_CHECKING:
    from core.text.g2pw import G2PW

LANGUAGES: tuple[str, ...] = ("auto", "zh", "en", "all_zh")
"""Accepted language codes. `zh` is the reference's 中英混合 (Chinese with English), `all_zh` its 中文."""

# Codes the reference knows but Timbre cannot read yet (their G2P modules are not written).
_NOT_YET: dict[str, str] = {
    "ja": "Japanese",
    "all_ja": "Japanese",
    "ko": "Korean",
    "all_ko": "Korean",
    "yue": "Cantonese",
    "all_yue": "Cantonese",
    "auto_yue": "Cantonese",
}

MIN_PHONES = 6
"""Texts that give fewer phones are redone with a leading "." (as the reference does)."""
MAX_CHARS = 200_000
"""Longer texts are refused; split them (synthesis cuts texts into sentences anyway)."""
_CHUNK_CHARS = 2_000
"""Texts longer than this are segmented and cleaned sentence by sentence (see `_chunks`)."""

# A Chinese segment holding one of these is read with the mark as a pause: (mark, pause phone).
_SPECIAL_PAUSES: tuple[tuple[str, str], ...] = (("￥", "SP2"), ("^", "SP3"))
_SILENT_PHONES = frozenset(PUNCTUATION) | frozenset(SPECIAL)
_SPACE_RUN = re.compile(r" {2,}")
_SENTENCE_END = re.compile(r"[。！？!?…\n]+|\.(?=\s)")
# Default mode: what the English path must not read in Chinese text (see `_numbers_stay_chinese`).
_LATIN_LETTER = re.compile(r"[A-Za-z]")
_DIGIT_RUN = re.compile(r"\d+(?:\.\d+)*%?")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
# Characters Chinese normalization rewrites into another Han character (for placing inline readings).
_HAN_REWRITES = {"嗯": "恩", "呣": "母"}


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One language piece of the text and its reading.

    `text` is the piece as cut from the input, `norm_text` its normalized form, `phones` its phone symbols.
    `word2ph[i]` is the number of phones of `norm_text[i]` (Chinese only; None for other languages). The
    BERT features of a Chinese segment are computed from `norm_text` and repeated by `word2ph`.
    """

    lang: str
    text: str
    norm_text: str
    phones: list[str]
    word2ph: list[int] | None


@dataclass(frozen=True)
class PhoneResult:
    """What `text_to_phones` read: segments, and their concatenation as phones and model ids.

    `phones[i]` and `ids[i]` correspond; `norm_text` is the concatenation of the segments' `norm_text`.
    `final_retry` is True when the text gave fewer than `MIN_PHONES` phones and was redone with a leading ".".
    """

    text: str
    lang: str
    segments: list[Segment]
    norm_text: str
    phones: list[str]
    ids: list[int]
    final_retry: bool
    version: str = field(default="v2")

    def word2ph(self) -> list[int | None]:
        """Phones per character of `norm_text`; None for the characters of segments without word2ph."""
        out: list[int | None] = []
        for seg in self.segments:
            out.extend(seg.word2ph if seg.word2ph is not None else [None] * len(seg.norm_text))
        return out

    def pinyin(self) -> list[tuple[str, str | None]]:
        """(character, TONE3 syllable) for each character of `norm_text`; None where it is not a syllable
        (punctuation, English)."""
        from core.text.zh_g2p import pinyin_of_phones

        out: list[tuple[str, str | None]] = []
        for seg in self.segments:
            if seg.word2ph is None:
                out.extend((c, None) for c in seg.norm_text)
                continue
            pos = 0
            for char, count in zip(seg.norm_text, seg.word2ph, strict=True):
                syllable = None
                if count == 2:
                    try:
                        syllable = pinyin_of_phones(seg.phones[pos], seg.phones[pos + 1])
                    except TextError:  # e.g. an UNK phone: no syllable to show
                        syllable = None
                out.append((char, syllable))
                pos += count
        return out


# -- the per-language frontends ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentReadings:
    """User readings that apply inside one segment."""

    zh: dict[int, str] = field(default_factory=dict)  # index in the segment's text -> TONE3 syllable
    en: dict[str, list[str]] = field(default_factory=dict)  # lower-cased word -> ARPAbet phones


_Cleaned = tuple[str, list[str], list[int] | None]  # (norm_text, phones, word2ph or None)


@dataclass(frozen=True)
class ReadOptions:
    """How to read: the user's dictionary, the reference's exact reading or Timbre's, a G2PW model."""

    user_dict: UserDictionary | None = None
    reference_compat: bool = False
    g2pw: G2PW | None = None


@dataclass(frozen=True)
class LanguageFrontend:
    """How one language's text becomes phones.

    `clean(text, readings, options)` returns (norm_text, phones, word2ph or None).
    """

    name: str
    clean: Callable[[str, SegmentReadings, ReadOptions], _Cleaned]


def _clean_zh(text: str, readings: SegmentReadings, options: ReadOptions) -> _Cleaned:
    from core.text.zh_g2p import g2p_zh
    from core.text.zh_normalize import normalize_zh

    pause = next(((mark, phone) for mark, phone in _SPECIAL_PAUSES if mark in text), None)
    if pause is not None:
        text = text.replace(pause[0], ",")  # one character for one: reading positions stay valid
    norm_text = normalize_zh(text, reference_compat=options.reference_compat)
    user_dict = options.user_dict
    overrides = user_dict.chinese_readings(norm_text) if user_dict is not None else {}
    if readings.zh:
        overrides.update(_place_zh_readings(text, norm_text, readings.zh))
    phones, word2ph = g2p_zh(
        norm_text, overrides=overrides or None, reference_compat=options.reference_compat, g2pw=options.g2pw
    )
    if pause is None:
        return norm_text, [p if is_symbol(p) else UNK for p in phones], word2ph
    unknown = [p for p in phones if not is_symbol(p)]
    if unknown:
        raise TextError(f"cannot read {text!r}: phones {unknown} are not in the v2 phone table")
    return norm_text, [pause[1] if p == "," else p for p in phones], word2ph


def _clean_en(text: str, readings: SegmentReadings, options: ReadOptions) -> _Cleaned:
    from core.text.english import g2p_en, normalize_en

    norm_text = normalize_en(text, reference_compat=options.reference_compat)
    overrides = options.user_dict.english() if options.user_dict is not None else {}
    overrides.update(readings.en)
    phones = g2p_en(norm_text, overrides=overrides or None, reference_compat=options.reference_compat)
    return norm_text, [p if is_symbol(p) else UNK for p in phones], None


@functools.lru_cache(maxsize=1)
def language_frontends() -> Mapping[str, LanguageFrontend]:
    """Language code -> its frontend. Japanese, Korean and Cantonese will be added here."""
    return {"zh": LanguageFrontend("Chinese", _clean_zh), "en": LanguageFrontend("English", _clean_en)}


def _place_zh_readings(text: str, norm_text: str, readings: Mapping[int, str]) -> dict[int, str]:
    """Move readings from character positions of `text` to the same characters in `norm_text`.

    Normalization keeps Chinese characters in order and only inserts new ones (numbers become words), so
    each Han character of `text` is matched to its next occurrence in `norm_text`; a run of digits first
    skips at least one character (it becomes at least one character).
    """
    placed: dict[int, str] = {}
    j = 0
    prev_digit = False
    for i, char in enumerate(text):
        is_digit = "0" <= char <= "9"
        if is_digit and not prev_digit:
            j = min(j + 1, len(norm_text))
        prev_digit = is_digit
        if not is_han(char):
            continue
        k = norm_text.find(_HAN_REWRITES.get(char, char), j)
        if k < 0:
            if i in readings:
                raise TextError(
                    f"the reading {readings[i]!r} for {char!r} cannot be applied: normalization changed the "
                    "text around it; put the reading on the plain characters"
                )
            continue
        if i in readings:
            placed[k] = readings[i]
        j = k + 1
    return placed


# -- segmentation ----------------------------------------------------------------------------------


def _is_kanji_only(lang: str, text: str) -> bool:
    """A piece labelled Japanese/Korean that holds no kana/hangul (the lite detector's usual mistake)."""
    return (lang == "ja" and not KANA.search(text)) or (lang == "ko" and not HANGUL.search(text))


def _split(text: str, lang: str, reference_compat: bool) -> list[tuple[str, str]]:
    """(lang, text) segments of `text` for a language code (see the module docstring)."""
    if lang == "en":
        return [("en", text)]
    if not text.strip():
        raise TextError("nothing to read: the text is empty or only spaces")
    if lang == "all_zh":
        return split_languages(text, "zh")
    pieces = split_languages(text, timbre_reading=not reference_compat)
    if lang == "auto":
        relabelled = [
            ("zh" if _is_kanji_only(p_lang, p_text) else p_lang, p_text) for p_lang, p_text in pieces
        ]
        if reference_compat:
            return relabelled
        merged: list[tuple[str, str]] = []
        for p_lang, p_text in relabelled:
            if merged and merged[-1][0] == p_lang:
                merged[-1] = (p_lang, merged[-1][1] + p_text)
            else:
                merged.append((p_lang, p_text))
        return merged
    # "zh": English pieces stay English, everything else is Chinese; neighbours on the same side merge.
    return _merged([("en" if p_lang == "en" else lang, p_text) for p_lang, p_text in pieces])


def _merged(pieces: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Neighbouring pieces of the same language joined into one."""
    out: list[tuple[str, str]] = []
    for p_lang, p_text in pieces:
        if out and out[-1][0] == p_lang:
            out[-1] = (p_lang, out[-1][1] + p_text)
        else:
            out.append((p_lang, p_text))
    return out


@functools.lru_cache(maxsize=1)
def _sign_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(a digit or a sign the Chinese normalizer reads, a sign with the number after it), from the
    normalizer's own sign tables."""
    from core.text.zh_normalize import ARITHMETIC_SIGNS, COMPARISON_SIGNS, UNIT_SIGNS

    chars = {c for sign in (*COMPARISON_SIGNS, *ARITHMETIC_SIGNS) for c in sign}
    chars |= set(UNIT_SIGNS) | set("%℃°/")
    number_or_sign = re.compile("[0-9" + re.escape("".join(sorted(chars))) + "]")
    comparison = "|".join(re.escape(sign) for sign in COMPARISON_SIGNS)
    arithmetic = "".join(re.escape(sign) for sign in ARITHMETIC_SIGNS)
    sign_run = re.compile(
        rf"\s*(?:{comparison})\s*[-+]?[\d.]*|\s*[{arithmetic}]\s*[-+]?\d[\d.]*%?"
        r"|(?<=[A-Za-z\d])\s*\+\s*(?=[A-Za-z\d])"
    )
    return number_or_sign, sign_run


def _numbers_stay_chinese(pieces: list[tuple[str, str]], lang: str, text: str) -> list[tuple[str, str]]:
    """Default mode: in Chinese text, digits and signs are read by the Chinese normalizer, never by the
    English path (which read `2024/5/1` half in English and dropped `≤`).

    Applies to the codes `zh` and `all_zh`, and to `auto` when the text has a Chinese character. An English
    piece without a Latin letter (`2024/5/1`, `-5℃`, `2×3=6`, `±`, `㎡`) becomes Chinese; in an English
    piece with letters, a comparison or arithmetic sign with the number after it (`x≤5`, `a+b=10`) is cut
    out as Chinese, the letters stay English, and so is, in text with Chinese characters, a number that names
    a thing with a Latin word (`5G`, `iPhone 15`, `PM2.5`: `_names_a_thing`). Chinese neighbours then merge,
    so the normalizer sees the whole expression with its context (`他生于1990` + `/12/25`).
    """
    chinese_text = any(map(is_han, text))
    if lang == "auto" and not chinese_text:
        return pieces
    number_or_sign, sign_run = _sign_patterns()
    out: list[tuple[str, str]] = []
    for p_lang, p_text in pieces:
        if p_lang != "en" or not number_or_sign.search(p_text):
            out.append((p_lang, p_text))
        elif not _LATIN_LETTER.search(p_text):
            out.append(("zh", p_text))
        else:
            cuts = list(sign_run.finditer(p_text))
            if chinese_text:
                cuts += [m for m in _DIGIT_RUN.finditer(p_text) if _names_a_thing(m) and not _inside(m, cuts)]
            pos = 0
            for match in sorted(cuts, key=lambda m: m.start()):
                out.extend([("en", p_text[pos : match.start()]), ("zh", match.group(0))])
                pos = match.end()
            out.append(("en", p_text[pos:]))
    return _merged([(p_lang, p_text) for p_lang, p_text in out if p_text])


def _names_a_thing(match: re.Match[str]) -> bool:
    """A number in an English piece of Chinese text that a Chinese reader says in Chinese: joined to a
    Latin word (`5G`, `iPhone15`, `PM2.5`, `GPT-4`) or next to the piece's only word (`iPhone 15`); the
    numbers of an English sentence (`I have 2 dogs`) and model numbers of 3 digits or more stay English."""
    text, a, b = match.string, match.start(), match.end()
    if re.fullmatch(r"\d{3,}", match.group(0)):
        return False  # a model number (RTX 4090, 1080P) is read as the English name it is part of
    joined = text[max(0, a - 2) : a].rstrip("-")[-1:].isalpha() or text[b : b + 1].isalpha()
    return joined or len(_LATIN_WORD.findall(text)) <= 1


def _inside(match: re.Match[str], others: list[re.Match[str]]) -> bool:
    return any(o.start() < match.end() and match.start() < o.end() for o in others)


def _locate(source: str, pieces: list[str]) -> list[list[int]]:
    """For each piece, the index in `source` of each of its characters (pieces are in order and each is
    a subsequence of `source`: the splitter strips the ends and may drop non-CJK characters)."""
    out: list[list[int]] = []
    pos = 0
    for piece in pieces:
        start = source.find(piece, pos)
        if start >= 0:
            out.append(list(range(start, start + len(piece))))
            pos = start + len(piece)
            continue
        indices = []
        for char in piece:
            k = source.find(char, pos)
            if k < 0:
                break
            indices.append(k)
            pos = k + 1
        out.append(indices + [-1] * (len(piece) - len(indices)))
    return out


# -- the entry point -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Marked:
    """The text to read (spaces squeezed) and the user's readings at character positions of it."""

    text: str
    zh: dict[int, str]
    en: list[tuple[int, str, list[str]]]

    def with_prefix(self, prefix: str) -> _Marked:
        n = len(prefix)
        return _Marked(
            prefix + self.text,
            {i + n: s for i, s in self.zh.items()},
            [(i + n, w, p) for i, w, p in self.en],
        )


def _mark(text: str, reference_compat: bool = False) -> _Marked:
    """Take the inline readings out of `text` and squeeze runs of spaces, keeping reading positions.

    Malformed markup is a `TextError`, except in compat mode: the reference has no markup, so there a text
    whose `<`/`>` do not form valid readings (`x<5`, `a > b`) is read as it stands.
    """
    try:
        inline: InlineOverrides = parse_inline(text)
    except TextError:
        if not reference_compat:
            raise
        inline = InlineOverrides(text=text)
    plain = inline.text
    new_index: list[int] = []
    squeezed: list[str] = []
    for i, char in enumerate(plain):
        if char == " " and i > 0 and plain[i - 1] == " ":
            new_index.append(len(squeezed) - 1)
            continue
        new_index.append(len(squeezed))
        squeezed.append(char)
    squeezed_text = "".join(squeezed)
    assert squeezed_text == _SPACE_RUN.sub(" ", plain)
    zh = {new_index[r.start + k]: s for r in inline.zh for k, s in enumerate(r.syllables)}
    en = [(new_index[r.start], r.word, list(r.phones)) for r in inline.en]
    return _Marked(squeezed_text, zh, en)


def _read(marked: _Marked, lang: str, options: ReadOptions) -> list[Segment]:
    frontends = language_frontends()
    pieces = _split(marked.text, lang, options.reference_compat)
    if not options.reference_compat and lang != "en":
        pieces = _numbers_stay_chinese(pieces, lang, marked.text)
    positions = _locate(marked.text, [t for _, t in pieces])
    segments: list[Segment] = []
    for (seg_lang, seg_text), where in zip(pieces, positions, strict=True):
        readings = SegmentReadings(
            zh={k: marked.zh[p] for k, p in enumerate(where) if p in marked.zh},
            en={w.lower(): ph for start, w, ph in marked.en if start in where},
        )
        clean_lang, clean_text = seg_lang, seg_text
        if seg_lang in _NOT_YET:
            raise TextError(
                f"{_NOT_YET[seg_lang]} text ({seg_text!r}) is not supported yet; "
                "Timbre reads Chinese and English"
            )
        if seg_lang not in frontends:  # e.g. "punctuation": read as an English pause, like the reference
            clean_lang, clean_text = "en", " "
        misplaced = (readings.zh and clean_lang != "zh") or (readings.en and clean_lang != "en")
        if misplaced:
            kind = "pinyin" if readings.zh else "ARPAbet"
            raise TextError(
                f"an inline {kind} reading falls in the {seg_lang!r} part {seg_text!r}; pinyin goes after "
                "Chinese characters and ARPAbet after English words (check the language setting)"
            )
        norm_text, phones, word2ph = frontends[clean_lang].clean(clean_text, readings, options)
        segments.append(Segment(seg_lang, seg_text, norm_text, phones, word2ph))
    return segments


def _prepare_zh(marked: _Marked) -> _Marked:
    """Default mode: write number-attached units and currency signs next to Chinese as Chinese words
    (`25km` -> `25公里`) before language segmentation cuts them off as English (see `normalize_zh`)."""
    from core.text.zh_normalize import prepare_zh_text

    text = prepare_zh_text(marked.text)
    if text == marked.text or not (marked.zh or marked.en):
        return _Marked(text, dict(marked.zh), list(marked.en))
    moved: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, marked.text, text, autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        moved.update(zip(range(a, a + size), range(b, b + size), strict=True))
    lost = [i for i in [*marked.zh, *(i for i, _, _ in marked.en)] if i not in moved]
    if lost:
        raise TextError(
            f"the inline reading for {marked.text[lost[0]]!r} cannot be applied: the characters around it "
            "are rewritten (units, currency); put the reading on the plain characters"
        )
    return _Marked(
        text, {moved[i]: s for i, s in marked.zh.items()}, [(moved[i], w, p) for i, w, p in marked.en]
    )


def _chunks(marked: _Marked) -> list[_Marked]:
    """Cut a long text after sentence ends (keeping reading positions), about `_CHUNK_CHARS` each.

    Language detection and Chinese word segmentation look at a few characters around each position only, so
    reading a long text sentence by sentence gives the same result as reading it at once, in linear time.
    """
    cuts = [0]
    for match in _SENTENCE_END.finditer(marked.text):
        if match.end() - cuts[-1] >= _CHUNK_CHARS:
            cuts.append(match.end())
    if cuts[-1] != len(marked.text):
        cuts.append(len(marked.text))
    out = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        out.append(
            _Marked(
                marked.text[a:b],
                {i - a: s for i, s in marked.zh.items() if a <= i < b},
                [(i - a, w, p) for i, w, p in marked.en if a <= i < b],
            )
        )
    return [m for m in out if m.text.strip()]


def check_text_length(text: str, limit: int) -> None:
    """Raise a `TextError` when `text` has more than `limit` characters (Python `str` length).

    The bound one request may read (`Settings.max_text_chars`, `--max-chars`); `text_to_phones` itself only
    refuses texts over `MAX_CHARS`.
    """
    if limit < 1:
        raise SettingsError(f"the text length limit must be at least 1 character, got {limit}")
    if len(text) > limit:
        raise TextError(
            f"the text has {len(text)} characters, over the limit of {limit}; split it into shorter texts, "
            f"or raise the limit with --max-chars"
        )


def text_to_phones(
    text: str,
    lang: str = "auto",
    *,
    version: str = "v2",
    user_dict: UserDictionary | None = None,
    reference_compat: bool = False,
    g2pw: G2PW | None = None,
) -> PhoneResult:
    """Read `text` as phones for a v2 model.

    `lang` is one of `LANGUAGES`; `user_dict` readings and inline `<...>` readings override the built-in ones;
    `reference_compat=True` reproduces GPT-SoVITS v2 (pypinyin path) exactly instead of Timbre's reading;
    `g2pw` (a loaded `core.text.g2pw.G2PW`, see `load_g2pw`) reads Chinese polyphones with the G2PW model.
    Raises `TextError` for an unknown language code or version, malformed inline readings, or (default mode)
    a text with nothing to read.
    """
    if version not in SUPPORTED_VERSIONS:
        raise TextError(
            f"text version {version!r} is not supported yet; supported: {', '.join(SUPPORTED_VERSIONS)}"
        )
    if lang in _NOT_YET:
        raise TextError(
            f"language {lang!r} ({_NOT_YET[lang]}) is not supported yet; use one of: {', '.join(LANGUAGES)}"
        )
    if lang not in LANGUAGES:
        raise TextError(f"unknown language code {lang!r}; use one of: {', '.join(LANGUAGES)}")
    if not isinstance(text, str):
        raise TextError(f"expected text as a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: bytes that were not UTF-8 (surrogateescape)
        raise TextError(
            f"the text is not valid UTF-8 (at character {exc.start + 1}); save or type it as UTF-8"
        ) from None
    if len(text) > MAX_CHARS:
        raise TextError(
            f"the text has {len(text)} characters; the limit is {MAX_CHARS}. Split it into several requests"
        )
    marked = _mark(text, reference_compat)
    if not reference_compat and not marked.text.strip():
        raise TextError("nothing to read: the text is empty or only spaces")
    # Compat mode reads the text in one piece, as the reference does (every step is linear anyway); the
    # default mode reads long texts sentence by sentence, which bounds the work per call.
    chunked = not reference_compat and len(marked.text) > _CHUNK_CHARS
    chunks = _chunks(marked) if chunked else [marked]
    if not reference_compat and lang != "en":
        chunks = [_prepare_zh(chunk) for chunk in chunks]

    options = ReadOptions(user_dict=user_dict, reference_compat=reference_compat, g2pw=g2pw)
    segments = [seg for chunk in chunks for seg in _read(chunk, lang, options)]
    final_retry = sum(len(s.phones) for s in segments) < MIN_PHONES
    if final_retry:
        # The reference's "." prefix; the default mode writes it "。" (read the same, a pause), which the
        # normaliser cannot take for a decimal point (2次 -> .两次, never 零点二次).
        chunks = [chunks[0].with_prefix("." if reference_compat else "。"), *chunks[1:]]
        segments = [seg for chunk in chunks for seg in _read(chunk, lang, options)]

    phones = [p for s in segments for p in s.phones]
    if not reference_compat and all(p in _SILENT_PHONES for p in phones):
        raise TextError(
            f"nothing to read in {text!r}: no Chinese or English words or numbers (only punctuation, symbols "
            "or emoji)"
        )
    return PhoneResult(
        text=text,
        lang=lang,
        segments=segments,
        norm_text="".join(s.norm_text for s in segments),
        phones=phones,
        ids=phones_to_ids(phones, version),
        final_retry=final_retry,
        version=version,
    )
