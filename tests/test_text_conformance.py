"""Conformance: `text_to_phones(reference_compat=True)` reproduces GPT-SoVITS v2's text frontend exactly.

Cases: `shared/conformance/text/public.jsonl` (segments, norm_text, phones, ids, final_retry; `error` cases
must raise `TextError`) and `public_langseg_only.jsonl` (segmentation only). The default mode must differ
from the fixtures exactly on the ids listed in `tests/data/reference_deviations.jsonl`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.errors import TextError
from core.text import PhoneResult, text_to_phones
from core.text.langseg import split_languages

DEVIATIONS = Path(__file__).parent / "data" / "reference_deviations.jsonl"


def _load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def cases(conformance_dir: Path) -> list[dict]:
    return _load(conformance_dir / "text" / "public.jsonl")


@pytest.fixture(scope="module")
def langseg_cases(conformance_dir: Path) -> list[dict]:
    return _load(conformance_dir / "text" / "public_langseg_only.jsonl")


def _as_record(result: PhoneResult) -> dict:
    return {
        "segments": [
            {
                "lang": s.lang,
                "text": s.text,
                "norm_text": s.norm_text,
                "phones": s.phones,
                "word2ph": s.word2ph,
            }
            for s in result.segments
        ],
        "norm_text": result.norm_text,
        "phones": result.phones,
        "ids": result.ids,
        "final_retry": result.final_retry,
    }


def _expected(case: dict) -> dict:
    return {k: case[k] for k in ("segments", "norm_text", "phones", "ids", "final_retry")}


def _first_difference(got: dict, want: dict) -> str:
    for key in ("segments", "norm_text", "phones", "ids", "final_retry"):
        if got[key] != want[key]:
            return f"{key}: got {got[key]!r}\n   want {want[key]!r}"
    return ""


def test_compat_mode_reproduces_every_public_case(cases: list[dict]) -> None:
    failures = []
    for case in cases:
        if "error" in case:
            with pytest.raises(TextError):
                text_to_phones(case["text"], case["lang"], reference_compat=True)
            continue
        try:
            got = _as_record(text_to_phones(case["text"], case["lang"], reference_compat=True))
        except TextError as exc:
            failures.append(f"{case['id']} {case['lang']} {case['text']!r}: raised {exc}")
            continue
        want = _expected(case)
        if got != want:
            where = f"{case['id']} {case['lang']} {case['text']!r}"
            failures.append(f"{where}\n   {_first_difference(got, want)}")
    passed = len(cases) - len(failures)
    print(f"\ntext conformance (compat): {passed}/{len(cases)} public cases exact")
    assert not failures, f"{len(failures)} of {len(cases)} cases differ:\n" + "\n".join(failures[:25])


def test_error_cases_raise_text_error(cases: list[dict]) -> None:
    errors = [c for c in cases if "error" in c]
    assert errors, "the public set has error cases"
    for case in errors:
        for compat in (True, False):
            with pytest.raises(TextError):
                text_to_phones(case["text"], case["lang"], reference_compat=compat)


def _reference_segments(text: str, lang: str) -> list[tuple[str, str]]:
    """The reference's (lang, text) cut, as `split_languages` + the mode rules give it."""
    from core.text.frontend import _split

    return [(lang_, text_) for lang_, text_ in _split(re.sub(r" {2,}", " ", text), lang, True)]


def test_language_segmentation_matches_the_reference(cases: list[dict], langseg_cases: list[dict]) -> None:
    failures = []
    checked = 0
    for case in cases + langseg_cases:
        if "error" in case:
            continue
        text = case["text"]
        if case.get("final_retry"):
            text = "." + re.sub(r" {2,}", " ", text)
        want = [(s["lang"], s["text"]) for s in case["segments"]]
        if case.get("out_of_scope"):  # our segmentation relabels kanji-only "ja" pieces; check the raw cut
            got = split_languages(re.sub(r" {2,}", " ", text))
        else:
            got = _reference_segments(text, case["lang"])
        checked += 1
        if got != want:
            failures.append(f"{case['id']} {case['lang']} {case['text']!r}: got {got}, want {want}")
    assert checked == len(cases) + len(langseg_cases) - sum("error" in c for c in cases)
    assert not failures, "\n".join(failures)


def test_default_mode_differs_exactly_on_listed_deviations(cases: list[dict]) -> None:
    listed = {}
    for line in DEVIATIONS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            listed[record["id"]] = record
    # The list names public cases (by id and text); a differently drawn set has no such list.
    cases = [c for c in cases if c.get("set", "public") == "public" and "error" not in c]
    if not cases:
        pytest.skip("the deviations list covers the public set only")
    differing = {}
    for case in cases:
        try:
            got = text_to_phones(case["text"], case["lang"]).phones
        except TextError as exc:
            got = f"TextError: {exc}"
        if got != case["phones"]:
            differing[case["id"]] = got
    unlisted = sorted(set(differing) - set(listed))
    unchanged = sorted(i for i in listed if i not in differing and any(c["id"] == i for c in cases))
    report = [f"{i} {next(c['text'] for c in cases if c['id'] == i)!r}: {differing[i]}" for i in unlisted]
    assert not unlisted, "default mode differs from the reference on unlisted cases:\n" + "\n".join(report)
    assert not unchanged, f"listed as deviations but default mode equals the reference: {unchanged}"
    for case_id, record in listed.items():
        if case_id not in differing:
            continue
        case = next(c for c in cases if c["id"] == case_id)
        assert (record["text"], record["lang"]) == (case["text"], case["lang"]), case_id
        if record.get("expected_error"):
            assert str(differing[case_id]).startswith(record["expected_error"]), case_id
        elif record.get("expected_phones") is not None:
            assert differing[case_id] == record["expected_phones"], case_id
