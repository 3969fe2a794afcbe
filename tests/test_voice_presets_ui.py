"""The Synthesize tab's saved voices and the studio's share/login banners, without a browser."""

import json
import re
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from core.settings import Settings
from core.voices import UI_CONSENT, VoiceStore
from webui import StudioContext, build_studio
from webui.i18n import table
from webui.synthesize import list_weights
from webui.voice_presets import delete_preset, export_preset, import_preset, preset_names, save_preset


def _ctx(tmp_path: Path, conformance_dir: Path, **settings) -> StudioContext:
    pretrained = conformance_dir / "models" / "pretrained"
    return StudioContext.open(Settings(workspace=tmp_path / "ws", pretrained_dir=pretrained, **settings))


def _upload(tmp_path: Path, seconds: float = 4.0) -> str:
    sr = 16000
    wave = 0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * sr)) / sr)
    path = tmp_path / f"upload_{seconds}.wav"
    sf.write(path, wave.astype(np.float32), sr)
    return str(path)


def _weights(ctx: StudioContext) -> tuple[str, str]:
    return list_weights(ctx, ".ckpt")[0][1], list_weights(ctx, ".pth")[0][1]


def test_save_as_voice_stores_the_controls_as_a_preset_the_api_lists(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    gpt, sovits = _weights(ctx)
    voice = save_preset(ctx, "anna", True, gpt, sovits, _upload(tmp_path), "参考文本。", "zh", "en")
    assert Path(voice.ref_audio_path).parent == ctx.workspace.uploads_dir  # copied: uploads are temporary
    assert (voice.gpt_path, voice.sovits_path, voice.prompt_text, voice.prompt_lang) == (
        gpt,
        sovits,
        "参考文本。",
        "zh",
    )
    assert voice.consent == UI_CONSENT
    assert VoiceStore(ctx.workspace).get("anna") == voice
    assert preset_names(ctx) == ["anna"]
    with pytest.raises(gr.Error, match="'anna' is already saved; choose another name, or delete"):
        save_preset(ctx, "anna", True, gpt, sovits, _upload(tmp_path), "另一段。", "zh", "en")
    assert VoiceStore(ctx.workspace).get("anna") == voice  # the saved voice is kept as it was


@pytest.mark.parametrize(
    ("name", "consent", "seconds", "message"),
    [
        ("anna", False, 4.0, "consent.* to save a voice"),
        ("../anna", True, 4.0, "is not allowed"),
        ("anna", True, 1.0, "1.0 s long"),
    ],
)
def test_save_as_voice_refuses_without_consent_a_bad_name_or_clip(
    tmp_path, conformance_dir, name, consent, seconds, message
):
    ctx = _ctx(tmp_path, conformance_dir)
    with pytest.raises(gr.Error, match=message):
        save_preset(ctx, name, consent, *_weights(ctx), _upload(tmp_path, seconds), "", "zh", "en")
    assert preset_names(ctx) == []


def test_save_as_voice_refuses_weights_outside_the_studio(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    outside = tmp_path / "elsewhere.pth"
    outside.write_bytes(b"x")
    with pytest.raises(gr.Error, match="outside the allowed folders"):
        save_preset(ctx, "anna", True, _weights(ctx)[0], str(outside), _upload(tmp_path), "", "zh", "en")


def test_save_as_voice_answers_in_the_pages_language(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    with pytest.raises(gr.Error, match="说话人的同意"):
        save_preset(ctx, "anna", False, *_weights(ctx), _upload(tmp_path), "", "zh", "zh")


def test_an_exported_voice_file_imports_back(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    voice = save_preset(ctx, "anna", True, *_weights(ctx), _upload(tmp_path), "参考文本。", "zh", "en")
    exported = export_preset(ctx, "anna", "en")
    assert exported.name == "anna.timbre-voice.zip" and ctx.workspace.root in exported.parents
    VoiceStore(ctx.workspace).delete("anna")
    assert import_preset(ctx, str(exported), "en") == voice
    with pytest.raises(gr.Error, match="not a zip"):
        import_preset(ctx, _upload(tmp_path), "en")
    with pytest.raises(gr.Error, match="Choose a saved voice"):
        export_preset(ctx, None, "en")


def test_deleting_a_saved_voice_removes_it_from_the_list_and_the_api(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    voice = save_preset(ctx, "anna", True, *_weights(ctx), _upload(tmp_path), "", "zh", "en")
    delete_preset(ctx, "anna", "en")
    assert preset_names(ctx) == [] and VoiceStore(ctx.workspace).all() == []
    assert Path(voice.ref_audio_path).is_file()  # the clip stays: past results may name it
    with pytest.raises(gr.Error, match="nothing to delete"):
        delete_preset(ctx, "anna", "en")


def _markdown_keys(studio: gr.Blocks) -> set[str]:
    """The translation keys of the studio's Markdown blocks (Gradio stores them as `__i18n__{json}`), and
    the ids of those filled when a page loads."""
    found = set()
    for block in studio.blocks.values():
        if isinstance(block, gr.Markdown) and str(block.value).startswith("__i18n__"):
            found.add(json.loads(str(block.value).removeprefix("__i18n__"))["key"])
        elif isinstance(block, gr.Markdown) and block.elem_id:
            found.add(block.elem_id)
    return found


SHARE_NOTE = "studio-share-note"


@pytest.mark.parametrize(
    ("settings", "expected", "absent"),
    [
        ({}, set(), {SHARE_NOTE, "studio.open_warning_share", "studio.open_warning_host"}),
        ({"share": True}, {SHARE_NOTE, "studio.open_warning_share"}, {"studio.open_warning_host"}),
        ({"share": True, "auth": (("u", "p"),)}, {SHARE_NOTE}, {"studio.open_warning_share"}),
        ({"host": "0.0.0.0"}, {"studio.open_warning_host"}, {SHARE_NOTE}),
        ({"host": "0.0.0.0", "auth": (("u", "p"),)}, set(), {"studio.open_warning_host"}),
    ],
)
def test_the_ui_says_when_a_share_link_expires_and_warns_when_open_without_login(
    tmp_path, conformance_dir, settings, expected, absent
):
    keys = _markdown_keys(build_studio(_ctx(tmp_path, conformance_dir, **settings)))
    assert expected <= keys
    assert not absent & keys


def test_the_share_note_shows_the_link_gradio_opened_or_that_there_is_none(tmp_path, conformance_dir):
    studio = build_studio(_ctx(tmp_path, conformance_dir, share=True))
    (note,) = [block for block in studio.blocks.values() if getattr(block, "elem_id", None) == SHARE_NOTE]
    (fill,) = [fn.fn for fn in studio.fns.values() if [out._id for out in fn.outputs] == [note._id]]
    studio.share_url = None  # launch() could not open the tunnel
    assert fill(None) == table("en")["studio.share_failed"]
    studio.share_url = "https://0123abcd.gradio.live"
    shown = fill(None)
    assert studio.share_url in shown and "72 hours" in shown
    expires = re.search(r"until about (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", shown).group(1)
    hours_left = (time.mktime(time.strptime(expires, "%Y-%m-%d %H:%M")) - time.mktime(time.gmtime())) / 3600
    assert 71.9 <= hours_left <= 72.0
