"""Benchmark: how Timbre reads held-out labelled text (tests/data/readings_eval, issue 20 step 6).

Scores the development half and the evaluation half of the labelled set separately, and prints one table:

- polyphones: the labelled character of each Chinese sentence read with the labelled syllable (its third
  tone may be read as second before a third tone: the sandhi);
- all characters: every syllable of those sentences against the dictionary-drafted, hand-corrected full
  labels; for the characters that are not the labelled one, a neutral tone matches the full tone, a third
  tone read as second before a third tone matches, and the tones of 一 and 不 are not compared (these
  sandhi and neutral-tone conventions are what the draft does not settle);
- normalisation: the normalized text of a Chinese sentence equals one of its labels, punctuation aside;
- English: the phones of an English sentence equal its label exactly, punctuation aside.

Only counts are printed for the evaluation half: rules are written from the development half, whose misses
`--show-dev-misses` lists. A third row scores the probes (`readings_eval/probes/`): sentences written here to
develop rules from, whose polyphone items label only their polyphone (no all-characters figure).

    python bench/readings.py [--reference-compat] [--show-dev-misses]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from core.errors import TextError  # noqa: E402
from core.text import PhoneResult, text_to_phones  # noqa: E402
from core.text.overrides import is_han  # noqa: E402
from core.text.symbols import PUNCTUATION  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "readings_eval"
HALVES = ("dev", "eval")
PROBES = "probes"
SETS = ("zh_polyphones", "zh_normalize", "en_phones")
# Sandhi-variable characters whose tone the all-character score does not compare (see the docstring).
_TONE_FREE = frozenset("一不")
_NORM_IGNORED = frozenset(PUNCTUATION) | frozenset(" ，。！？、；：")


def load(half: str, name: str) -> list[dict]:
    """The items of one labelled file, `tests/data/readings_eval/<half>/<name>.jsonl` (none where the set
    has no such file: the probes have no English)."""
    path = DATA / half / f"{name}.jsonl"
    if half == PROBES and not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def read(text: str, lang: str, reference_compat: bool) -> PhoneResult | str:
    """Timbre's reading of `text`, or the error message when it refuses it."""
    try:
        return text_to_phones(text, lang, reference_compat=reference_compat)
    except TextError as exc:
        return f"error: {exc}"


def _syllables(result: PhoneResult) -> list[str | None]:
    return [s for _, s in result.pinyin()]


def _same_free(expected: str, got: str | None, char: str, next_expected: str | None) -> bool:
    """Whether `got` reads a non-labelled character as `expected` up to the conventions in the docstring."""
    if got is None:
        return False
    if got == expected:
        return True
    base_e, tone_e, base_g, tone_g = expected[:-1], expected[-1], got[:-1], got[-1]
    if base_e != base_g:
        return False
    if char in _TONE_FREE or "5" in (tone_e, tone_g):
        return True
    return _third_tone_sandhi(expected, got, next_expected)


def _third_tone_sandhi(expected: str, got: str | None, next_expected: str | None) -> bool:
    """`got` is `expected`, or `expected`'s third tone read as second before another third tone."""
    if got == expected:
        return True
    sandhi = expected[-1:] == "3" and next_expected is not None and next_expected[-1:] == "3"
    return sandhi and got == expected[:-1] + "2"


@dataclass
class PolyphoneScore:
    """The score of one polyphone sentence: its labelled character, and all its characters."""

    target_ok: bool
    chars_ok: int
    chars: int
    miss: str


def score_polyphone(item: dict, result: PhoneResult | str) -> PolyphoneScore:
    """Score one `zh_polyphones` item against a reading of its text."""
    if "expect_pinyin" not in item:
        return _score_polyphone_only(item, result)
    expected = item["expect_pinyin"].split()
    if isinstance(result, str):
        return PolyphoneScore(False, 0, len(expected), result)
    got = _syllables(result)
    if len(got) != len(expected):  # the normalizer changed the length: nothing lines up
        return PolyphoneScore(False, 0, len(expected), f"read as {result.norm_text!r}")
    target = item["index"]
    after = [expected[i + 1] if i + 1 < len(expected) else None for i in range(len(expected))]
    target_ok = any(_third_tone_sandhi(e, got[target], after[target]) for e in item["expect"].split("|"))
    syllables = [i for i, e in enumerate(expected) if e[-1:].isdigit()]  # not the punctuation marks
    text = result.norm_text
    chars_ok = sum(
        target_ok if i == target else _same_free(expected[i], got[i], text[i], after[i]) for i in syllables
    )
    miss = "" if target_ok and chars_ok == len(syllables) else " ".join(str(s) for s in got)
    return PolyphoneScore(target_ok, chars_ok, len(syllables), miss)


def _score_polyphone_only(item: dict, result: PhoneResult | str) -> PolyphoneScore:
    """A probe labels only its polyphone: found by its place among the text's Han characters (the normalizer
    may drop marks such as 《》), its third tone read as second before a third tone allowed."""
    if isinstance(result, str):
        return PolyphoneScore(False, 0, 0, result)
    got = _syllables(result)
    source = [i for i, c in enumerate(item["text"]) if is_han(c)]
    spoken = [i for i, c in enumerate(result.norm_text) if is_han(c)]
    if len(source) != len(spoken) or len(got) != len(result.norm_text):
        return PolyphoneScore(False, 0, 0, f"read as {result.norm_text!r}")
    at = spoken[source.index(item["index"])]
    after = got[at + 1] if at + 1 < len(got) else None
    ok = any(_third_tone_sandhi(e, got[at], after) for e in item["expect"].split("|"))
    return PolyphoneScore(ok, 0, 0, "" if ok else " ".join(str(g) for g in got))


def score_norm(item: dict, result: PhoneResult | str) -> str:
    """Empty when the normalized text equals one of the item's labels (punctuation aside), else the text."""
    if isinstance(result, str):
        return result
    labels = item["expect_norm"] if isinstance(item["expect_norm"], list) else [item["expect_norm"]]
    got = "".join(c for c in result.norm_text if c not in _NORM_IGNORED)
    wanted = {"".join(c for c in label if c not in _NORM_IGNORED) for label in labels}
    return "" if got in wanted else result.norm_text


def score_english(item: dict, result: PhoneResult | str) -> str:
    """Empty when the phones equal the item's label (punctuation aside), else the phones."""
    if isinstance(result, str):
        return result
    got = [p for p in result.phones if p not in PUNCTUATION]
    return "" if got == item["expect_phones"].split() else " ".join(got)


@dataclass
class HalfScore:
    """The four figures of one half, and its misses (texts with what was read)."""

    polyphones: tuple[int, int]
    chars: tuple[int, int]
    norm: tuple[int, int]
    english: tuple[int, int]
    misses: list[str]


def score_half(half: str, reference_compat: bool = False) -> HalfScore:
    """Read every item of one half and score it."""
    misses: list[str] = []
    poly_ok = chars_ok = chars = 0
    polys = load(half, "zh_polyphones")
    for item in polys:
        score = score_polyphone(item, read(item["text"], "zh", reference_compat))
        poly_ok += score.target_ok
        chars_ok += score.chars_ok
        chars += score.chars
        if score.miss:
            misses.append(f"polyphone {item['text']} [{item['char']}={item['expect']}]: {score.miss}")

    def count(name: str, lang: str, scorer: Callable[[dict, PhoneResult | str], str]) -> tuple[int, int]:
        items = load(half, name)
        ok = 0
        for item in items:
            miss = scorer(item, read(item["text"], lang, reference_compat))
            ok += not miss
            if miss:
                misses.append(f"{name} {item['text']}: {miss}")
        return ok, len(items)

    norm = count("zh_normalize", "zh", score_norm)
    english = count("en_phones", "en", score_english)
    return HalfScore((poly_ok, len(polys)), (chars_ok, chars), norm, english, misses)


def _cell(pair: tuple[int, int]) -> str:
    ok, n = pair
    return f"{ok / n:.3f} ({ok}/{n})" if n else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference-compat", action="store_true", help="score the reference's exact reading")
    parser.add_argument("--show-dev-misses", action="store_true", help="list the development half's misses")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    scores = {half: score_half(half, args.reference_compat) for half in (*HALVES, PROBES)}
    mode = "--reference-compat" if args.reference_compat else "default"
    print(f"readings ({mode} mode), {time.perf_counter() - start:.1f} s")
    print(f"{'half':<6}{'polyphones':>20}{'all characters':>22}{'normalisation':>20}{'English':>18}")
    for half, s in scores.items():
        cells = (_cell(s.polyphones), _cell(s.chars), _cell(s.norm), _cell(s.english))
        print(f"{half:<6}{cells[0]:>20}{cells[1]:>22}{cells[2]:>20}{cells[3]:>18}")
    print("(probes: written to develop rules from; their polyphone items label only the polyphone)")
    if args.show_dev_misses:
        for line in scores["dev"].misses:
            print("  dev miss:", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
