"""Importing recordings into a dataset: formats, rates, channels, zips, folders, bad files, verdicts."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.cli import main as cli
from core.data.importer import IMPORT_SR, dataset_dir, import_recordings
from core.errors import AudioError, WorkspaceError
from core.workspace import Workspace
from tests.test_dataset_quality import _speechlike


@pytest.fixture()
def workspace(tmp_path: Path) -> Workspace:
    return Workspace.open(tmp_path / "ws")


def _write(path: Path, seconds: float, sr: int, channels: int = 1, subtype: str = "PCM_16", seed: int = 0):
    x = _speechlike(seconds, 40.0, seed) if sr == 16000 else None
    if x is None:
        t = np.arange(int(seconds * sr)) / sr
        x = (0.3 * np.sin(2 * np.pi * 300 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float32)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    sf.write(path, data, sr, subtype=subtype)


def test_every_format_rate_and_layout_becomes_mono_32k_float(workspace, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write(src / "a_16k.wav", 10, 16000)
    _write(src / "b_8k_u8.wav", 5, 8000, subtype="PCM_U8")
    _write(src / "c_96k_24bit_stereo.wav", 5, 96000, channels=2, subtype="PCM_24")
    _write(src / "d_44k_float.wav", 5, 44100, subtype="FLOAT")
    _write(src / "e.flac", 5, 48000, channels=2)
    _write(src / "f.ogg", 5, 48000, subtype="VORBIS")
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src / "a_16k.wav"), str(src / "g.mp3")], check=True)
    report = import_recordings(workspace, "voice one", [src])
    assert [f.error for f in report.files] == [None] * 7
    for item in report.files:
        info = sf.info(item.path)
        assert (info.samplerate, info.channels, info.subtype) == (IMPORT_SR, 1, "FLOAT")
        assert item.path.parent == workspace.root / "datasets" / "voice one" / "raw"
        assert item.quality.seconds == pytest.approx(info.duration, abs=0.05)
    assert report.files[0].quality.seconds == pytest.approx(10.0, abs=0.01)
    assert "below the recommended 60 s" in report.verdict


def test_zips_and_bad_files_are_handled_and_earlier_imports_kept(workspace, tmp_path):
    _write(tmp_path / "a.wav", 5, 16000)
    with zipfile.ZipFile(tmp_path / "set.zip", "w") as archive:
        archive.write(tmp_path / "a.wav", "../../evil/a.wav")  # a hostile member name stays inside
        archive.writestr("notes.txt", "not audio")
    (tmp_path / "broken.mp3").write_bytes(b"ID3 but nothing else")
    sf.write(tmp_path / "silent.wav", np.zeros(16000 * 3, dtype=np.int16), 16000)
    first = import_recordings(workspace, "set", [tmp_path / "a.wav"])
    report = import_recordings(
        workspace, "set", [tmp_path / "set.zip", tmp_path / "broken.mp3", tmp_path / "silent.wav"]
    )
    by_source = {f.source: f for f in report.files}
    assert set(by_source) == {"set.zip:../../evil/a.wav", "broken.mp3", "silent.wav"}
    assert by_source["set.zip:../../evil/a.wav"].path.name == "a_2.wav"  # the first a.wav is kept
    assert first.files[0].path.exists()
    assert "not a readable audio file" in by_source["broken.mp3"].error
    assert "no speech" in " ".join(by_source["silent.wav"].quality.problems)
    assert not (workspace.root / "evil").exists()


def test_bad_names_and_missing_sources_are_refused(workspace, tmp_path):
    for name in ("../out", "", ".hidden", "a/b"):
        with pytest.raises(WorkspaceError, match="not allowed"):
            dataset_dir(workspace, name)
    with pytest.raises(AudioError, match="no such file"):
        import_recordings(workspace, "x", [tmp_path / "absent.wav"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioError, match="no audio files found"):
        import_recordings(workspace, "x", [tmp_path / "empty"])


def test_import_command_prints_the_measures_and_the_verdict(workspace, tmp_path, capsys):
    _write(tmp_path / "a.wav", 10, 16000)
    (tmp_path / "b.wav").write_bytes(b"junk")
    code = cli(
        [
            "dataset",
            "import",
            "mine",
            str(tmp_path / "a.wav"),
            str(tmp_path / "b.wav"),
            "--workspace",
            str(workspace.root),
        ]
    )
    assert code == 1
    captured = capsys.readouterr()
    assert "a.wav" in captured.out and "1 recording(s) imported" in captured.out
    assert "skipped: b.wav" in captured.err
