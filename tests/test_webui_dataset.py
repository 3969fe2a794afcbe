"""The Dataset and Proofread tabs' logic without a browser: what they submit, show and refuse."""

from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from core.data.proofread import ListEdits, add_clips, list_path
from core.jobs import JobContext
from core.jobs import dataset_import as import_kind
from core.jobs.dataset_import import DatasetImportJob
from core.jobs.dataset_slice import DatasetSliceJob
from core.settings import Settings
from webui import StudioContext
from webui.dataset import clip_rows, submit_import, submit_slice, verdict_rows
from webui.i18n import table
from webui.proofread import load, view


def _ctx(tmp_path: Path, conformance_dir: Path) -> StudioContext:
    settings = Settings(workspace=tmp_path / "ws", pretrained_dir=conformance_dir / "models" / "pretrained")
    return StudioContext.open(settings)


def _tone(path: Path, seconds: float = 1.5, sr: int = 32000) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr, subtype="PCM_16")
    return path


def test_import_needs_a_name_and_files_and_says_so_in_the_users_language(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    with pytest.raises(gr.Error) as error:
        submit_import(ctx, " ", ["x.wav"], "zh")
    assert error.value.message == table("zh")["data.need_name"]
    with pytest.raises(gr.Error) as error:
        submit_import(ctx, "voice", [], "en")
    assert error.value.message == table("en")["data.need_files"]
    with pytest.raises(gr.Error, match="dataset name '../x' is not allowed"):
        submit_import(ctx, "../x", [str(_tone(tmp_path / "a.wav"))], "en")
    assert not ctx.workspace.uploads_dir.exists()  # nothing copied for a refused import


def test_an_import_is_queued_with_the_uploads_copied_under_their_names_and_its_verdicts_tabled(
    tmp_path, conformance_dir
):
    ctx = _ctx(tmp_path, conformance_dir)
    upload = _tone(tmp_path / "take one.wav")
    (tmp_path / "notes.wav").write_bytes(b"not audio at all" * 64)
    record = submit_import(ctx, "voice", [str(upload), str(tmp_path / "notes.wav")], "en")
    params = ctx.queue.get(record.id).params
    assert isinstance(params, DatasetImportJob) and params.name == "voice"
    staged = Path(params.sources[0])
    assert staged.name == "take one.wav" and ctx.workspace.uploads_dir in staged.parents
    upload.unlink()  # the browser's temporary file is gone before the job runs
    result = import_kind.run(params, JobContext.standalone(ctx.workspace, ctx.models))
    rows = verdict_rows(result.info)
    assert len(rows) == 2 and rows[0][0] == "take one.wav" and rows[0][1] == "1.5"
    assert rows[1][0] == "notes.wav" and rows[1][-1].startswith("skipped: ")  # a file not imported says why
    assert "not a readable audio file" in rows[1][-1]


def test_slicing_is_refused_before_an_import_and_queued_after_it(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    with pytest.raises(gr.Error) as error:
        submit_slice(ctx, "voice", "en")
    assert "no imported recordings" in error.value.message
    raw = ctx.workspace.root / "datasets" / "voice" / "raw"
    raw.mkdir(parents=True)
    _tone(raw / "a.wav")
    params = ctx.queue.get(submit_slice(ctx, "voice", "en").id).params
    assert isinstance(params, DatasetSliceJob) and params.recordings == (str(raw / "a.wav"),)
    assert Path(params.out_dir) == ctx.workspace.root / "datasets" / "voice" / "clips"


def test_clip_rows_give_each_clips_length_from_its_name():
    assert clip_rows(["/c/a.wav_0000000000_0000048000.wav"]) == [["a.wav_0000000000_0000048000.wav", "1.50"]]


def test_proofread_view_shows_the_clip_its_text_and_phones_and_clamps_the_index(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    clip = _tone(tmp_path / "a.wav")
    path = list_path(ctx.workspace, "voice")
    add_clips(path, [clip, tmp_path / "missing.wav"], "voice", "ZH")
    ListEdits(load(ctx, "voice").entries).edit(0, text="你好。").save(path)

    edits, index, position, player, text, lang, phones = view(ctx, "voice", load(ctx, "voice"), 5, "en")
    assert index == 1 and position.startswith("Clip 2 of 2") and player is None  # the file is missing
    edits, index, position, player, text, lang, phones = view(ctx, "voice", edits, 0, "zh")
    assert position.startswith("第 1 个，共 2 个") and player == str(clip)
    assert text == "你好。" and lang == "ZH" and "ao3" in phones.split()
    assert view(ctx, "voice", ListEdits(()), 0, "en")[2] == table("en")["proof.empty"]
