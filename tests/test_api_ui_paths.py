"""Path attacks through the studio's tabs (Synthesize, Dataset, Detect): their handlers, called as Gradio
calls them, with crafted upload values (absolute paths, `..`, `~`, links pointing out, valid audio outside).
Each is refused with a clear message before the file is read: nothing lands in the workspace, no job is
queued."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from core.errors import TimbreError
from core.settings import Settings
from core.synthesis import knob_fields
from webui import StudioContext
from webui.dataset import submit_import
from webui.detect import check_files
from webui.i18n import translate
from webui.synthesize import Voice, build_request, submit, submit_batch
from webui.voice_presets import import_preset, save_preset


@pytest.fixture()
def tab(tmp_path: Path, conformance_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """A studio context, Gradio's upload folder holding one real upload, and valid audio outside."""
    uploads = tmp_path / "gradio"
    uploads.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    pretrained = conformance_dir / "models" / "pretrained"
    ctx = StudioContext.open(Settings(workspace=tmp_path / "ws", pretrained_dir=pretrained))
    clip = conformance_dir / "cases" / "_inputs" / "ref_16k.wav"
    upload = Path(shutil.copy(clip, uploads / "clip.wav"))
    outside = tmp_path / "outside.wav"  # valid audio (another clip), outside every allowed folder
    wave, sr = sf.read(clip, dtype="int16")
    sf.write(outside, np.ascontiguousarray(wave[::-1]), sr)
    (uploads / "link_out.wav").symlink_to(outside)
    (uploads / "link_passwd").symlink_to("/etc/passwd")
    base = pretrained / "gsv-v2final-pretrained"
    weights = (str(next(base.glob("*.ckpt"))), str(next(base.glob("*.pth"))))
    return ctx, upload, outside, weights


def _attacks(upload: Path, outside: Path) -> list[str]:
    return [
        "/etc/passwd",
        "../../../../etc/passwd",
        str(upload.parent / ".." / "outside.wav"),
        str(outside),
        str(upload.parent / "link_out.wav"),
        str(upload.parent / "link_passwd"),
        "~/.bashrc",
        str(upload) + "\x00.txt",
    ]


def _knobs() -> list:
    return [default for _, default, _ in knob_fields()]


def _taken(ctx: StudioContext) -> list[Path]:
    """What the handlers copied into the workspace, and the jobs they queued."""
    uploads = ctx.workspace.uploads_dir
    return [*(uploads.iterdir() if uploads.is_dir() else ()), *ctx.queue.jobs()]


REFUSED = r"outside the allowed folders|'\.\.', '~' and NUL are not allowed"


def test_a_crafted_reference_path_is_refused_before_it_is_read(tab) -> None:
    ctx, upload, outside, (gpt, sovits) = tab
    for attack in _attacks(upload, outside):
        for voice in (
            Voice(gpt, sovits, attack, None, "", "zh"),
            Voice(gpt, sovits, str(upload), [attack], "", "zh"),
        ):
            with pytest.raises(TimbreError, match=REFUSED) as refused:
                build_request(ctx, voice, "你好。", "zh", _knobs(), "en")
            assert str(ctx.workspace.root) not in str(refused.value)  # folders are named, not spelled out
            with pytest.raises(gr.Error, match=REFUSED):
                submit(ctx, voice, "你好。", "zh", _knobs(), "en", consent=True)
        with pytest.raises(gr.Error, match=REFUSED):
            save_preset(ctx, "anna", True, gpt, sovits, attack, "", "zh", "en")
        with pytest.raises(gr.Error, match=REFUSED):
            import_preset(ctx, attack, "en")
        with pytest.raises(gr.Error, match=REFUSED):
            submit_batch(ctx, Voice(gpt, sovits, str(upload), None, "", "zh"), attack, "zh", _knobs(), "en")
    assert _taken(ctx) == []


def test_crafted_weights_paths_are_refused(tab) -> None:
    ctx, upload, outside, (gpt, sovits) = tab
    link = ctx.workspace.weights_dir / "link.pth"
    link.parent.mkdir(parents=True)
    link.symlink_to("/etc/passwd")
    for attack in ("/etc/passwd", "../../../etc/passwd", str(link), str(upload)):  # an upload is no weights
        for pair in ((attack, sovits), (gpt, attack)):
            voice = Voice(*pair, str(upload), None, "", "zh")
            with pytest.raises(gr.Error, match=REFUSED + "|no such file"):
                submit(ctx, voice, "你好。", "zh", _knobs(), "en", consent=True)
        with pytest.raises(gr.Error, match=REFUSED + "|no such file"):
            save_preset(ctx, "anna", True, attack, sovits, str(upload), "", "zh", "en")
    assert ctx.queue.jobs() == []


def test_a_real_upload_is_taken(tab) -> None:
    ctx, upload, _, (gpt, sovits) = tab
    record = submit(
        ctx, Voice(gpt, sovits, str(upload), None, "", "zh"), "你好。", "zh", _knobs(), "en", consent=True
    )
    copied = Path(record.params.request.ref_audio_path)
    assert copied.parent == ctx.workspace.uploads_dir and copied.read_bytes() == upload.read_bytes()
    assert (record.params.gpt_path, record.params.sovits_path) == (gpt, sovits)


def test_uploads_over_the_limit_and_long_extra_clips_are_refused_naming_the_flag(tab, tmp_path) -> None:
    ctx, upload, _, (gpt, sovits) = tab
    small = StudioContext(
        Settings(workspace=ctx.workspace.root, pretrained_dir=ctx.settings.pretrained_dir, max_upload_mb=0.1),
        ctx.workspace,
        ctx.queue,
        ctx.models,
    )
    big = upload.parent / "big.wav"
    sf.write(big, np.zeros(16000 * 4, dtype=np.int16), 16000)  # 125 kB
    with pytest.raises(
        TimbreError, match=r"over the studio's upload limit of 0.1 MB \(set with --max-upload-mb\)"
    ):
        build_request(small, Voice(gpt, sovits, str(big), None, "", "zh"), "你好。", "zh", _knobs(), "en")
    with pytest.raises(gr.Error, match="--max-upload-mb"):
        import_preset(small, str(big), "en")
    short = StudioContext(
        Settings(
            workspace=ctx.workspace.root, pretrained_dir=ctx.settings.pretrained_dir, max_aux_ref_seconds=2
        ),
        ctx.workspace,
        ctx.queue,
        ctx.models,
    )
    voice = Voice(gpt, sovits, str(upload), [str(upload)], "", "zh")
    with pytest.raises(TimbreError, match=r"4.6 s long; use one of at most 2 s .*--max-aux-seconds"):
        build_request(short, voice, "你好。", "zh", _knobs(), "en")
    assert len(build_request(ctx, voice, "你好。", "zh", _knobs(), "en").aux_ref_audio_paths) == 1


def test_the_dataset_and_detect_tabs_refuse_crafted_paths_too(tab) -> None:
    ctx, upload, outside, _ = tab
    for attack in _attacks(upload, outside):
        with pytest.raises(gr.Error, match=REFUSED):
            submit_import(ctx, "anna", [str(upload), attack], "en")  # one bad file: nothing is copied
        table, entries = check_files(ctx, [attack], "en")
        (row,) = table["data"]
        assert entries == [] and re.search(REFUSED, " ".join(row))
    assert _taken(ctx) == []
    table, _ = check_files(ctx, [str(upload)], "en")  # a real upload is read: unmarked audio
    assert table["data"][0][1] == translate("detect.no", "en")
    (source,) = submit_import(ctx, "anna", [str(upload)], "en").params.sources
    assert Path(source).is_relative_to(ctx.workspace.root)
    assert Path(source).read_bytes() == upload.read_bytes()
