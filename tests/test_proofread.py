"""The proofreading edit model (`core.data.proofread`) and staged uploads (`core.data.uploads`)."""

from pathlib import Path

import pytest

from core.data.listfile import ListEntry, ListFileError, read_list
from core.data.proofread import MAX_UNDO, ListEdits, add_clips, datasets_with_lists, list_path
from core.workspace import Workspace


def _entries(n: int = 3) -> tuple[ListEntry, ...]:
    return tuple(ListEntry(i + 1, f"/clips/c{i}.wav", "spk", "ZH", f"文本{i}") for i in range(n))


def test_an_edit_changes_one_clip_and_undo_restores_it():
    edits = ListEdits(_entries()).edit(1, text="新的文本", lang="EN")
    assert [e.text for e in edits.entries] == ["文本0", "新的文本", "文本2"]
    assert edits.entries[1].lang == "EN"
    undone, touched = edits.undo()
    assert undone.entries == _entries() and touched == 1 and not undone.can_undo


def test_an_edit_that_changes_nothing_leaves_nothing_to_undo():
    edits = ListEdits(_entries())
    assert edits.edit(0, text="文本0") is edits and not edits.can_undo


def test_line_breaks_and_bars_in_text_become_spaces():
    edits = ListEdits(_entries()).edit(0, text="一行\n两|行 ")
    assert edits.entries[0].text == "一行 两 行"


def test_an_unknown_language_code_is_refused():
    with pytest.raises(ListFileError, match="unknown language code 'fr'"):
        ListEdits(_entries()).edit(0, lang="fr")


def test_delete_then_undo_puts_the_clip_back_in_its_place():
    deleted = ListEdits(_entries()).edit(0, text="改").delete(1)
    assert [e.path for e in deleted.entries] == ["/clips/c0.wav", "/clips/c2.wav"]
    restored, touched = deleted.undo()
    assert [e.path for e in restored.entries] == ["/clips/c0.wav", "/clips/c1.wav", "/clips/c2.wav"]
    assert touched == 1 and restored.entries[0].text == "改"  # the earlier edit stays
    first, touched = restored.undo()
    assert first.entries == _entries() and touched == 0
    assert first.undo() == (first, None)


def test_a_clip_that_does_not_exist_is_named():
    with pytest.raises(IndexError, match="clip 4 does not exist; the list has 3"):
        ListEdits(_entries()).delete(3)


def test_undo_history_is_bounded():
    edits = ListEdits(_entries())
    for i in range(MAX_UNDO + 10):
        edits = edits.edit(0, text=f"t{i}")
    assert len(edits.history) == MAX_UNDO


def test_saved_edits_read_back_the_same(tmp_path: Path):
    edits = ListEdits(_entries()).edit(2, text="保存").delete(0)
    path = edits.save(tmp_path / "x.list")
    assert [(e.path, e.speaker, e.lang, e.text) for e in read_list(path).entries] == [
        (e.path, e.speaker, e.lang, e.text) for e in edits.entries
    ]


def test_add_clips_starts_a_list_and_keeps_transcripts_already_written(tmp_path: Path):
    workspace = Workspace.open(tmp_path / "ws")
    path = list_path(workspace, "voice")
    assert datasets_with_lists(workspace) == []
    add_clips(path, ["/a/one.wav", "/a/two.wav"], "voice", "ZH")
    ListEdits(read_list(path).entries).edit(0, text="第一句").save(path)
    add_clips(path, ["/a/one.wav", "/a/two.wav", "/a/three.wav"], "voice", "ZH")
    entries = read_list(path).entries
    assert [(e.path, e.text) for e in entries] == [
        ("/a/one.wav", "第一句"),
        ("/a/two.wav", ""),
        ("/a/three.wav", ""),
    ]
    assert datasets_with_lists(workspace) == ["voice"]
    with pytest.raises(ListFileError, match="unknown language code"):
        add_clips(path, [], "voice", "klingon")


def test_an_upload_is_staged_under_its_own_name(tmp_path: Path):
    from core.data.uploads import stage_upload

    workspace = Workspace.open(tmp_path / "ws")
    (tmp_path / "gradio").mkdir()
    upload = tmp_path / "gradio" / "我的录音 1.wav"
    upload.write_bytes(b"RIFF....")
    staged = stage_upload(workspace, upload)
    assert staged.name == "我的录音 1.wav" and staged.read_bytes() == b"RIFF...."
    assert workspace.uploads_dir in staged.parents and stage_upload(workspace, upload) == staged
