"""Tab logic without a browser: what the Synthesize tab says, lists and submits."""

import shutil
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from core.errors import TimbreError
from core.settings import Settings
from core.synthesis import knob_fields
from core.voices import VoicePreset, VoiceStore
from webui import StudioContext, build_studio
from webui.proofread import phones_of
from webui.synthesize import (
    KNOB_NAMES,
    Voice,
    build_request,
    checked_weights,
    delete_weights,
    list_weights,
    missing_pretrained_message,
    submit,
)
from webui.text import analyze


def _ctx(tmp_path: Path, pretrained: Path) -> StudioContext:
    return StudioContext.open(Settings(workspace=tmp_path / "ws", pretrained_dir=pretrained))


def test_missing_pretrained_models_come_with_the_command_to_fetch_them(tmp_path):
    message = missing_pretrained_message(_ctx(tmp_path, tmp_path / "empty"))
    assert "python -m core pretrained download --version v2" in message
    assert "chinese-hubert-base" in message


def test_complete_pretrained_folder_gives_no_warning(tmp_path, conformance_dir):
    assert missing_pretrained_message(_ctx(tmp_path, conformance_dir / "models" / "pretrained")) == ""


def test_weights_lists_show_gpt_and_sovits_files_but_no_discriminator(tmp_path):
    pretrained = tmp_path / "pretrained"
    (pretrained / "gsv-v2final-pretrained").mkdir(parents=True)
    for name in ("s1base.ckpt", "s2G2333k.pth", "s2D2333k.pth"):
        (pretrained / "gsv-v2final-pretrained" / name).write_bytes(b"")
    ctx = _ctx(tmp_path, pretrained)
    ctx.workspace.weights_dir.mkdir(parents=True)
    for name in ("s2D_mine.pth", "my_voice_e8_s200.pth", "my_voice-e15.ckpt"):
        (ctx.workspace.weights_dir / name).write_bytes(b"")

    gpt = list_weights(ctx, ".ckpt")
    assert [label for label, _ in gpt] == [
        "pretrained: gsv-v2final-pretrained/s1base.ckpt",
        "workspace: my_voice-e15.ckpt",
    ]
    assert gpt[1][1] == str(ctx.workspace.weights_dir / "my_voice-e15.ckpt")
    labels = [label for label, _ in list_weights(ctx, ".pth")]
    assert labels == ["pretrained: gsv-v2final-pretrained/s2G2333k.pth", "workspace: my_voice_e8_s200.pth"]


def test_a_relative_pretrained_folder_with_dotdot_still_offers_usable_weights(tmp_path, monkeypatch):
    pretrained = tmp_path / "models" / "pretrained"
    (pretrained / "base").mkdir(parents=True)
    for name in ("s1.ckpt", "s2G.pth"):
        (pretrained / "base" / name).write_bytes(b"")
    (tmp_path / "studio").mkdir()
    monkeypatch.chdir(tmp_path / "studio")  # python app.py --pretrained ../models/pretrained
    ctx = _ctx(tmp_path, Path("../models/pretrained"))
    assert ctx.settings.pretrained_dir == pretrained
    voice = Voice(list_weights(ctx, ".ckpt")[0][1], list_weights(ctx, ".pth")[0][1], None, None, "", "zh")
    assert checked_weights(ctx, voice) == (str(pretrained / "base/s1.ckpt"), str(pretrained / "base/s2G.pth"))


def test_deleting_weights_asks_first_and_keeps_files_a_saved_voice_uses(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir / "models" / "pretrained")
    ctx.workspace.weights_dir.mkdir(parents=True)
    names = ("me-e8.ckpt", "me_e8_s80.pth", "old.pth", "spare.ckpt")
    gpt, sovits, other, spare = (ctx.workspace.weights_dir / name for name in names)
    for path in (gpt, sovits, other, spare):
        path.write_bytes(b"weights")
    clip = str(conformance_dir / "cases" / "_inputs" / "ref_16k.wav")
    VoiceStore(ctx.workspace).save(VoicePreset("anna", clip, "", "zh", str(gpt), str(sovits), "mine"))

    armed, message = delete_weights(ctx, [str(gpt), str(other)], None, "en")
    assert armed is None and message.startswith("me-e8.ckpt is used by the saved voice(s) anna")
    armed, message = delete_weights(ctx, [None, str(other)], None, "en")
    assert armed == (str(other),) and "Click Delete again" in message and other.exists()
    assert delete_weights(ctx, [str(spare), None], armed, "en")[0] == (str(spare),)  # other files: ask again
    armed, message = delete_weights(ctx, [None, str(other)], (str(other),), "en")
    assert (armed, message) == (None, "Deleted old.pth.") and not other.exists()
    assert gpt.exists() and sovits.exists() and spare.exists()
    pretrained = str(next(ctx.settings.pretrained_dir.rglob("*.ckpt")))
    assert delete_weights(ctx, [pretrained, str(spare)], None, "en") == (
        (str(spare),),  # the pretrained file chosen beside it is not asked about
        "Delete spare.ckpt for good? Click Delete again to confirm.",
    )
    armed, message = delete_weights(ctx, [pretrained, None], None, "en")
    assert armed is None and "pretrained weights are never deleted" in message


def test_studio_builds_with_its_tabs(tmp_path, conformance_dir):
    studio = build_studio(_ctx(tmp_path, conformance_dir / "models" / "pretrained"))
    tabs = {block.label.key for block in studio.blocks.values() if isinstance(block, gr.Tab)}
    assert tabs == {
        "studio.tab_synthesize",
        "studio.tab_dataset",
        "studio.tab_proofread",
        "studio.tab_train",
        "studio.tab_jobs",
        "studio.tab_text",
        "studio.tab_detect",
    }


def _knob_defaults(**overrides) -> list:
    values = {name: default for name, default, _ in knob_fields()} | overrides
    return [values[name] for name in KNOB_NAMES]


def test_a_generation_that_cannot_start_keeps_the_last_result_and_says_why(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir / "models" / "pretrained")
    no_reference = Voice("gpt.ckpt", "sovits.pth", None, None, "", "zh")
    with pytest.raises(gr.Error) as raised:
        submit(ctx, no_reference, "你好。", "zh", _knob_defaults(), "zh")
    assert raised.value.message == "请上传或录制一段参考音频 (该音色的 3–10 秒)。"
    assert ctx.queue.jobs() == []  # nothing was queued


def test_an_emptied_number_box_is_named_and_an_empty_max_sec_means_the_files_own(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir / "models" / "pretrained")
    upload = shutil.copy(conformance_dir / "cases" / "_inputs" / "ref_16k.wav", tmp_path)  # as Gradio's
    voice = Voice("g.ckpt", "s.pth", str(upload), None, "", "zh")
    with pytest.raises(gr.Error, match="seed"):
        build_request(ctx, voice, "你好。", "zh", _knob_defaults(seed=None), "en")
    knobs = _knob_defaults(max_sec=None, pitch=3, reference_compat=True)
    request = build_request(ctx, voice, "你好。", "zh", knobs, "en")
    assert request.max_sec is None and request.pitch == 3.0 and request.reference_compat is True


def test_uploads_are_copied_into_the_workspace_and_too_long_text_is_refused(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir / "models" / "pretrained")
    upload = tmp_path / "gradio_tmp" / "clip.wav"
    upload.parent.mkdir()
    upload.write_bytes((conformance_dir / "cases" / "_inputs" / "ref_16k.wav").read_bytes())
    voice = Voice("g.ckpt", "s.pth", str(upload), None, "", "zh")
    request = build_request(ctx, voice, "你好。", "zh", _knob_defaults(), "en")
    upload.unlink()  # Gradio's temporary file is gone; the job still has its copy
    copy = Path(request.ref_audio_path)
    assert copy.parent == ctx.workspace.uploads_dir and copy.read_bytes()
    with pytest.raises(TimbreError, match="over the limit of 5000"):
        build_request(ctx, voice, "好" * 5001, "zh", _knob_defaults(), "en")


def test_the_text_and_proofread_tabs_refuse_a_text_longer_than_a_request_may_be(tmp_path, conformance_dir):
    # 200,000 characters kept the frontend busy for minutes, and every other request waited behind it
    ctx = _ctx(tmp_path, conformance_dir / "models" / "pretrained")
    with pytest.raises(gr.Error, match="over the limit of 5000"):
        analyze(ctx, "好" * 200_000, "all_zh", False)
    assert "over the limit of 5000" in phones_of(ctx, "好" * 200_000, "ZH")
    assert analyze(ctx, "你好" * 20, "all_zh", False)[0] == "你好" * 20  # under the limit it reads


def test_synthesize_tab_applies_the_workspace_dictionary(tmp_path, conformance_dir):
    import soundfile as sf

    from core.ethics import ResponsibleUse, start_marking
    from core.jobs import JobContext, SynthesisJob
    from core.jobs import synthesis as synthesis_kind
    from core.synthesis import Synthesizer
    from core.text import UserDictionary

    pretrained = conformance_dir / "models" / "pretrained"
    ctx = _ctx(tmp_path, pretrained)
    start_marking(ctx.workspace.root, ResponsibleUse(watermark=False))  # compares the model's own audio
    gpt = str(pretrained / "gsv-v2final-pretrained" / "s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt")
    sovits = str(pretrained / "gsv-v2final-pretrained" / "s2G2333k.pth")
    ref = str(shutil.copy(conformance_dir / "cases" / "_inputs" / "ref_16k.wav", tmp_path))  # an upload
    dictionary = UserDictionary({"银行": "yin2 xing2"})
    dictionary.save(ctx.workspace.userdict_path)

    voice = Voice(gpt, sovits, ref, None, "这是一段用于测试的参考音频。", "zh")
    request = build_request(
        ctx, voice, "我们去银行。", "zh", _knob_defaults(top_k=1, noise_scale=0.0, seed=7), "en"
    )
    job = synthesis_kind.run(
        SynthesisJob(request, gpt, sovits), JobContext.standalone(ctx.workspace, ctx.models)
    )
    audio, _ = sf.read(job.files[0], dtype="int16")

    synthesizer = Synthesizer.from_files(gpt, sovits, pretrained, precision=ctx.models.precision)
    with_dict = synthesizer.synthesize(replace(request, user_dict=dictionary))[1]
    without = synthesizer.synthesize(replace(request, user_dict=None))[1]
    assert np.array_equal(audio, with_dict)
    assert not (audio.shape == without.shape and np.array_equal(audio, without))
