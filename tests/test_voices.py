"""Saved voices as one file: export, import, and what an import refuses."""

import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import TextError
from core.voices import (
    VoiceError,
    VoicePreset,
    VoiceStore,
    check_reference_clip,
    export_voice,
    import_voice,
)
from core.workspace import Workspace

SR = 16000


def _clip(path: Path, seconds: float = 4.0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32), SR)
    return path


@pytest.fixture()
def studio(tmp_path: Path):
    """A workspace with a clip and weights, and a pretrained folder with the other weights."""
    workspace = Workspace.open(tmp_path / "ws")
    pretrained = tmp_path / "pretrained"
    (pretrained / "base").mkdir(parents=True)
    (pretrained / "base" / "s1.ckpt").write_bytes(b"gpt")
    workspace.weights_dir.mkdir(parents=True)
    (workspace.weights_dir / "mine.pth").write_bytes(b"sovits")
    clip = workspace.import_upload(_clip(tmp_path / "anna.wav"))
    voice = VoicePreset(
        "anna",
        str(clip),
        "这是一段参考音频。",
        "zh",
        str(pretrained / "base" / "s1.ckpt"),
        str(workspace.weights_dir / "mine.pth"),
        "I recorded this voice myself",
    )
    return workspace, (workspace.root, pretrained), voice


def _archive(entries: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_an_exported_voice_imports_into_another_studio_unchanged(studio, tmp_path):
    workspace, roots, voice = studio
    data = export_voice(voice, roots)
    record = json.loads(_entries(data)["voice.json"])
    assert record["gpt_path"] == "base/s1.ckpt" and record["sovits_path"] == "weights/mine.pth"

    other = Workspace.open(tmp_path / "other")
    other.weights_dir.mkdir(parents=True)
    (other.weights_dir / "mine.pth").write_bytes(b"sovits")
    imported = import_voice(data, other, (other.root, roots[1]))
    assert imported.ref_audio_path.startswith(str(other.uploads_dir))
    assert Path(imported.ref_audio_path).read_bytes() == Path(voice.ref_audio_path).read_bytes()
    assert imported.sovits_path == str(other.weights_dir / "mine.pth")
    assert (imported.name, imported.prompt_text, imported.prompt_lang, imported.consent) == (
        voice.name,
        voice.prompt_text,
        voice.prompt_lang,
        voice.consent,
    )
    assert imported.created_at == voice.created_at
    VoiceStore(other).save(imported)
    assert [v.name for v in VoiceStore(other).all()] == ["anna"]


def test_an_import_can_rename_the_voice(studio):
    workspace, roots, voice = studio
    assert import_voice(export_voice(voice, roots), workspace, roots, name="anna_2").name == "anna_2"


@pytest.mark.parametrize(
    "member",
    ["../voice.json", "/etc/clip.wav", "sub/clip.wav", "clip.wav/../../x", "..\\clip.wav", "notes.txt"],
)
def test_an_import_refuses_path_tricks_inside_the_archive(studio, member):
    workspace, roots, voice = studio
    entries = _entries(export_voice(voice, roots))
    entries[member] = b"x"
    with pytest.raises(VoiceError, match="expected exactly 'voice.json' and one 'clip.<ext>'"):
        import_voice(_archive(entries), workspace, roots)
    assert not (workspace.root.parent / "x").exists()


def test_an_import_refuses_bad_json(studio):
    workspace, roots, voice = studio
    entries = _entries(export_voice(voice, roots))
    with pytest.raises(VoiceError, match="not valid JSON"):
        import_voice(_archive({**entries, "voice.json": "{not json"}), workspace, roots)
    record = json.loads(entries["voice.json"])
    with pytest.raises(VoiceError, match="expected the fields"):
        import_voice(_archive({**entries, "voice.json": json.dumps({**record, "x": 1})}), workspace, roots)
    with pytest.raises(VoiceError, match="wrong type"):
        import_voice(_archive({**entries, "voice.json": json.dumps({**record, "name": 3})}), workspace, roots)
    with pytest.raises(VoiceError, match="voice name '../evil' is not allowed"):
        bad_name = json.dumps({**record, "name": "../evil"})
        import_voice(_archive({**entries, "voice.json": bad_name}), workspace, roots)


def test_a_voice_whose_transcript_no_clip_could_say_is_not_saved(studio):
    workspace, roots, voice = studio
    store = VoiceStore(workspace)
    long = replace(voice, prompt_text="参考" * 50_000)
    with pytest.raises(TextError, match="transcript has 100000 characters, over 300"):
        store.save(long)
    entries = _entries(export_voice(long, roots))  # nor imported: every voice is saved through the store
    imported = import_voice(_archive(entries), workspace, roots)
    with pytest.raises(TextError, match="over 300"):
        store.save(imported)
    assert store.all() == []


def test_an_import_refuses_weights_outside_the_studio(studio):
    workspace, roots, voice = studio
    entries = _entries(export_voice(voice, roots))
    record = json.loads(entries["voice.json"])
    for path, message in (
        ("../../etc/passwd", "refused"),
        ("/etc/passwd", "relative"),
        ("nope.pth", "no such"),
    ):
        with pytest.raises(VoiceError, match=message):
            archive = _archive({**entries, "voice.json": json.dumps({**record, "sovits_path": path})})
            import_voice(archive, workspace, roots)


def test_an_import_refuses_a_clip_that_is_not_audio_or_too_long(studio, tmp_path):
    workspace, roots, voice = studio
    entries = _entries(export_voice(voice, roots))
    with pytest.raises(VoiceError, match="not audio"):
        import_voice(_archive({**entries, "clip.wav": b"RIFF this is not audio"}), workspace, roots)
    long_clip = _clip(tmp_path / "long.wav", seconds=12.0).read_bytes()
    with pytest.raises(VoiceError, match="12.0 s long"):
        import_voice(_archive({**entries, "clip.wav": long_clip}), workspace, roots)


def test_an_import_refuses_what_is_not_a_zip(studio):
    workspace, roots, _ = studio
    with pytest.raises(VoiceError, match="not a zip"):
        import_voice(b"hello", workspace, roots)


def test_reference_clips_are_checked_for_audio_and_length(tmp_path):
    assert check_reference_clip(_clip(tmp_path / "ok.wav")) == pytest.approx(4.0)
    with pytest.raises(VoiceError, match="1.0 s long"):
        check_reference_clip(_clip(tmp_path / "short.wav", seconds=1.0))
