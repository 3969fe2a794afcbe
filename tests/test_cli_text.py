"""`python -m core text`: readable report, stdin lines, JSON lines, errors as messages."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import build_parser, main
from core.errors import SettingsError, TextError
from core.settings import Settings
from core.text import UserDictionary, check_text_length, text_to_phones

REPO = Path(__file__).resolve().parents[1]


def test_text_argument_prints_a_readable_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["text", "--lang", "zh", "我们去银行。"]) == 0
    out = capsys.readouterr().out
    expected = text_to_phones("我们去银行。", "zh")
    assert f"norm_text: {expected.norm_text}" in out
    assert "我(wo3)" in out
    assert " ".join(expected.phones) in out
    assert " ".join(map(str, expected.ids)) in out


def test_jsonl_reads_stdin_line_by_line_and_keeps_going_after_an_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("你好，世界。\n   \nHello world, this is a test.\n"))
    assert main(["text", "--jsonl", "--reference-compat", "--lang", "zh"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    first = text_to_phones("你好，世界。", "zh", reference_compat=True)
    assert lines[0] == {
        "text": "你好，世界。",
        "norm_text": first.norm_text,
        "phones": first.phones,
        "word2ph": first.word2ph(),
        "ids": first.ids,
    }
    assert lines[1]["text"] == "   " and "nothing to read" in lines[1]["error"]
    assert set(lines[2]) == {"text", "norm_text", "phones", "word2ph", "ids"}
    assert lines[2]["word2ph"] == [None] * len(lines[2]["norm_text"])
    assert len(lines[2]["phones"]) == len(lines[2]["ids"])


def test_readable_stdin_reports_failures_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("今天很好。\n😀\n明天也好。\n"))
    assert main(["text", "--lang", "all_zh"]) == 2
    captured = capsys.readouterr()
    assert captured.out.count("phones:") == 2
    assert "nothing to read" in captured.err


def test_user_dictionary_file_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dict.json"
    UserDictionary({"长江": "zhang3 jiang1"}).save(path)
    assert main(["text", "--jsonl", "--user-dict", str(path), "长江很长。"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["phones"][:2] == ["zh", "ang3"]


def test_bad_arguments_exit_2_with_a_message_not_a_traceback() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "core", "text", "--version", "v1", "你好"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "not supported yet" in run.stderr and "Traceback" not in run.stderr


def test_bytes_that_are_not_utf8_are_reported_for_their_line(tmp_path) -> None:
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "core", "text", "--jsonl", "--lang", "zh"],
        input=b"a\xffb\n\xe4\xbd\xa0\xe5\xa5\xbd\xe5\x95\x8a\xe6\x9c\x8b\xe5\x8f\x8b\xe3\x80\x82\n",
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    first, second = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert "not valid UTF-8" in first["error"]
    assert second["text"] == "你好啊朋友。" and second["phones"]


def test_a_number_too_large_to_say_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["text", "--lang", "en", "1" * 40 + " dogs"]) == 2
    assert "too large to read aloud" in capsys.readouterr().err


def test_text_over_the_length_limit_is_refused_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["text", "--lang", "en", "--max-chars", "10", "hello there my friend"]) == 2
    err = capsys.readouterr().err
    assert "21 characters" in err and "limit of 10" in err
    assert "split it" in err and "--max-chars" in err
    assert main(["text", "--lang", "en", "--max-chars", "21", "hello there my friend"]) == 0


def test_default_length_limit_comes_from_settings(capsys: pytest.CaptureFixture[str]) -> None:
    limit = Settings().max_text_chars
    assert build_parser().parse_args(["text", "hi"]).max_chars == limit
    assert main(["text", "--lang", "en", "a " * (limit // 2 + 1)]) == 2
    assert f"limit of {limit}" in capsys.readouterr().err


def test_jsonl_reports_an_overlong_line_and_reads_the_next(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("x" * 50 + "\nHello world.\n"))
    assert main(["text", "--jsonl", "--lang", "en", "--max-chars", "20"]) == 0
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "50 characters" in first["error"] and "limit of 20" in first["error"]
    assert second["phones"]


def test_check_text_length() -> None:
    check_text_length("12345", 5)
    with pytest.raises(TextError, match="6 characters, over the limit of 5"):
        check_text_length("123456", 5)
    with pytest.raises(SettingsError):
        check_text_length("", 0)
