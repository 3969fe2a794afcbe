"""Validation of a dataset before training (`core.data.validate`): every problem with its line, reason and
severity, and the fixes the Proofread tab offers (drop a line, go to it)."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.data.listfile import ListEntry, ListFileError, read_list
from core.data.proofread import ListEdits
from core.data.validate import DatasetProblem, relocate, validate_dataset, validate_entries

SR = 32000


def _tone(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR, subtype="PCM_16")
    return path


LINES = [
    "good.wav|spk|EN|Hello there, how are you?",  # 1: fine
    "short.wav|spk|EN|Hi.",  # 2: 2 s, trains but not well
    "tiny.wav|spk|EN|Oh.",  # 3: 0.3 s, training drops it
    "missing.wav|spk|EN|Nothing here.",  # 4
    "corrupt.wav|spk|EN|Broken file.",  # 5
    "good2.wav|spk|fr|Bonjour.",  # 6: unknown language code
    "good3.wav|spk|ZH|",  # 7: empty transcript
    "good4.wav|spk|JA|こんにちは",  # 8: no Japanese frontend for training yet
    "good.wav|spk|EN|Again.",  # 9: the same clip name twice
    "only|three|fields",  # 10: cannot be parsed
]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    for name in ("good", "good2", "good3", "good4"):
        _tone(tmp_path / f"{name}.wav", 4.0)
    _tone(tmp_path / "short.wav", 2.0)
    _tone(tmp_path / "tiny.wav", 0.3)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(64))
    path = tmp_path / "voice.list"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_every_problem_has_its_line_reason_and_severity(dataset: Path):
    problems = validate_dataset(dataset)
    by_line = {(p.line_no, p.severity) for p in problems}
    assert by_line == {
        (None, "warning"),  # 4 s of usable clips in all
        (2, "warning"),
        (3, "error"),
        (4, "error"),
        (5, "error"),
        (6, "error"),
        (7, "error"),
        (8, "error"),
        (9, "error"),
        (10, "error"),
    }
    reasons = {p.line_no: p.reason for p in problems}
    assert "6 s of usable clips — below the recommended 60 s" in reasons[None]
    assert "short.wav lasts 2.00 s; clips of 3–12 s train best" in reasons[2]
    assert "tiny.wav lasts 0.30 s; training uses clips of 0.6–54 s" in reasons[3]
    assert "not found" in reasons[4] and "corrupt.wav" in reasons[5]
    assert "unknown language code 'fr'" in reasons[6] and "transcript is empty" in reasons[7]
    assert "cannot be read" in reasons[8] and "already used on line 1" in reasons[9]
    assert "expected 4 fields" in reasons[10]
    assert problems[0].line_no is None  # the dataset-wide problem first, then by line
    assert [p.line_no for p in problems[1:]] == sorted(p.line_no for p in problems[1:])
    assert [p.line for p in problems if p.line_no in (2, 10)] == [LINES[1], None]


def test_only_errors_block_training(dataset: Path):
    problems = validate_dataset(dataset)
    assert {p.line_no for p in problems if p.blocking} == {3, 4, 5, 6, 7, 8, 9, 10}
    assert str(problems[1]) == f"line 2: warning: {problems[1].reason}"


def test_a_clean_dataset_of_a_minute_has_no_problems(tmp_path: Path):
    lines = [f"{_tone(tmp_path / f'c{i}.wav', 6.0).name}|spk|ZH|第{i}句话。" for i in range(11)]
    (tmp_path / "ok.list").write_text("\n".join(lines), encoding="utf-8")
    assert validate_dataset(tmp_path / "ok.list") == []


def test_the_caller_can_pass_its_own_text_reader_and_wav_dir(dataset: Path, tmp_path: Path):
    def refuse_questions(text: str, language: str) -> None:
        from core.errors import TextError

        if "?" in text:
            raise TextError("questions are not read here")

    problems = validate_dataset(dataset, wav_dir=tmp_path, read_text=refuse_questions)
    assert any(p.line_no == 1 and "questions are not read here" in p.reason for p in problems)
    assert not any(p.line_no == 8 for p in problems)  # Japanese passes a reader that accepts it


def test_a_missing_list_is_an_error_not_a_problem(tmp_path: Path):
    with pytest.raises(ListFileError, match="transcript list not found"):
        validate_dataset(tmp_path / "absent.list")


def test_dropping_the_lines_with_errors_leaves_only_warnings(dataset: Path):
    edits = ListEdits(read_list(dataset).entries)  # the unparseable line 10 is not an entry: saving drops it
    problems = validate_entries(dataset, edits.entries)
    for problem in [p for p in problems if p.blocking]:
        edits = edits.delete(edits.find(problem.line))
        problems = relocate(problems, edits.entries)
    edits.save(dataset)
    assert [p.line_no for p in problems] == [None, 2]  # the dataset-wide warning and short.wav's
    assert [(p.line_no, p.severity) for p in validate_dataset(dataset)] == [(None, "warning"), (2, "warning")]
    assert [e.path for e in read_list(dataset).entries] == ["good.wav", "short.wav"]


def test_problems_follow_their_clips_when_lines_move(tmp_path: Path):
    entries = [ListEntry(i + 1, f"c{i}.wav", "s", "EN", "x") for i in range(3)]
    late = DatasetProblem(3, "late", "error", "c2.wav|s|EN|x")
    problems = [late, DatasetProblem(None, "all", "warning")]
    assert relocate(problems, entries[2:]) == [DatasetProblem(1, "late", "error", late.line), problems[1]]
    assert relocate(problems, entries[:2]) == [problems[1]]


def test_entries_in_memory_are_numbered_as_they_will_be_written(dataset: Path):
    entries = read_list(dataset).entries
    problems = validate_entries(dataset, (entries[3], entries[0]))
    assert [(p.line_no, p.line) for p in problems if p.blocking] == [(1, LINES[3])]
