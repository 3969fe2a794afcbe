"""Hand-labelled readings: how often Timbre reads everyday text the way a careful native speaker does.

Every `tests/data/readings_*.jsonl` line is `{"text", "lang", "kind", ...}` with one or more of
`expect_pinyin` (TONE3 syllables of the Chinese characters of the normalized text, space-separated),
`expect_norm` (the exact normalized text) and `expect_phones` (the full phone list). An item is right when
every expectation it states holds. Both modes are scored and printed (`pytest -s`); the default mode must
get at least 95% of all items right.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import TextError
from core.text import PhoneResult, text_to_phones

DATA = Path(__file__).parent / "data"
TARGET = 0.95


def _items() -> dict[str, list[dict]]:
    files = {}
    for path in sorted(DATA.glob("readings_*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        files[path.name] = [json.loads(line) for line in lines if line.strip()]
    return files


def _mismatch(item: dict, result: PhoneResult) -> str:
    """Empty when the result meets every expectation of the item, else what differs."""
    problems = []
    if "expect_pinyin" in item:
        got = [s for _, s in result.pinyin() if s is not None]
        if got != item["expect_pinyin"].split():
            problems.append(f"pinyin {' '.join(got)!r}")
    if "expect_norm" in item and result.norm_text != item["expect_norm"]:
        problems.append(f"norm {result.norm_text!r}")
    if "expect_phones" in item and result.phones != item["expect_phones"]:
        problems.append(f"phones {' '.join(result.phones)!r}")
    return "; ".join(problems)


def _score(item: dict, reference_compat: bool) -> str:
    try:
        result = text_to_phones(item["text"], item.get("lang", "auto"), reference_compat=reference_compat)
    except TextError as exc:
        return f"error {exc}"
    return _mismatch(item, result)


def test_default_mode_reads_labelled_items_right() -> None:
    files = _items()
    if not any(files.values()):
        pytest.skip("no tests/data/readings_*.jsonl items yet")
    rows = []
    wrong_default = []
    total = right_default = right_compat = 0
    for name, items in files.items():
        ok_default = ok_compat = 0
        for item in items:
            miss = _score(item, reference_compat=False)
            if miss:
                wrong_default.append(f"{name}: {item['text']!r} ({item.get('kind')}): {miss}")
            else:
                ok_default += 1
            ok_compat += not _score(item, reference_compat=True)
        rows.append((name, len(items), ok_default, ok_compat))
        total += len(items)
        right_default += ok_default
        right_compat += ok_compat
    rows.append(("all", total, right_default, right_compat))

    print("\nlabelled readings            items   default   compat")
    for name, n, d, c in rows:
        print(f"{name:<28}{n:>6}  {d / max(n, 1):8.1%}  {c / max(n, 1):7.1%}")
    for line in wrong_default:
        print("  default wrong:", line)
    assert right_default >= TARGET * total, (
        f"default mode reads {right_default}/{total} labelled items right, below {TARGET:.0%}:\n"
        + "\n".join(wrong_default)
    )
