"""`python -m core pretrained download --asr NAME` against a local fake Hub; `check` lists ASR models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import pretrained
from core.cli import main as cli_main
from core.errors import PretrainedMissingError
from tests.test_pretrained import FakeHub, _closed_port


def _whisper_repo(name: str) -> dict[str, bytes]:
    return {f"{f.repo_id}/{f.path}": f"{name}:{f.path}:".encode() * 40 for f in pretrained.ASR_MODELS[name]}


def test_the_asr_table_follows_the_reference_sources():
    tiny = pretrained.ASR_MODELS["tiny"]
    assert {f.repo_id for f in tiny} == {"Systran/faster-whisper-tiny"}
    assert {f.path for f in tiny} == {"config.json", "model.bin", "tokenizer.json", "vocabulary.txt"}
    turbo = pretrained.ASR_MODELS["large-v3-turbo"]
    assert {f.repo_id for f in turbo} == {"mobiuslabsgmbh/faster-whisper-large-v3-turbo"}
    assert "preprocessor_config.json" in {f.path for f in turbo}
    assert pretrained.DEFAULT_ASR_MODEL in pretrained.ASR_MODELS


def test_download_asr_fetches_the_model_folder_and_check_lists_it(tmp_path: Path, capsys):
    files = _whisper_repo("tiny")
    with FakeHub(files) as hub:
        argv = ["pretrained", "download", "--asr", "tiny", "--dir", str(tmp_path), "--endpoint", hub.endpoint]
        assert cli_main(argv) == 0
        fetched = [path for method, path in hub.requests if method == "GET"]
    folder = tmp_path / pretrained.ASR_DIR / "tiny"
    for f in pretrained.ASR_MODELS["tiny"]:
        assert (folder / f.path).read_bytes() == files[f"{f.repo_id}/{f.path}"]
    assert len(fetched) == 4  # only the ASR model: none of the v2 files
    out = capsys.readouterr()
    assert f"{folder}: tiny is ready" in out.out and "[4/4] asr/tiny/vocabulary.txt" in out.err
    assert pretrained.asr_models(tmp_path) == {"tiny": "faster-whisper"}

    cli_main(["pretrained", "check", "--dir", str(tmp_path)])
    assert re.search(r"ok +faster-whisper +tiny\n", capsys.readouterr().out)

    with FakeHub(files) as hub:  # everything present: nothing fetched again
        pretrained.download_asr(tmp_path, "tiny", endpoint=hub.endpoint)
        assert not [path for method, path in hub.requests if method == "GET"]


def test_check_without_asr_models_says_what_to_run(tmp_path: Path, capsys):
    cli_main(["pretrained", "check", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "ASR models in" in out and "none (pocketsphinx needs none" in out
    assert f"python -m core pretrained download --asr {pretrained.DEFAULT_ASR_MODEL} --dir {tmp_path}" in out


def test_download_asr_names_the_file_the_hub_does_not_have(tmp_path: Path):
    files = _whisper_repo("base.en")
    del files["Systran/faster-whisper-base.en/vocabulary.txt"]
    with FakeHub(files) as hub:
        with pytest.raises(PretrainedMissingError, match="404") as info:
            pretrained.download_asr(tmp_path, "base.en", endpoint=hub.endpoint)
    message = str(info.value)
    assert "could not download Systran/faster-whisper-base.en/vocabulary.txt" in message
    assert f"{hub.endpoint}/Systran/faster-whisper-base.en/resolve/main/vocabulary.txt" in message
    assert str(tmp_path / "asr" / "base.en" / "vocabulary.txt") in message
    assert (tmp_path / "asr" / "base.en" / "model.bin").is_file()  # what came stays


def test_download_asr_offline_fails_at_once_with_the_command_to_rerun(tmp_path: Path, capsys):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    argv = ["pretrained", "download", "--asr", "small", "--dir", str(tmp_path), "--endpoint", endpoint]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "could not download Systran/faster-whisper-small/config.json: cannot reach 127.0.0.1" in err
    assert f"python -m core pretrained download --asr small --dir {tmp_path}" in err
    assert "4 file(s) missing" in err and "HTTPConnectionPool" not in err
    with pytest.raises(PretrainedMissingError, match="unknown ASR model 'huge'"):
        pretrained.download_asr(tmp_path, "huge")
