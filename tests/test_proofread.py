"""The proofreading edit model (`core.data.proofread`): edit, delete, merge, split, replace, undo/redo,
atomic saves, sorting; and staged uploads (`core.data.uploads`)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.data.listfile import ListEntry, ListFileError, read_list
from core.data.proofread import (
    MAX_UNDO,
    ListEdits,
    ProofreadError,
    add_clips,
    datasets_with_lists,
    drop_earlier_slices,
    list_path,
    review_scores,
    view_order,
)
from core.errors import TimbreError, WorkspaceError
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
    path = tmp_path / "x.list"
    assert edits.save(path).entries == edits.entries
    assert [(e.path, e.speaker, e.lang, e.text) for e in read_list(path).entries] == [
        (e.path, e.speaker, e.lang, e.text) for e in edits.entries
    ]


def test_a_save_never_overwrites_what_another_page_saved_since(tmp_path: Path):
    path = tmp_path / "x.list"
    ListEdits(_entries()).save(path)
    first, _ = ListEdits.read(path)  # two browser tabs open the same list
    second, problems = ListEdits.read(path)
    assert problems == []
    first = first.edit(0, text="第一页改的").save(path)
    with pytest.raises(ProofreadError, match="changed by something else"):
        second.edit(1, text="第二页改的").save(path)
    assert [e.text for e in read_list(path).entries] == ["第一页改的", "文本1", "文本2"]  # nothing lost
    first = first.delete(0).save(path)  # the page that wrote last goes on saving (lines renumbered on disk)
    first = first.undo()[0].edit(2, text="又改了").save(path)
    again, _ = ListEdits.read(path)  # the other page, reloaded, sees both changes and may save
    again.edit(1, text="第二页改的").save(path)
    assert [e.text for e in read_list(path).entries] == ["第一页改的", "第二页改的", "又改了"]


def test_slicing_again_replaces_the_earlier_clips_that_have_no_transcript_yet(tmp_path: Path):
    path, clips = tmp_path / "voice.list", tmp_path / "clips"
    earlier = [clips / "a.wav_0000000000_0000032000.wav", clips / "a.wav_0000040000_0000090000.wav"]
    other = [clips / "b.wav_0000000000_0000050000.wav", clips / "merged~1.wav"]
    add_clips(path, [*earlier, *other], "voice", "ZH")
    ListEdits(read_list(path).entries).edit(1, text="已经写好的").save(path)
    again = [clips / "a.wav_0000000000_0000090000.wav"]  # a.wav sliced again with other settings
    assert drop_earlier_slices(path, again) == 1  # the one with a transcript stays, and is counted
    add_clips(path, again, "voice", "EN")
    lines = [(Path(e.path).name, e.lang, e.text) for e in read_list(path).entries]
    assert lines == [
        ("a.wav_0000040000_0000090000.wav", "ZH", "已经写好的"),
        ("b.wav_0000000000_0000050000.wav", "ZH", ""),  # other recordings and other clips are untouched
        ("merged~1.wav", "ZH", ""),
        ("a.wav_0000000000_0000090000.wav", "EN", ""),
    ]
    assert drop_earlier_slices(tmp_path / "none.list", again) == 0


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


# --- merge, split, replace, redo, sorting: on real clip files --------------------------------------------

SR = 32000


def _clip(path: Path, seconds: float, seed: int, sr: int = SR) -> Path:
    """A 16-bit clip of noise at `sr`: distinct samples per seed, so joins and cuts can be checked exactly."""
    samples = np.random.default_rng(seed).integers(-8000, 8000, int(seconds * sr), dtype=np.int16)
    sf.write(path, samples, sr, subtype="PCM_16")
    return path


def _pcm(path: Path) -> np.ndarray:
    return sf.read(path, dtype="int16")[0]


@pytest.fixture
def clips(tmp_path: Path) -> tuple[Path, ListEdits]:
    """Three clips in `<tmp>/clips`, listed with relative paths in `<tmp>/voice.list` (1.0, 2.0, 0.5 s)."""
    (tmp_path / "clips").mkdir()
    for i, seconds in enumerate((1.0, 2.0, 0.5)):
        _clip(tmp_path / "clips" / f"c{i}.wav", seconds, seed=i)
    entries = (
        ListEntry(1, "clips/c0.wav", "spk", "ZH", "你好，"),
        ListEntry(2, "clips/c1.wav", "spk", "ZH", "世界。"),
        ListEntry(3, "clips/c2.wav", "spk", "EN", "hello"),
    )
    edits = ListEdits(entries)
    edits.save(tmp_path / "voice.list")
    return tmp_path, edits


def test_merge_joins_the_audio_end_to_end_in_a_new_file_and_keeps_the_old_ones(clips):
    root, edits = clips
    merged = edits.merge_next(0, root)
    assert [e.path for e in merged.entries] == ["clips/c0~1.wav", "clips/c2.wav"]
    assert merged.entries[0].text == "你好，世界。"  # Chinese: joined with nothing between
    assert (merged.entries[0].speaker, merged.entries[0].lang) == ("spk", "ZH")
    joined = np.concatenate([_pcm(root / "clips/c0.wav"), _pcm(root / "clips/c1.wav")])
    np.testing.assert_array_equal(_pcm(root / "clips/c0~1.wav"), joined)
    assert (root / "clips/c0.wav").is_file() and (root / "clips/c1.wav").is_file()


def test_merged_english_is_joined_with_a_space_and_takes_the_first_lines_language(clips):
    root, edits = clips
    edits = edits.edit(1, text="world", lang="EN").edit(0, text="Hi ", lang="EN")
    merged = edits.merge_next(0, root)
    assert merged.entries[0].text == "Hi world" and merged.entries[0].lang == "EN"
    mixed = edits.edit(1, lang="ZH").merge_next(0, root)  # languages differ: the first line's is kept
    assert mixed.entries[0].lang == "EN"


def test_merging_clips_of_different_rates_keeps_the_first_rate_and_both_durations(tmp_path: Path):
    _clip(tmp_path / "a.wav", 1.0, seed=1, sr=32000)
    _clip(tmp_path / "b.wav", 0.5, seed=2, sr=16000)
    entries = (ListEntry(1, "a.wav", "s", "EN", "a"), ListEntry(2, "b.wav", "s", "EN", "b"))
    merged = ListEdits(entries).merge_next(0, tmp_path)
    samples, sr = sf.read(tmp_path / Path(merged.entries[0].path), dtype="int16")
    assert sr == 32000 and len(samples) == 48000


def test_the_last_clip_has_nothing_to_merge_with(clips):
    root, edits = clips
    with pytest.raises(ProofreadError, match="clip 3 is the last one"):
        edits.merge_next(2, root)


def test_repeated_merges_make_short_unique_names(clips):
    root, edits = clips
    twice = edits.merge_next(0, root).merge_next(0, root)
    assert [e.path for e in twice.entries] == ["clips/c0~2.wav"]
    assert twice.entries[0].text == "你好，世界。hello"
    assert len(_pcm(root / "clips/c0~2.wav")) == int(3.5 * SR)


def test_split_cuts_the_audio_at_the_time_into_two_new_files(clips):
    root, edits = clips
    split = edits.split(1, 0.75, root, at_char=1)
    assert [e.path for e in split.entries] == [
        "clips/c0.wav",
        "clips/c1~1.wav",
        "clips/c1~2.wav",
        "clips/c2.wav",
    ]
    assert [e.text for e in split.entries[1:3]] == ["世", "界。"]
    whole = _pcm(root / "clips/c1.wav")
    np.testing.assert_array_equal(_pcm(root / "clips/c1~1.wav"), whole[:24000])
    np.testing.assert_array_equal(_pcm(root / "clips/c1~2.wav"), whole[24000:])


def test_split_without_a_character_position_leaves_the_text_with_the_first_part(clips):
    root, edits = clips
    split = edits.split(0, 0.5, root)
    assert [e.text for e in split.entries[:2]] == ["你好，", ""]


@pytest.mark.parametrize("seconds", [0.0, 0.05, 1.95, 2.0, 7.0, float("nan")])
def test_a_split_time_outside_the_clip_is_refused_with_the_range(clips, seconds):
    root, edits = clips
    with pytest.raises(ProofreadError, match=r"lasts 2\.00 s; choose a time between 0\.1 and 1\.90 s"):
        edits.split(1, seconds, root)


def test_replace_all_counts_and_is_one_undo_step(clips):
    _, edits = clips
    edits = edits.edit(2, text="hello hello")
    replaced, count = edits.replace_all("hello", "hi|there")
    assert count == 2 and [e.text for e in replaced.entries] == ["你好，", "世界。", "hi there hi there"]
    assert replaced.undo()[0].entries == edits.entries
    assert edits.replace_all("absent", "x") == (edits, 0)
    with pytest.raises(ProofreadError, match="give the text to find"):
        edits.replace_all("", "x")


def test_every_change_undoes_and_redoes_in_a_chain(clips):
    root, start = clips
    steps = [
        lambda e: e.edit(0, text="改"),
        lambda e: e.edit(0, lang="EN"),
        lambda e: e.split(1, 1.0, root, at_char=1),
        lambda e: e.merge_next(1, root),
        lambda e: e.replace_all("界", "介")[0],
        lambda e: e.delete(2),
    ]
    states = [start]
    for step in steps:
        states.append(step(states[-1]))
    assert len({s.entries for s in states}) == len(states)  # every step changed something
    edits = states[-1]
    for expected in reversed(states[:-1]):
        edits, _ = edits.undo()
        assert edits.entries == expected.entries
    assert not edits.can_undo and edits.undo() == (edits, None)
    for expected in states[1:]:
        edits, _ = edits.redo()
        assert edits.entries == expected.entries
    assert not edits.can_redo and edits.redo() == (edits, None)
    for entry in edits.entries:  # every clip a line names is still on disk after undo and redo
        assert (root / entry.path).is_file()


def test_undo_and_redo_name_the_clip_they_touched_and_a_new_change_forgets_the_redo(clips):
    root, edits = clips
    edits = edits.edit(2, text="bye").delete(0)
    undone, touched = edits.undo()
    assert touched == 0 and undone.can_redo
    redone, touched = undone.redo()
    assert touched == 0 and redone.entries == edits.entries
    branched = undone.edit(1, text="另一个")
    assert not branched.can_redo and branched.redo() == (branched, None)


def test_find_names_the_index_of_a_line(clips):
    _, edits = clips
    line = "clips/c1.wav|spk|ZH|世界。"
    assert edits.find(line) == 1 and edits.delete(1).find(line) is None
    assert edits.edit(1, text="改了").find(line) is None  # a line edited since is not found as it was


def test_save_replaces_the_list_atomically(clips, monkeypatch):
    root, edits = clips
    path = root / "voice.list"
    before_bytes, before_inode = path.read_bytes(), path.stat().st_ino
    edits.edit(0, text="新").save(path)
    assert path.stat().st_ino != before_inode  # a new file renamed over the old one, not rewritten in place
    assert read_list(path).entries[0].text == "新"
    saved = path.read_bytes()

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)  # the disk fills up as the next save finishes
    with pytest.raises(WorkspaceError, match="No space left"):
        edits.delete(0).save(path)
    assert path.read_bytes() == saved != before_bytes
    assert sorted(p.name for p in root.iterdir()) == ["clips", "voice.list"]  # no temp file left behind


def test_sorting_by_confidence_puts_the_least_sure_first_and_unscored_clips_last(clips):
    root, edits = clips
    list_file = root / "voice.list"
    assert review_scores(list_file, edits.entries) == {}
    heard = {  # as core.data.asr writes it: what the engine heard, by path column
        "clips/c0.wav": {"confidence": 0.9, "language": "zh", "text": "你好，"},
        "clips/c1.wav": {"confidence": None, "language": "zh", "text": "世界。"},
        "clips/c2.wav": {"confidence": 0.4, "language": "en", "text": "hello"},
    }
    (root / "voice.list.confidence.json").write_text(
        json.dumps({"version": 1, "clips": heard}), encoding="utf-8"
    )
    scores = review_scores(list_file, edits.entries)
    assert scores == {"clips/c0.wav": 0.9, "clips/c2.wav": 0.4}
    assert view_order(edits.entries, "confidence", root, scores) == [2, 0, 1]
    assert view_order(edits.entries, "file", root, scores) == [0, 1, 2]
    corrected = edits.edit(2, text="hello there")  # a person changed it: it is no longer doubtful
    scores = review_scores(list_file, corrected.entries)
    assert scores["clips/c2.wav"] == 1.0
    assert view_order(corrected.entries, "confidence", root, scores) == [0, 2, 1]


def test_sorting_by_duration_either_way_puts_unreadable_clips_last(clips):
    root, edits = clips
    edits = ListEdits((*edits.entries, ListEntry(4, "clips/missing.wav", "spk", "ZH", "")))
    assert view_order(edits.entries, "shortest", root, {}) == [2, 0, 1, 3]
    assert view_order(edits.entries, "longest", root, {}) == [1, 0, 2, 3]
    with pytest.raises(ProofreadError, match="cannot sort by 'size'"):
        view_order(edits.entries, "size", root, {})


def test_a_bad_confidence_file_is_named(tmp_path: Path):
    (tmp_path / "voice.list.confidence.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TimbreError, match="not a confidence file Timbre wrote"):
        review_scores(tmp_path / "voice.list", ())
