"""The v2 phone inventory and phone-id lookup.

The v2 model's text embedding has one row per symbol of this table (732 rows), so the order is part of the
checkpoint format: sorted(pad + Chinese + Japanese + punctuation/special + ARPAbet), then the two Japanese
pitch marks `[` `]`, then the Korean jamo (sorted), then the Cantonese phones (sorted). Phones are:

- Chinese (opencpop style): an initial (`b`, `zh`, ... or `AA`/`EE`/`OO`/`y`/`w` before zero-initial finals)
  and a final carrying its tone digit 1-5 (`ang2`, `i04` after z/c/s, `ir4` after zh/ch/sh/r, `v3` = ü).
- English: ARPAbet with stress digits on vowels (`AH0`, `IY1`).
- Punctuation `! ? … , . -`, pauses `SP` `SP2` (from `￥`) `SP3` (from `^`), and `UNK` for anything else.
"""

from __future__ import annotations

import functools

from core.errors import TextError

PAD = "_"
UNK = "UNK"
PUNCTUATION: tuple[str, ...] = ("!", "?", "…", ",", ".", "-")
SPECIAL: tuple[str, ...] = ("SP", "SP2", "SP3", UNK)

ZH_INITIALS: tuple[str, ...] = tuple("AA EE OO b c ch d f g h j k l m n p q r s sh t w x y z zh".split())
ZH_FINALS: tuple[str, ...] = tuple(
    "E En a ai an ang ao e ei en eng er i i0 ia ian iang iao ie in ing iong ir iu o ong ou u ua uai uan uang "
    "ui un uo v van ve vn".split()
)
ZH_TONES: tuple[int, ...] = (1, 2, 3, 4, 5)

JA_PHONES: tuple[str, ...] = tuple(
    "I N U a b by ch cl d dy e f g gy h hy i j k ky m my n ny o p py r ry s sh t ts u v w y z".split()
)
JA_PITCH_MARKS: tuple[str, ...] = ("[", "]")

ARPABET_VOWELS: tuple[str, ...] = tuple("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
ARPABET_STRESSES: tuple[int, ...] = (0, 1, 2)
# Consonants, plus the two vowels the reference table also lists without a stress digit (ER, IH).
ARPABET_PLAIN: tuple[str, ...] = tuple(
    "B CH D DH ER F G HH IH JH K L M N NG P R S SH T TH V W Y Z ZH".split()
)

KO_JAMO = "ㄱㄴㄷㄹㅁㅂㅅㅇㅈㅊㅋㅌㅍㅎㄲㄸㅃㅆㅉㅏㅓㅗㅜㅡㅣㅐㅔ空停"

YUE_PREFIX = "Y"
YUE_TONES: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
YUE_TONED: tuple[str, ...] = tuple(
    "a aa aai aak aam aan aang aap aat aau ai ak am an ang ap at au e ei ek eng eoi eon eot g i ik im in ing "
    "ip it iu k m n o oe oek oeng oi ok on ong ot ou p t u ui uk un ung ut yu yun yut".split()
)
YUE_PLAIN: tuple[str, ...] = tuple(
    "a aa ai ak au b c d e f g gw h j k kw l m n ng o oi ok on ou p s t uk w z".split()
)

SUPPORTED_VERSIONS: tuple[str, ...] = ("v2",)


def _build_v2_table() -> tuple[str, ...]:
    zh_finals = [f"{final}{tone}" for tone in ZH_TONES for final in ZH_FINALS]
    arpabet = [f"{v}{s}" for v in ARPABET_VOWELS for s in ARPABET_STRESSES] + list(ARPABET_PLAIN)
    base = sorted({PAD, *ZH_INITIALS, *zh_finals, *JA_PHONES, *PUNCTUATION, *SPECIAL, *arpabet})
    korean = sorted(KO_JAMO)
    cantonese = sorted(
        {f"{YUE_PREFIX}{f}{t}" for f in YUE_TONED for t in YUE_TONES}
        | {f"{YUE_PREFIX}{p}" for p in YUE_PLAIN}
    )
    return tuple(base + list(JA_PITCH_MARKS) + korean + cantonese)


@functools.lru_cache(maxsize=4)
def symbols(version: str = "v2") -> tuple[str, ...]:
    """The phone table of a model version, in id order (v2: 732 symbols)."""
    if version not in SUPPORTED_VERSIONS:
        raise TextError(
            f"text version {version!r} is not supported yet; supported: {', '.join(SUPPORTED_VERSIONS)}"
        )
    return _build_v2_table()


@functools.lru_cache(maxsize=4)
def _symbol_to_id(version: str) -> dict[str, int]:
    return {s: i for i, s in enumerate(symbols(version))}


def is_symbol(phone: str, version: str = "v2") -> bool:
    """True when `phone` is in the version's table."""
    return phone in _symbol_to_id(version)


def phones_to_ids(phones: list[str], version: str = "v2") -> list[int]:
    """Map phone symbols to model ids (one id per phone). Unknown phones raise `TextError`."""
    table = _symbol_to_id(version)
    try:
        return [table[p] for p in phones]
    except KeyError as exc:
        raise TextError(
            f"phone {exc.args[0]!r} is not in the {version} phone table; map it to {UNK!r} first"
        ) from None
