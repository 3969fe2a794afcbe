"""Workspace: confined paths and atomic writes."""

import os

import pytest

from core.errors import WorkspaceError
from core.workspace import Workspace, atomic_write_text, check_output_folder


def test_paths_outside_the_workspace_are_refused(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    assert ws.resolve("outputs/a.wav") == ws.root / "outputs" / "a.wav"
    for bad in ("../secret.txt", "/etc/passwd", "outputs/../../x"):
        with pytest.raises(WorkspaceError, match="inside the workspace"):
            ws.resolve(bad)


def test_symlink_escaping_the_workspace_is_refused(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    (ws.root / "link").symlink_to(tmp_path)
    with pytest.raises(WorkspaceError):
        ws.resolve("link/outside.txt")


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "userdict.json"
    atomic_write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(WorkspaceError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["userdict.json"]  # no temp file left behind


def test_workspace_on_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError, match="not a folder"):
        Workspace.open(tmp_path / "file")


def test_writing_into_a_missing_or_read_only_folder_is_a_clear_error(tmp_path):
    with pytest.raises(WorkspaceError, match="does not exist"):
        check_output_folder(tmp_path / "missing" / "out.wav")
    assert check_output_folder(tmp_path / "out.wav") == tmp_path / "out.wav"
    with pytest.raises(WorkspaceError, match="cannot write"):
        atomic_write_text("/proc/timbre-test.txt", "x")


def test_saved_files_are_readable_by_others(tmp_path):
    target = atomic_write_text(tmp_path / "a.txt", "x")
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_deleting_a_voice_removes_only_files_in_the_workspace_weights(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    workspace.weights_dir.mkdir()
    voice = workspace.weights_dir / "mine_e8_s100.pth"
    voice.write_bytes(b"weights")
    pretrained = tmp_path / "pretrained" / "s2G2333k.pth"
    pretrained.parent.mkdir()
    pretrained.write_bytes(b"base")
    escape = workspace.weights_dir / "link.pth"
    escape.symlink_to(pretrained)

    assert workspace.delete_weights(voice) == voice.resolve() and not voice.exists()
    for outside in (pretrained, escape, workspace.weights_dir / ".." / "userdict.json"):
        with pytest.raises(WorkspaceError, match="only voices in the workspace"):
            workspace.delete_weights(outside)
    assert pretrained.exists()
    with pytest.raises(WorkspaceError, match="already gone"):
        workspace.delete_weights(voice)
