"""`python -m core text`: show how Timbre reads a text (normalized text, pinyin, phones, phone ids).

With TEXT, prints a readable report. Without it, reads one text per line from stdin. `--jsonl` prints one
JSON object per input line instead: `{"text", "norm_text", "phones", "word2ph", "ids"}` (`word2ph` has one
entry per character of `norm_text`, null for characters of non-Chinese segments), or `{"text", "error"}`
for a line that cannot be read; the other lines go on and the exit status stays 0. In the readable form a
failing stdin line is reported on stderr and the exit status is 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TextIO

from core.errors import TimbreError
from core.settings import Settings
from core.text import LANGUAGES, PhoneResult, UserDictionary, check_text_length, text_to_phones
from core.text.g2pw import load_if_present


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "text",
        help="show the normalized text, pinyin, phones and ids of a text",
        description="Read a text the way synthesis will: normalized text, per-character pinyin for Chinese, "
        "phones and phone ids. Without TEXT, reads one text per line from stdin.",
    )
    parser.add_argument("text", nargs="?", metavar="TEXT", help="the text (default: one text per stdin line)")
    parser.add_argument(
        "--lang",
        default="auto",
        choices=LANGUAGES,
        help="auto: detect; zh: Chinese with English words; en: English; all_zh: Chinese (default: auto)",
    )
    parser.add_argument("--version", default="v2", help="model version of the phone set (v2)")
    parser.add_argument("--jsonl", action="store_true", help="one JSON object per input line")
    parser.add_argument(
        "--reference-compat",
        action="store_true",
        help="reproduce GPT-SoVITS v2 exactly, mistakes included (default: Timbre's corrected reading)",
    )
    parser.add_argument(
        "--user-dict", metavar="FILE", help="user dictionary (.json, or word<TAB>reading lines)"
    )
    parser.add_argument(
        "--pretrained",
        metavar="DIR",
        default="pretrained",
        help="pretrained models folder; Chinese polyphones are read with G2PW when DIR/G2PWModel exists "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-chars",
        type=_positive_int,
        default=Settings().max_text_chars,
        metavar="N",
        help="refuse a text (each stdin line) longer than N characters (default: %(default)s)",
    )
    parser.set_defaults(handler=_run)


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of characters, at least 1; got {value!r}")
    return int(value)


def _run(args: argparse.Namespace) -> int:
    user_dict = UserDictionary.load(args.user_dict) if args.user_dict else None
    g2pw = load_if_present(args.pretrained)

    def read(text: str) -> PhoneResult:
        check_text_length(text, args.max_chars)
        return text_to_phones(
            text,
            args.lang,
            version=args.version,
            user_dict=user_dict,
            reference_compat=args.reference_compat,
            g2pw=g2pw,
        )

    if hasattr(sys.stdin, "reconfigure"):  # undecodable bytes reach the frontend, which names the line
        sys.stdin.reconfigure(errors="surrogateescape")
    if args.text is not None:
        result = read(args.text)  # a TextError goes to the dispatcher: message on stderr, exit 2
        print(json.dumps(_as_json(result), ensure_ascii=False) if args.jsonl else describe(result))
        return 0
    return _run_lines(sys.stdin, sys.stdout, read, jsonl=args.jsonl)


def _run_lines(stdin: TextIO, stdout: TextIO, read: Callable[[str], PhoneResult], *, jsonl: bool) -> int:
    failed = False
    first = True
    for raw in stdin:
        line = raw.rstrip("\r\n")
        try:
            result = read(line)
        except TimbreError as exc:
            failed = True
            line = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # printable, valid JSON
            if jsonl:
                print(
                    json.dumps({"text": line, "error": str(exc)}, ensure_ascii=False), file=stdout, flush=True
                )
            else:
                print(f"error: {line!r}: {exc}", file=sys.stderr, flush=True)
            continue
        if jsonl:
            print(json.dumps(_as_json(result), ensure_ascii=False), file=stdout, flush=True)
        else:
            print(("" if first else "\n") + describe(result), file=stdout, flush=True)
            first = False
    return 2 if failed and not jsonl else 0


def _as_json(result: PhoneResult) -> dict:
    return {
        "text": result.text,
        "norm_text": result.norm_text,
        "phones": result.phones,
        "word2ph": result.word2ph(),
        "ids": result.ids,
    }


def describe(result: PhoneResult) -> str:
    """A few labelled lines for people: input, segments, normalized text, pinyin, phones, ids."""
    segments = " | ".join(f"{s.lang}: {s.text}" for s in result.segments)
    pinyin = " ".join(f"{c}({s})" for c, s in result.pinyin() if s)
    lines = [
        f"text:      {result.text}",
        f"segments:  {segments}",
        f"norm_text: {result.norm_text}",
    ]
    if pinyin:
        lines.append(f"pinyin:    {pinyin}")
    lines += [
        f"phones:    {' '.join(result.phones)}",
        f"ids:       {' '.join(map(str, result.ids))}",
    ]
    if result.final_retry:
        lines.append("note:      fewer than 6 phones, so the text was read with a leading '.'")
    return "\n".join(lines)
