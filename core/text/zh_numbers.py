"""Chinese number words: digits, cardinals, decimals and the spoken 两.

These are the building blocks of `core.text.zh_normalize`; every function takes a string of ASCII
digits (as found in the text) and returns Chinese characters. They reproduce the reading rules of the
GPT-SoVITS v2 normaliser (PaddleSpeech's `zh_normalization`) exactly:

* `cardinal("10010")` -> `一万零一十`; a number starting with 一十 drops the 一 (`10` -> `十`,
  `100000` -> `十万`, but `110` -> `一百一十`); leading zeros are ignored and all zeros read `零`.
* `decimal("3.20")` -> `三点二零`: trailing zeros of the fraction collapse into one, `.5` -> `零点五`.
* `digits("110", phone_one=True)` -> `幺幺零`: one character per digit, with 幺 for 1 where a digit string
  is read as a code (phone numbers, room numbers, passwords).
"""

from __future__ import annotations

DIGIT_CHARS = "零一二三四五六七八九"

# Powers of ten that have their own character, smallest first.
_UNIT_POWERS: tuple[tuple[int, str], ...] = ((1, "十"), (2, "百"), (3, "千"), (4, "万"), (8, "亿"))


def digits(value: str, *, phone_one: bool = False) -> str:
    """Read a digit string one digit at a time: `"2024"` -> `二零二四`; `phone_one` reads 1 as 幺."""
    out = "".join(DIGIT_CHARS[int(ch)] for ch in value)
    return out.replace("一", "幺") if phone_one else out


def _cardinal_parts(value: str) -> list[str]:
    """Characters of a digit string that may carry leading zeros (a lower part of a bigger number).

    A part whose only significant digit is preceded by zeros gets a 零 in front (`"05"` -> 零五); an
    all-zero part says nothing.
    """
    significant = value.lstrip("0")
    if not significant:
        return []
    if len(significant) == 1:
        has_gap = len(significant) < len(value)
        return (["零"] if has_gap else []) + [DIGIT_CHARS[int(significant)]]
    power, unit = next((p, u) for p, u in reversed(_UNIT_POWERS) if p < len(significant))
    return _cardinal_parts(value[:-power]) + [unit] + _cardinal_parts(value[-power:])


def cardinal(value: str) -> str:
    """Read a non-negative integer digit string as a number: `"8848"` -> `八千八百四十八`.

    An empty string reads as the empty string; zeros only (`"000"`) read `零`.
    """
    if not value:
        return ""
    value = value.lstrip("0")
    if not value:
        return "零"
    parts = _cardinal_parts(value)
    if len(parts) >= 2 and parts[0] == "一" and parts[1] == "十":
        parts = parts[1:]
    return "".join(parts)


def decimal(value: str) -> str:
    """Read `"123"`, `"1.75"` or `".5"`: integer part as a cardinal, fraction digit by digit after 点.

    Trailing zeros of the fraction collapse into a single 零 (`"3.200"` -> 三点二零); a missing integer
    part reads 零. Raises `ValueError` for more than one point (callers' regexes never produce that).
    """
    integer, point, fraction = value.partition(".")
    if "." in fraction:
        raise ValueError(f"{value!r} has more than one decimal point")
    out = cardinal(integer)
    if fraction.endswith("0"):
        fraction = fraction.rstrip("0") + "0"
    if fraction:
        out = (out or "零") + "点" + digits(fraction)
    return out


def spoken_liang(number_words: str, *, leading_hundred: bool = True) -> str:
    """Use 两 where speech does before a measure word: `二` -> 两, `二千` -> 两千, `一万二千` -> 一万两千.

    Applied to the output of `cardinal`. 二 becomes 两 when it stands alone, when it leads the number
    before 百 (`leading_hundred`: 两百块; a bare number reads 二百五十六), and everywhere before 千, 万
    and 亿. Decimals (`二点五`) keep 二, and so does 二 in the tens
    or units place (`十二`, `二十`, `三百零二`).
    """
    if "点" in number_words:
        return number_words
    if number_words == "二":
        return "两"
    chars = list(number_words)
    for i, ch in enumerate(chars):
        if ch != "二" or i + 1 >= len(chars):
            continue
        following = chars[i + 1]
        if following in "千万亿" or (following == "百" and i == 0 and leading_hundred):
            chars[i] = "两"
    return "".join(chars)
