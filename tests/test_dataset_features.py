"""Training features (`python -m core dataset features`) against the reference's experiment folder.

Every set the dataprep manifest describes is rebuilt through the CLI and compared file by file with the
tolerances of tests/conformance/dataprep/README.md. The hidden set has other clips, texts and rates.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from core.cli import main as cli
from core.data.features import (
    BERT_DIR,
    HUBERT_DIR,
    NAME2SEMANTIC,
    NAME2TEXT,
    SEMANTIC_HEADER,
    WAV32K_DIR,
    FeatureModels,
    extract_features,
)
from core.data.listfile import ListEntry, read_list, validate_list, write_list
from core.features import clean_line

# README tolerances
BERT_MAX_ABS = 1e-4
HUBERT_MAX_ABS = 1e-4
HUBERT_REL_L2_OTHER_RESAMPLER = 2e-2
WAV_MIN_SNR_DB_OTHER_RESAMPLER = 45.0


def _sets(conformance_dir: Path) -> list[tuple[Path, dict]]:
    """(dataprep folder, manifest) of each set; an absent or empty manifest fails, never skips."""
    root = conformance_dir / "dataprep"
    path = root / "manifest.json"
    if not path.is_file():
        pytest.fail(f"{path} not found: the conformance set has no dataprep cases")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    sets = manifest if isinstance(manifest, list) else [manifest]
    if not sets or not all(s.get("outputs", {}).get("files") and s["inputs"].get("clips") for s in sets):
        pytest.fail(f"{path} lists no dataprep outputs or clips")
    return [(root, s) for s in sets]


@pytest.fixture(scope="module")
def pretrained_dir(conformance_dir: Path) -> Path:
    return conformance_dir / "models" / "pretrained"


@pytest.fixture(scope="module")
def models(pretrained_dir: Path) -> FeatureModels:
    return FeatureModels.from_pretrained(pretrained_dir)


def _run_cli(list_path: Path, wav_dir: Path | None, exp: Path, pretrained: Path, *extra: str) -> int:
    args = ["dataset", "features", str(list_path), "--exp", str(exp), "--pretrained", str(pretrained)]
    if wav_dir is not None:
        args += ["--wav-dir", str(wav_dir)]
    return cli([*args, *extra])


def _compare(got_dir: Path, want_dir: Path, manifest: dict, *, exact_decoder: bool) -> list[str]:
    """Every difference beyond the README's tolerances, in words."""
    failures = []
    files = manifest["outputs"]["files"]
    for sub in (BERT_DIR, HUBERT_DIR, WAV32K_DIR):
        want = sorted(p.name for p in (want_dir / sub).glob("*"))
        got = sorted(p.name for p in (got_dir / sub).glob("*")) if (got_dir / sub).is_dir() else []
        if got != want:
            failures.append(f"{sub}: files {got} != {want}")
    for relative in files:
        got_path, want_path = got_dir / relative, want_dir / relative
        if not got_path.is_file():
            failures.append(f"{relative}: missing")
            continue
        if relative in (NAME2TEXT, NAME2SEMANTIC):
            if got_path.read_bytes() != want_path.read_bytes():
                failures.append(f"{relative}: differs\n{got_path.read_text()}\n!=\n{want_path.read_text()}")
        elif relative.startswith(WAV32K_DIR):
            got, got_sr = sf.read(got_path, dtype="int16")
            want, want_sr = sf.read(want_path, dtype="int16")
            info = sf.info(got_path)
            if (got_sr, info.channels, info.subtype) != (32000, 1, "PCM_16") or got.shape != want.shape:
                failures.append(f"{relative}: {got_sr} Hz {info.channels} ch {info.subtype} {got.shape}")
                continue
            diff = got.astype(np.int64) - want.astype(np.int64)
            if exact_decoder and np.any(diff):
                failures.append(f"{relative}: not bit-exact (max {np.abs(diff).max()} LSB)")
            snr = 10 * np.log10(np.sum(want.astype(np.float64) ** 2) / max(np.sum(diff**2.0), 1e-12))
            if snr < WAV_MIN_SNR_DB_OTHER_RESAMPLER:
                failures.append(f"{relative}: SNR {snr:.1f} dB")
        else:
            got = torch.load(got_path, map_location="cpu", weights_only=True)
            want = torch.load(want_path, map_location="cpu", weights_only=True)
            if got.dtype != torch.float32 or tuple(got.shape) != tuple(files[relative]["shape"]):
                failures.append(f"{relative}: {got.dtype} {tuple(got.shape)} != {files[relative]['shape']}")
                continue
            err = float((got - want.detach()).abs().max())
            rel = float(torch.linalg.norm(got - want.detach()) / torch.linalg.norm(want.detach()))
            if relative.startswith(BERT_DIR) and err > BERT_MAX_ABS:
                failures.append(f"{relative}: max abs error {err:.3g}")
            if relative.startswith(HUBERT_DIR) and exact_decoder and err > HUBERT_MAX_ABS:
                failures.append(f"{relative}: max abs error {err:.3g}")
            if relative.startswith(HUBERT_DIR) and rel > HUBERT_REL_L2_OTHER_RESAMPLER:
                failures.append(f"{relative}: relative L2 {rel:.3g}")
    return failures


def test_cli_reproduces_the_reference_experiment_folder(conformance_dir, pretrained_dir, tmp_path):
    exact_decoder = shutil.which("ffmpeg") is not None
    failures = []
    for index, (root, manifest) in enumerate(_sets(conformance_dir)):
        exp = tmp_path / f"exp{index}"
        inputs = manifest["inputs"]
        code = _run_cli(
            root / inputs["list"], root / inputs["wav_dir"], exp, pretrained_dir, "--reference-compat"
        )
        # 1 = some line skipped (as the reference skips e.g. unknown language codes): the files decide.
        assert code in (0, 1), f"set {manifest['set']}: exit status {code}"
        want_dir = root / manifest["outputs"]["exp_dir"]
        failures += [f"{manifest['set']}: {f}" for f in _compare(exp, want_dir, manifest, exact_decoder=True)]
        assert exact_decoder, "ffmpeg is needed for the bit-exact comparison (tests/system_tools installs it)"
    assert not failures, "\n".join(failures)


def test_semantic_tokens_from_the_reference_hubert_files_are_exact(conformance_dir, pretrained_dir, tmp_path):
    """An experiment folder the reference made is completed, not redone: its 4-cnhubert/ gives the tokens."""
    for index, (root, manifest) in enumerate(_sets(conformance_dir)):
        want_dir = root / manifest["outputs"]["exp_dir"]
        exp = tmp_path / f"exp{index}"
        for sub in (HUBERT_DIR, WAV32K_DIR):
            shutil.copytree(want_dir / sub, exp / sub)
        inputs = manifest["inputs"]
        assert _run_cli(root / inputs["list"], root / inputs["wav_dir"], exp, pretrained_dir) == 0
        assert (exp / NAME2SEMANTIC).read_bytes() == (want_dir / NAME2SEMANTIC).read_bytes()
        for path in (exp / HUBERT_DIR).iterdir():  # kept as the reference wrote them
            assert path.read_bytes() == (want_dir / HUBERT_DIR / path.name).read_bytes()


def _public(conformance_dir: Path) -> tuple[Path, Path, list[str]]:
    root, manifest = _sets(conformance_dir)[0]
    return (
        root / manifest["inputs"]["list"],
        root / manifest["inputs"]["wav_dir"],
        [clip["name"] for clip in manifest["inputs"]["clips"]],
    )


def test_rerun_skips_done_clips_and_redoes_only_missing_ones(conformance_dir, models, tmp_path):
    list_path, wav_dir, names = _public(conformance_dir)
    exp = tmp_path / "exp"
    first = extract_features(list_path, exp, models, wav_dir=wav_dir, reference_compat=True)
    assert first.made == names and not first.problems
    snapshot = {p: p.stat().st_mtime_ns for p in exp.rglob("*") if p.is_file()}
    second = extract_features(list_path, exp, models, wav_dir=wav_dir, reference_compat=True)
    assert second.made == [] and second.kept == names
    for path in snapshot:
        if path.suffix in (".pt", ".wav"):
            assert path.stat().st_mtime_ns == snapshot[path], f"{path.name} was rewritten"
    text, semantic = (exp / NAME2TEXT).read_bytes(), (exp / NAME2SEMANTIC).read_bytes()
    (exp / HUBERT_DIR / f"{names[1]}.pt").unlink()
    third = extract_features(list_path, exp, models, wav_dir=wav_dir, reference_compat=True)
    assert third.made == [names[1]]
    assert (exp / NAME2TEXT).read_bytes() == text and (exp / NAME2SEMANTIC).read_bytes() == semantic


def _write_clip(path: Path, seconds: float, sr: int = 16000) -> None:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr, subtype="PCM_16")


def test_bad_lines_are_reported_by_line_number_and_the_rest_is_processed(
    conformance_dir, pretrained_dir, tmp_path, capsys
):
    list_path, wav_dir, names = _public(conformance_dir)
    good = list_path.read_bytes().strip(b"\n").split(b"\n")
    wavs = tmp_path / "wavs"
    shutil.copytree(wav_dir, wavs)
    (wavs / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all" * 10)
    _write_clip(wavs / "short.wav", 0.2)
    for i in range(4, 12):
        _write_clip(wavs / f"tone{i}.wav", 1.5)
    lines = [
        good[0],  # 1: fine
        b"x/missing.wav|spk|en|There is no such file.",  # 2
        b"x/corrupt.wav|spk|en|This file is broken.",  # 3
        "x/tone.wav|spk|zh|今天很好。".encode("gbk"),  # 4: not UTF-8
        b"x/tone5.wav|spk|en",  # 5: three fields
        b"x/tone6.wav|spk|fr|Bonjour tout le monde.",  # 6: unknown language
        b"x/tone7.wav|spk|en|   ",  # 7: empty text
        b"x/short.wav|spk|en|Far too short.",  # 8
        b"",  # 9: blank, ignored
        good[1],  # 10: fine
        b"x/tone11.wav|spk|en|!!! ...",  # 11: nothing readable
        good[1],  # 12: same clip name again
    ]
    bad_list = tmp_path / "bad.list"
    bad_list.write_bytes(b"\n".join(lines) + b"\n")
    exp = tmp_path / "exp"
    assert _run_cli(bad_list, wavs, exp, pretrained_dir, "--reference-compat") == 1
    err = capsys.readouterr().err
    expected = {
        2: "not found",
        3: "not a readable audio file",
        4: "not UTF-8",
        5: "expected 4 fields",
        6: "unknown language code 'fr'",
        7: "transcript is empty",
        8: "lasts 0.20 s",
        11: "nothing to read",
        12: "already used on line 10",
    }
    for line_no, words in expected.items():
        assert any(f"line {line_no}:" in row and words in row for row in err.splitlines()), (line_no, err)
    assert "line 1:" not in err and "line 10:" not in err
    assert [row.split("\t")[0] for row in (exp / NAME2TEXT).read_text().splitlines()] == names[:2]
    assert (exp / NAME2SEMANTIC).read_text().splitlines()[0] == SEMANTIC_HEADER
    assert len((exp / NAME2SEMANTIC).read_text().splitlines()) == 3
    assert sorted(p.name for p in (exp / WAV32K_DIR).iterdir()) == sorted(names[:2])


def test_a_list_with_no_usable_clip_fails_with_the_reasons(pretrained_dir, tmp_path, capsys):
    bad_list = tmp_path / "bad.list"
    bad_list.write_text("nowhere.wav|spk|en|Hello there.\n", encoding="utf-8")
    assert _run_cli(bad_list, tmp_path, tmp_path / "exp", pretrained_dir) == 2
    assert "no clip could be prepared" in capsys.readouterr().err
    assert _run_cli(tmp_path / "absent.list", tmp_path, tmp_path / "exp", pretrained_dir) == 2
    assert "transcript list not found" in capsys.readouterr().err


def test_check_lists_problems_with_line_numbers(conformance_dir, tmp_path, capsys):
    list_path, wav_dir, _ = _public(conformance_dir)
    assert cli(["dataset", "check", str(list_path), "--wav-dir", str(wav_dir)]) == 0
    bad = tmp_path / "bad.list"
    bad.write_text(list_path.read_text(encoding="utf-8") + "a.wav|s|xx|\n", encoding="utf-8")
    assert cli(["dataset", "check", str(bad), "--wav-dir", str(wav_dir)]) == 1
    out = capsys.readouterr().out
    assert "line 5: unknown language code 'xx'" in out and "line 5: the transcript is empty" in out
    clean = tmp_path / "clean.list"
    assert cli(["dataset", "check", str(bad), "--wav-dir", str(wav_dir), "--write-clean", str(clean)]) == 1
    assert clean.read_text(encoding="utf-8") == list_path.read_text(encoding="utf-8")


def test_list_round_trips_and_accepts_bom_and_crlf(tmp_path):
    path = tmp_path / "a.list"
    path.write_bytes("\ufeffa/b.wav|spk|zh|你好。\r\nc.wav|spk|EN|Hi there.\r\n".encode())
    listfile = read_list(path)
    assert not listfile.problems
    assert [(e.line_no, e.name, e.language, e.text) for e in listfile.entries] == [
        (1, "b.wav", "zh", "你好。"),
        (2, "c.wav", "en", "Hi there."),
    ]
    write_list(tmp_path / "b.list", listfile.entries)
    written = (tmp_path / "b.list").read_text(encoding="utf-8")
    assert written == "a/b.wav|spk|zh|你好。\nc.wav|spk|EN|Hi there.\n"
    with pytest.raises(Exception, match="'\\|'"):
        write_list(tmp_path / "c.list", [ListEntry(1, "a.wav", "s", "en", "a|b")])


def test_validation_reads_the_text_with_the_frontend(tmp_path):
    _write_clip(tmp_path / "a.wav", 1.0)
    _write_clip(tmp_path / "b.wav", 1.0)
    path = tmp_path / "a.list"
    path.write_text("a.wav|s|ja|こんにちは\nb.wav|s|en|Fine.\n", encoding="utf-8")
    good, problems = validate_list(read_list(path), tmp_path, read_text=clean_line)
    assert [p.line_no for p in problems] == [1] and "cannot be read for training yet" in str(problems[0])
    assert [e.line_no for e in good] == [2]


def test_an_edited_transcript_redoes_its_text_and_bert_only(conformance_dir, models, tmp_path):
    list_path, wav_dir, names = _public(conformance_dir)
    lines = list_path.read_text(encoding="utf-8").strip("\n").split("\n")
    edited = tmp_path / "edited.list"
    edited.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exp = tmp_path / "exp"
    extract_features(edited, exp, models, wav_dir=wav_dir, reference_compat=True)
    zh = names[1]
    hubert_mtime = (exp / HUBERT_DIR / f"{zh}.pt").stat().st_mtime_ns
    path, speaker, _, _ = lines[1].split("|")
    lines[1] = f"{path}|{speaker}|zh|你好世界。"
    edited.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = extract_features(edited, exp, models, wav_dir=wav_dir, reference_compat=True)
    assert report.made == [zh]
    row = (exp / NAME2TEXT).read_text(encoding="utf-8").splitlines()[1].split("\t")
    assert row[0] == zh and row[3] == "你好世界."
    bert = torch.load(exp / BERT_DIR / f"{zh}.pt", weights_only=True)
    assert bert.shape == (1024, len(row[1].split()))
    assert (exp / HUBERT_DIR / f"{zh}.pt").stat().st_mtime_ns == hubert_mtime
    lines[1] = f"{path}|{speaker}|en|Hello world."
    edited.write_text("\n".join(lines) + "\n", encoding="utf-8")
    extract_features(edited, exp, models, wav_dir=wav_dir, reference_compat=True)
    assert not (exp / BERT_DIR / f"{zh}.pt").exists()
