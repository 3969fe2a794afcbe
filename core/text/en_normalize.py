"""English text normalization: numbers, money, times, units and symbols spelled out as words.

`normalize_en(text, reference_compat=True)` reproduces GPT-SoVITS v2's `english.text_normalize` (its
`en_normalization/expend.py` rules) character for character, including its known misreadings. The default
(`reference_compat=False`) applies the same rules plus narrow corrections where the reference reading is
plainly wrong, all in `_apply_default_rules` or guarded by `compat` in `normalize_en`: money with scale words
and euro/yen signs, negative numbers keeping their space, "-" between words as a pause (not "minus"), times
and a.m./p.m., phone numbers, ISO dates, ranges and ratios, decades, units written with a space, e-mail
addresses, `&`, `#1`, title abbreviations (Dr., Prof., St., months before a day), Roman numerals after names
and after chapter/part/volume/... (either case; II to XXXIX, and a lone I in World War I), ordinals
without "and" (101st), decades without a century (his 40s), list ordinals only at the start of a line,
decimals only without spaces, all-capital words the lexicon reads as words (NASA), plural acronyms (APIs).
Everything else is identical.

The output keeps only ASCII letters, spaces and `' . , ? ! -`; upper-case runs are split into letters
(`NASA` -> `N A S A`) so that acronyms are spelled by the G2P.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

from core.errors import TextError

if TYPE_CHECKING:
    import inflect

# --- punctuation mapping before the rules
# The reference builds its pattern from re.escape() of each key, so the bracketed keys only match their
# literal text (e.g. the 9-character string "[;:：，；]"), never a single `;` or `：`.
_COMPAT_PUNCT_MAP: dict[str, str] = {"[;:：，；]": ",", '["’]': "'", "。": ".", "！": "!", "？": "?"}

# `replace_consecutive_punctuation` over the v2 punctuation set.
_PUNCT = "!?…,.-"
_CONSECUTIVE_PUNCT_RE = re.compile(f"([{re.escape(_PUNCT)}\\s])([{re.escape(_PUNCT)}])+")

# --- the reference rules, in application order
_LIST_ORDINAL_RE = re.compile(r"\b([0-9]+)\. ")
_LIST_ORDINAL_LINE_START_RE = re.compile(r"(?m)^([ \t]*)([0-9]+)\. ")

_SUP = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ"
_OPERAND = rf"((-?)((\d+)(\.\d+)?[{_SUP}]*)|(\.\d+[{_SUP}]*)|([A-Za-z][{_SUP}]*))"
_ARITH_RE = re.compile(_OPERAND + r"\s+([\+\-\×÷=])\s+" + _OPERAND)
_ARITH_WORDS = {"+": " plus ", "-": " minus ", "×": " times ", "÷": " divided by ", "=": " Equals "}

_NEGATIVE_RE = re.compile(r"(?:^|\s+)(-)(\d+)")
_NEGATIVE_KEEP_SPACE_RE = re.compile(r"(^|\s+)-(\d+)")
_DIGIT_GROUPS_RE = re.compile(r"([0-9][0-9\,]+[0-9])")
_TIME_RE = re.compile(r"\b([01]?[0-9]|2[0-3]):([0-5][0-9])\b")

_UNITS: dict[str, tuple[str, str]] = {
    "m": ("meter", "meters"),
    "km": ("kilometer", "kilometers"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "ft": ("feet", "feet"),
    "L": ("liter", "liters"),
    "tbsp": ("tablespoon", "tablespoons"),
    "tsp": ("teaspoon", "teaspoons"),
    "h": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "s": ("second", "seconds"),
    "°C": ("degree celsius", "degrees celsius"),
    "°F": ("degree fahrenheit", "degrees fahrenheit"),
}
_UNIT_RE = re.compile(r"\b([0-9]+(\.[0-9]+)?(m|km|km/h|ft|L|tbsp|tsp|h|min|s|°C|°F))\b")

_POUNDS_BEFORE_RE = re.compile(r"£([0-9\.\,]*[0-9]+)")
_POUNDS_AFTER_RE = re.compile(r"([0-9\.\,]*[0-9]+)£")
_DOLLARS_BEFORE_RE = re.compile(r"\$([0-9\.\,]*[0-9]+)")
_DOLLARS_AFTER_RE = re.compile(r"([(0-9\.\,]*[0-9]+)\$")
_DECIMAL_RE = re.compile(r"([0-9]+\.\s*[0-9]+)")
_FRACTION_RE = re.compile(r"([0-9]+/[0-9]+)")
_ORDINAL_RE = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER_RE = re.compile(r"[0-9]+")
_NOT_KEPT_RE = re.compile(r"[^ A-Za-z'.,?!\-]")
_IE_RE = re.compile(r"(?i)i\.e\.")
_EG_RE = re.compile(r"(?i)e\.g\.")
_CAPITAL_SPLIT_RE = re.compile(r"(?<!^)(?<![\s])([A-Z])")

# (singular, plural) names of a currency's main unit and its hundredth.
_Currency = tuple[tuple[str, str], tuple[str, str]]
_DOLLAR: _Currency = (("dollar", "dollars"), ("cent", "cents"))
_POUND: _Currency = (("pound", "pounds"), ("penny", "pence"))
_EURO: _Currency = (("euro", "euros"), ("cent", "cents"))


@functools.lru_cache(maxsize=1)
def _inflect() -> inflect.engine:
    import inflect  # slow to import (about 1 s): loaded on first use

    return inflect.engine()


# --- reference rule callbacks
def _list_ordinal(m: re.Match[str]) -> str:
    return _inflect().ordinal(m.group(1)) + ", "


def _arith(m: re.Match[str]) -> str:
    return m.group(1) + _ARITH_WORDS[m.group(8)] + m.group(9)


def _negative(m: re.Match[str]) -> str:
    return f"negative {m.group(2)}"


def _time_compat(m: re.Match[str]) -> str:
    hours, minutes = int(m.group(1)), int(m.group(2))
    period = "a.m." if hours < 12 else "p.m."
    if hours > 12:
        hours -= 12
    hour_words = _inflect().number_to_words(hours)
    if minutes == 0:
        return f"{hour_words} o'clock {period}"
    return f"{hour_words} {_inflect().number_to_words(minutes)} {period}"


def _unit(m: re.Match[str]) -> str:
    unit = m.group(3)
    value = int(m.group(1).replace(unit, "").replace(".", ""))
    singular = m.group(2) is None and value == 1
    return m.group(1).replace(unit, " " + _UNITS[unit][0 if singular else 1])


def _money(amount: str, currency: _Currency, fallback: str) -> str:
    parts = amount.split(".")
    if len(parts) > 2:
        return f"{amount} {fallback}"
    (main_one, main_many), (sub_one, sub_many) = currency
    if not all(p.isdigit() for p in parts if p):
        # e.g. `$,2`: the reference fails on it too (int(",2")), so there is no reading to reproduce
        raise TextError(f"cannot read the amount {amount!r} next to a currency sign; write it as digits")
    main = int(parts[0]) if parts[0] else 0
    sub = int(parts[1].ljust(2, "0")) if len(parts) > 1 and parts[1] else 0
    main_text = f"{main} {main_one if main == 1 else main_many}"
    sub_text = f"{sub} {sub_one if sub == 1 else sub_many}"
    if main and sub:
        return f"{main_text} and {sub_text}"
    if main:
        return main_text
    if sub:
        return sub_text
    return f"zero {main_many}"


def _decimal(m: re.Match[str]) -> str:
    whole, frac = m.group(1).split(".")
    return whole + " point " + " ".join("point" if c == "." else c for c in frac)


def _fraction(m: re.Match[str]) -> str:
    numerator, denominator = (int(x) for x in m.group(0).split("/"))
    num_words = _inflect().number_to_words(numerator)
    if denominator == 1:
        return num_words
    if denominator == 2:
        return f"{num_words} {'half' if numerator == 1 else 'halves'}"
    den_words = _inflect().ordinal(_inflect().number_to_words(denominator))
    return f"{num_words} {den_words}{'s' if numerator > 1 else ''}"


def _ordinal(m: re.Match[str]) -> str:
    return _inflect().number_to_words(m.group(0))


def _ordinal_default(m: re.Match[str]) -> str:
    """Default mode: an ordinal's hundreds as a cardinal's, without "and" (101st: one hundred first)."""
    return _inflect().number_to_words(m.group(0), andword="")


def _cardinal(m: re.Match[str]) -> str:
    return _cardinal_words(int(m.group(0)))


def _cardinal_words(n: int) -> str:
    if 1000 < n < 3000:  # read like a year
        if n == 2000:
            return "two thousand"
        if 2000 < n < 2010:
            return "two thousand " + _inflect().number_to_words(n % 100)
        if n % 100 == 0:
            return _inflect().number_to_words(n // 100) + " hundred"
        return _inflect().number_to_words(n, andword="", zero="oh", group=2).replace(", ", " ")
    return _inflect().number_to_words(n, andword="")


# --- default-mode corrections
_AMPM = r"([AaPp])\.?\s?[Mm]\.?"
_TIME_AMPM_RE = re.compile(r"\b([01]?[0-9]|2[0-3]):([0-5][0-9])\s*" + _AMPM + r"(?![A-Za-z])")
_HOUR_AMPM_RE = re.compile(r"\b(1[0-2]|0?[1-9])\s*" + _AMPM + r"(?![A-Za-z])")
_ISO_DATE_RE = re.compile(r"\b(\d{4})-(0?[1-9]|1[0-2])-(0?[1-9]|[12]\d|3[01])\b")
_PHONE_RE = re.compile(r"(?<![\d-])(?:(1)[-\s])?(?:\((\d{3})\)\s?|(\d{3})-)?(\d{3})-(\d{4})(?![\d-])")
_RATIO_RE = re.compile(r"\b(\d+):(\d+)\b")
_DECADE_RE = re.compile(r"\b(1[0-9]|20)([0-9]0)s\b")
_SHORT_DECADE_RE = re.compile(r"(?<![\w'])'([0-9]0)s\b")
# A decade without its century or apostrophe (in his 40s, temperatures in the 70s): "forties".
_BARE_DECADE_RE = re.compile(r"(?<![\w'.,$£€¥-])([2-9]0)s\b")
_SUFFIXED_MONEY_RE = re.compile(r"([$£€])(\d+(?:\.\d+)?)\s?(K|k|M|B|bn)\b")
_SUFFIX_SCALES = {"K": "thousand", "k": "thousand", "M": "million", "B": "billion", "bn": "billion"}
_AROUND_THE_CLOCK_RE = re.compile(r"\b24/7\b")
_RANGE_RE = re.compile(r"(?<![\d.,-])(\d+(?:\.\d+)?)(?:-|\s?[–~]\s?)(\d+(?:\.\d+)?)(?![\d-])")
_SCALED_MONEY_RE = re.compile(
    r"([$£€¥])\s?(\d+(?:\.\d+)?)\s?(thousand|million|billion|trillion)\b|"
    r"(\d+(?:\.\d+)?)\s?(thousand|million|billion|trillion)\s?([$£€¥])"
)
_EURO_BEFORE_RE = re.compile(r"€\s?([0-9\.\,]*[0-9]+)")
_EURO_AFTER_RE = re.compile(r"([0-9\.\,]*[0-9]+)\s?€")
_YEN_RE = re.compile(r"¥\s?([0-9,]*[0-9]+)")
_SPACED_UNIT_RE = re.compile(r"\b([0-9]+(\.[0-9]+)?) (km|ft|tbsp|tsp|min|°C|°F)(?![A-Za-z/])")
_SPEED_RE = re.compile(r"\b([0-9]+(\.[0-9]+)?) ?km/h\b")
# A dash with spaces between words is a pause; between two single letters (x - y) it stays arithmetic.
_SPACED_DASH_RE = re.compile(r"(?<=[A-Za-z]{2}) +[-–—] +(?=[A-Za-z])|(?<=[A-Za-z]) +[-–—] +(?=[A-Za-z]{2})")
_DECIMAL_TIGHT_RE = re.compile(r"([0-9]+\.[0-9]+)")
_EXTRA_UNITS: dict[str, tuple[str, str]] = {
    "mph": ("mile per hour", "miles per hour"),
    "kg": ("kilogram", "kilograms"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "mg": ("milligram", "milligrams"),
    "ml": ("milliliter", "milliliters"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
}
_EXTRA_UNIT_RE = re.compile(r"\b([0-9]+(\.[0-9]+)?) ?(mph|kg|cm|mm|mg|ml|lbs|oz)\b")
_DEGREES_RE = re.compile(r"(\d)\s?°(?![CF])")
_GROUPED_YEARLIKE_RE = re.compile(r"(?<![\d.,$£€¥])[12],\d{3}(?![\d,]|\.\d)")
# APIs, CEOs: the plural s of a spelled acronym is read like a letter's "'s" (A P I's), not as a word "Is".
_ACRONYM_PLURAL_RE = re.compile(r"\b([A-Z]{2,})s\b")
_EMAIL_RE = re.compile(r"\b([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\b")
_AMPERSAND_RE = re.compile(r"\s*&\s*")
_HASH_NUMBER_RE = re.compile(r"#\s?(?=\d)")

# Abbreviations written with a period -> (spoken form or None to keep the word, kind). A "title" precedes a
# name and a "connector" joins two phrases: their period is never a sentence end unless the text ends there.
# A "suffix" keeps its period when a new sentence (a capital) follows. `No.`, `Fig.`, `Vol.`, `Rm.` and a
# "month" are expanded only before a number (No. 5, Jan. 1st).
_ABBREVIATIONS: dict[str, tuple[str | None, str]] = {
    "Mr": (None, "title"),
    "Mrs": (None, "title"),
    "Ms": (None, "title"),
    "Dr": ("Doctor", "title"),
    "Prof": ("Professor", "title"),
    "Mt": ("Mount", "title"),
    "Gen": ("General", "title"),
    "Capt": ("Captain", "title"),
    "Sgt": ("Sergeant", "title"),
    "vs": ("versus", "connector"),
    "No": ("number", "connector"),
    "Jr": ("Junior", "suffix"),
    "Sr": ("Senior", "suffix"),
    "approx": ("approximately", "suffix"),
    "dept": ("department", "suffix"),
    "Ave": ("Avenue", "suffix"),
    "Rev": ("Reverend", "title"),
    "Apt": ("Apartment", "connector"),
    "Rd": ("Road", "suffix"),
    "Blvd": ("Boulevard", "suffix"),
    "Inc": ("Incorporated", "suffix"),
    "Ltd": ("Limited", "suffix"),
    "Corp": ("Corporation", "suffix"),
    "Fig": ("Figure", "connector"),
    "Vol": ("Volume", "connector"),
    "Rm": ("Room", "connector"),
    "Jan": ("January", "month"),
    "Feb": ("February", "month"),
    "Mar": ("March", "month"),
    "Apr": ("April", "month"),
    "Jun": ("June", "month"),
    "Jul": ("July", "month"),
    "Aug": ("August", "month"),
    "Sep": ("September", "month"),
    "Sept": ("September", "month"),
    "Oct": ("October", "month"),
    "Nov": ("November", "month"),
    "Dec": ("December", "month"),
}
# Expanded only before a number (No. 5, Fig. 3, Vol. 2, Rm. 101).
_BEFORE_NUMBER_ONLY = frozenset({"No", "Fig", "Vol", "Rm"})
_ABBREVIATION_RE = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.(?=\s|$)")
_SAINT_RE = re.compile(r"\bSt\.(?=\s+[A-Z])")
_PREVIOUS_WORD_RE = re.compile(r"([A-Za-z]+)\s+$")
# Numerals II to LXXXIX (a lone I is the pronoun; see _ROMAN_ONE_RE).
_ROMAN_NUMERAL = r"(?:XL|LX{0,3}|X{1,3})(?:IX|IV|VI{0,3}|I{0,3})|IX|IV|VI{0,3}|I{2,3}"
_ROMAN_RE = re.compile(rf"\b([A-Za-z][a-z]+\.?) ({_ROMAN_NUMERAL})\b")
# A lone `I` is a numeral only after `War` (World War I) or after a heading word before punctuation
# (Chapter I.); elsewhere it is the pronoun (the part I liked).
_ROMAN_ONE_RE = re.compile(r"\b(War) I\b|\b([A-Z][a-z]+) I(?=[.,;:!?)]|$)")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50}
_ROMAN_CARDINAL_AFTER = frozenset(
    "War Chapter Part Volume Vol. Act Book Phase Stage Level Type Class Grade Episode Season Round Game "
    "Schedule Title Article Section Appendix Unit Bowl".split()
)


def _roman_value(numeral: str) -> int:
    total = 0
    for i, ch in enumerate(numeral):
        value = _ROMAN_VALUES[ch]
        nxt = _ROMAN_VALUES[numeral[i + 1]] if i + 1 < len(numeral) else 0
        total += -value if value < nxt else value
    return total


def _roman(m: re.Match[str]) -> str:
    word, numeral = m.group(1), m.group(2)
    n = _roman_value(numeral)
    if word.capitalize() in _ROMAN_CARDINAL_AFTER:  # chapter III as well as Chapter III
        return f"{word} {_inflect().number_to_words(n)}"
    # A regnal numeral follows a name; Malcolm X, Samuel L and size XL are no numerals.
    if word[0].islower() or numeral == "X" or "L" in numeral:
        return m.group(0)
    return f"{word} the {_inflect().ordinal(_inflect().number_to_words(n))}"


def _roman_one(m: re.Match[str]) -> str:
    word = m.group(1) or m.group(2)
    return f"{word} one" if word in _ROMAN_CARDINAL_AFTER else m.group(0)


def _digits(number: str) -> str:
    return " ".join(_inflect().number_to_words(int(d)) for d in number)


def _plural_number_words(words: str) -> str:
    """ "nineteen ninety" -> "nineteen nineties", "nineteen hundred" -> "nineteen hundreds"."""
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


def _decade(m: re.Match[str]) -> str:
    n = int(m.group(1) + m.group(2))
    return _plural_number_words(_cardinal_words(n))


def _short_decade(m: re.Match[str]) -> str:
    return _plural_number_words(_inflect().number_to_words(int(m.group(1))))


def _suffixed_money(m: re.Match[str]) -> str:
    return f"{m.group(2)} {_SUFFIX_SCALES[m.group(3)]} {_CURRENCY_BY_SIGN[m.group(1)][1]}"


def _ratio(m: re.Match[str]) -> str:
    return f"{m.group(1)} to {m.group(2)}"


def _phone_number(m: re.Match[str]) -> str:
    return ", ".join(_digits(g) for g in m.groups() if g)


def _ampm(letter: str) -> str:
    return "A M" if letter.lower() == "a" else "P M"


def _clock(hours: int, minutes: int, *, with_period: bool) -> str:
    words = _inflect().number_to_words
    twelve = hours % 12 or 12
    if minutes == 0:
        text = words(twelve) if with_period else f"{words(twelve)} o'clock"
    elif minutes < 10:
        text = f"{words(twelve)} oh {words(minutes)}"
    else:
        text = f"{words(twelve)} {words(minutes)}"
    return text


def _sentence_stop(m: re.Match[str]) -> str:
    """The final period of `p.m.` also ends the sentence at the end of the text or before a capital."""
    if not m.group(0).endswith("."):
        return ""
    rest = m.string[m.end() :]
    return "." if not rest.strip() or re.match(r"\s+[A-Z]", rest) else ""


def _time_with_period(m: re.Match[str]) -> str:
    clock = _clock(int(m.group(1)), int(m.group(2)), with_period=True)
    return f"{clock} {_ampm(m.group(3))}{_sentence_stop(m)}"


def _hour_with_period(m: re.Match[str]) -> str:
    return f"{_inflect().number_to_words(int(m.group(1)))} {_ampm(m.group(2))}{_sentence_stop(m)}"


def _time_plain(m: re.Match[str]) -> str:
    hours, minutes = int(m.group(1)), int(m.group(2))
    if hours == 0 or hours > 12:
        return f"{_clock(hours, minutes, with_period=True)} {'A M' if hours == 0 else 'P M'}"
    return _clock(hours, minutes, with_period=False)


_MONTHS = "January February March April May June July August September October November December".split()


def _iso_date(m: re.Match[str]) -> str:
    day = _inflect().ordinal(_inflect().number_to_words(int(m.group(3))))
    return f"{_MONTHS[int(m.group(2)) - 1]} {day}, {m.group(1)}"


def _range(m: re.Match[str]) -> str:
    if m.group(1) == m.group(2):  # 50-50 is "fifty-fifty", not a range
        return m.group(0)
    return f"{m.group(1)} to {m.group(2)}"


_CURRENCY_BY_SIGN: dict[str, tuple[_Currency, str]] = {
    "$": (_DOLLAR, "dollars"),
    "£": (_POUND, "pounds"),
    "€": (_EURO, "euros"),
    "¥": ((("yen", "yen"), ("sen", "sen")), "yen"),
}


def _scaled_money(m: re.Match[str]) -> str:
    if m.group(1):
        sign, amount, scale = m.group(1), m.group(2), m.group(3)
    else:
        amount, scale, sign = m.group(4), m.group(5), m.group(6)
    return f"{amount} {scale} {_CURRENCY_BY_SIGN[sign][1]}"


def _euros(m: re.Match[str]) -> str:
    return _money(m.group(1).replace(",", ""), _EURO, "euros")


def _yen(m: re.Match[str]) -> str:
    amount = int(m.group(1).replace(",", ""))
    return f"{amount} yen"


def _grouped_count(m: re.Match[str]) -> str:
    """`1,234` written with a thousands comma is a count, not a year (reference: "twelve thirty-four")."""
    n = int(m.group(0).replace(",", ""))
    if 1000 < n < 3000:
        return _inflect().number_to_words(n, andword="")
    return m.group(0)


def _speed(m: re.Match[str]) -> str:
    singular = m.group(2) is None and m.group(1) == "1"
    return f"{m.group(1)} {_UNITS['km/h'][0 if singular else 1]}"


def _spaced_unit(m: re.Match[str]) -> str:
    return f"{m.group(1)}{m.group(3)}"


def _extra_unit(m: re.Match[str]) -> str:
    singular = m.group(2) is None and int(m.group(1)) == 1
    return f"{m.group(1)} {_EXTRA_UNITS[m.group(3)][0 if singular else 1]}"


def _email(m: re.Match[str]) -> str:
    local = m.group(1).replace(".", " dot ")
    domain = m.group(2).replace(".", " dot ")
    return f"{local} at {domain}"


def _abbreviation(m: re.Match[str]) -> str:
    word = m.group(1)
    spoken, kind = _ABBREVIATIONS[word]
    rest = m.string[m.end() :]
    if (word in _BEFORE_NUMBER_ONLY or kind == "month") and not re.match(r"\s*\d", rest):
        return m.group(0)
    ends_sentence = not rest.strip() or (kind == "suffix" and re.match(r"\s+[A-Z]", rest) is not None)
    return (spoken or word) + ("." if ends_sentence else "")


# Capitalised words before `St.` that are no street's name (The St. Louis team, In St. Ives).
_NOT_STREET_NAMES = frozenset("the a an in at on to from of by for and or near visit visited via".split())


def _saint(m: re.Match[str]) -> str:
    """`St.` before a name is Saint unless it follows a capitalized word (`Baker St. Then` is Street)."""
    before = _PREVIOUS_WORD_RE.search(m.string[: m.start()])
    if before and before.group(1)[0].isupper() and before.group(1).lower() not in _NOT_STREET_NAMES:
        return m.group(0)
    return "Saint"


_NOT_VARIABLES = frozenset({"a", "A", "I"})


def _arith_strict(m: re.Match[str]) -> str:
    """Like the reference rule, but a letter operand must stand alone, and `-` next to a/A/I is no minus."""
    left, op, right = m.group(1), m.group(8), m.group(9)
    start, end = m.start(), m.end()
    text = m.string
    letter_left = m.group(7) is not None
    letter_right = m.group(15) is not None
    if letter_left and start > 0 and text[start - 1].isalpha():
        return m.group(0)
    if letter_right and end < len(text) and text[end].isalpha():
        return m.group(0)
    if op == "-" and (m.group(7) in _NOT_VARIABLES or m.group(15) in _NOT_VARIABLES):
        return m.group(0)
    return left + _ARITH_WORDS[op] + right


def _apply_default_rules(text: str) -> str:
    """Corrections applied before the reference rules in default mode (order matters)."""
    text = _EMAIL_RE.sub(_email, text)
    text = _SPACED_DASH_RE.sub(", ", text)
    text = _AMPERSAND_RE.sub(" and ", text)
    text = _HASH_NUMBER_RE.sub("number ", text)
    text = _SAINT_RE.sub(_saint, text)
    text = _ABBREVIATION_RE.sub(_abbreviation, text)
    text = _ROMAN_RE.sub(_roman, text)
    text = _ROMAN_ONE_RE.sub(_roman_one, text)
    text = _TIME_AMPM_RE.sub(_time_with_period, text)
    text = _TIME_RE.sub(_time_plain, text)
    text = _RATIO_RE.sub(_ratio, text)
    text = _HOUR_AMPM_RE.sub(_hour_with_period, text)
    text = _ISO_DATE_RE.sub(_iso_date, text)
    text = _PHONE_RE.sub(_phone_number, text)
    text = _SCALED_MONEY_RE.sub(_scaled_money, text)
    text = _SUFFIXED_MONEY_RE.sub(_suffixed_money, text)
    text = _DECADE_RE.sub(_decade, text)
    text = _SHORT_DECADE_RE.sub(_short_decade, text)
    text = _BARE_DECADE_RE.sub(_short_decade, text)
    text = _AROUND_THE_CLOCK_RE.sub("24 7", text)
    text = _EURO_BEFORE_RE.sub(_euros, text)
    text = _EURO_AFTER_RE.sub(_euros, text)
    text = _YEN_RE.sub(_yen, text)
    text = _SPEED_RE.sub(_speed, text)
    text = _SPACED_UNIT_RE.sub(_spaced_unit, text)
    text = _EXTRA_UNIT_RE.sub(_extra_unit, text)
    text = _DEGREES_RE.sub(r"\1 degrees", text)
    text = _RANGE_RE.sub(_range, text)
    text = _GROUPED_YEARLIKE_RE.sub(_grouped_count, text)
    text = _ACRONYM_PLURAL_RE.sub(r"\1's", text)
    return text


# Capital split: the reference splits before every capital not at the start of a word; the default mode does
# not split after an apostrophe or hyphen (O'Brien, Wi-Fi) or inside Mc-names (McDonald).
_CAPITAL_SPLIT_DEFAULT_RE = re.compile(r"(?<!^)(?<![\s'\-])(?<!\bMc)([A-Z])")


_CAPS_WORD_RE = re.compile(r"(?<![A-Za-z'])[A-Z]{4,}(?![A-Za-z])")


def _split_capitals(text: str) -> str:
    """Default-mode capital split: an all-capital word of 4+ letters that the lexicon lists is kept whole
    (NASA, NATO, UNESCO are read as words; the lexicon spells the ones it spells, like HTML)."""
    from core.text.english import lexicon_lookup  # lazy: english imports this module

    def read_as_word(word: str) -> bool:
        pron = lexicon_lookup(word)
        if pron is None:
            return False
        spelled = [ph for letter in word for ph in (lexicon_lookup(letter) or [])]
        return [p.rstrip("012") for p in pron] != [p.rstrip("012") for p in spelled]

    kept = [m.span() for m in _CAPS_WORD_RE.finditer(text) if read_as_word(m.group(0))]

    def split(m: re.Match[str]) -> str:
        if any(start < m.start() < end for start, end in kept):
            return m.group(0)
        return " " + m.group(1)

    return _CAPITAL_SPLIT_DEFAULT_RE.sub(split, text)


def normalize_en(text: str, *, reference_compat: bool = False) -> str:
    """Spell out numbers, money, times, units and symbols of an English text as words.

    `reference_compat=True` gives exactly GPT-SoVITS v2's `english.text_normalize`; the default mode adds the
    narrow corrections listed in this module (e.g. `$2.5 billion` -> "two point five billion dollars",
    `€40` -> "forty euros", `to -5` -> "to negative five", `10:30 a.m.` -> "ten thirty A M").
    Raises `TextError` for a number too large to say (beyond decillions; the reference crashes there).
    """
    from inflect import NumOutOfRangeError

    try:
        return _normalize_en(text, reference_compat=reference_compat)
    except NumOutOfRangeError:
        raise TextError(
            "a number in the text is too large to read aloud; "
            "split it into groups or write it as digits separated by spaces"
        ) from None


def _normalize_en(text: str, *, reference_compat: bool) -> str:
    compat = reference_compat
    for key, value in _COMPAT_PUNCT_MAP.items():
        text = text.replace(key, value)

    if compat:
        text = _LIST_ORDINAL_RE.sub(_list_ordinal, text)
    else:
        text = _apply_default_rules(text)
        text = _LIST_ORDINAL_LINE_START_RE.sub(lambda m: m.group(1) + _list_ordinal_at(m), text)

    if compat:
        while _ARITH_RE.search(text):
            text = _ARITH_RE.sub(_arith, text)
        text = _NEGATIVE_RE.sub(_negative, text)
    else:
        previous = None
        while previous != text:
            previous = text
            text = _ARITH_RE.sub(_arith_strict, text)
        text = _NEGATIVE_KEEP_SPACE_RE.sub(lambda m: f"{m.group(1)}negative {m.group(2)}", text)

    text = _DIGIT_GROUPS_RE.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _TIME_RE.sub(_time_compat, text)
    text = _UNIT_RE.sub(_unit, text)
    text = _POUNDS_BEFORE_RE.sub(lambda m: _money(m.group(1), _POUND, "pounds"), text)
    text = _POUNDS_AFTER_RE.sub(lambda m: _money(m.group(1), _POUND, "pounds"), text)
    text = _DOLLARS_BEFORE_RE.sub(lambda m: _money(m.group(1), _DOLLAR, "dollars"), text)
    text = _DOLLARS_AFTER_RE.sub(lambda m: _money(m.group(1), _DOLLAR, "dollars"), text)
    text = (_DECIMAL_RE if compat else _DECIMAL_TIGHT_RE).sub(_decimal, text)
    text = _FRACTION_RE.sub(_fraction, text)
    text = _ORDINAL_RE.sub(_ordinal if compat else _ordinal_default, text)
    text = _NUMBER_RE.sub(_cardinal, text)

    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = text.replace("%", " percent")
    text = _NOT_KEPT_RE.sub("", text)
    text = _IE_RE.sub("that is", text)
    text = _EG_RE.sub("for example", text)
    text = _CAPITAL_SPLIT_RE.sub(r" \1", text) if compat else _split_capitals(text)
    return _CONSECUTIVE_PUNCT_RE.sub(r"\1", text)


def _list_ordinal_at(m: re.Match[str]) -> str:
    return _inflect().ordinal(m.group(2)) + ", "
