"""Tab logic without a browser: what the Synthesize tab says and lists."""

from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np

from core.settings import Settings
from core.workspace import Workspace
from webui import StudioContext, build_studio
from webui.synthesize import generate_keeping_last_result, list_weights, missing_pretrained_message


def _ctx(tmp_path: Path, pretrained: Path) -> StudioContext:
    settings = Settings(workspace=tmp_path / "ws", pretrained_dir=pretrained)
    return StudioContext(settings=settings, workspace=Workspace.open(settings.workspace))


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


def test_studio_builds_with_both_tabs(tmp_path, conformance_dir):
    studio = build_studio(_ctx(tmp_path, conformance_dir / "models" / "pretrained"))
    tabs = {block.label.key for block in studio.blocks.values() if isinstance(block, gr.Tab)}
    assert tabs == {"studio.tab_synthesize", "studio.tab_text"}


def test_a_failed_generation_leaves_the_last_result_and_says_why(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir / "models" / "pretrained")
    no_reference = ["gpt.ckpt", "sovits.pth", None, None, "", "zh", "你好。", "zh"] + [1] * 10

    audio, download, status = generate_keeping_last_result(ctx, "zh", *no_reference)

    assert audio == gr.skip() and download == gr.skip()  # the player and the file keep what they show
    assert status == "**未能合成：** 请上传或录制一段参考音频 (该音色的 3–10 秒)。"


def test_synthesize_tab_applies_the_workspace_dictionary(tmp_path, conformance_dir):
    import soundfile as sf

    from core.synthesis import SynthesisRequest, Synthesizer
    from core.text import UserDictionary
    from webui.synthesize import generate

    pretrained = conformance_dir / "models" / "pretrained"
    ctx = _ctx(tmp_path, pretrained)
    gpt = pretrained / "gsv-v2final-pretrained" / "s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"
    sovits = pretrained / "gsv-v2final-pretrained" / "s2G2333k.pth"
    ref = conformance_dir / "cases" / "_inputs" / "ref_16k.wav"
    prompt, text = "这是一段用于测试的参考音频。", "我们去银行。"
    dictionary = UserDictionary({"银行": "yin2 xing2"})
    dictionary.save(ctx.workspace.userdict_path)

    path, _ = generate(
        ctx,
        str(gpt),
        str(sovits),
        str(ref),
        None,
        prompt,
        "zh",
        text,
        "zh",
        1,
        1.0,
        1.0,
        1.35,
        "cut1",
        1,
        1.0,
        0.3,
        0.0,
        7,
    )
    audio, _ = sf.read(path, dtype="int16")

    request = SynthesisRequest(
        text=text,
        text_lang="zh",
        ref_audio_path=ref,
        prompt_text=prompt,
        prompt_lang="zh",
        top_k=1,
        noise_scale=0.0,
        seed=7,
    )
    synthesizer = Synthesizer.from_files(gpt, sovits, pretrained)
    with_dict = synthesizer.synthesize(replace(request, user_dict=dictionary))[1]
    without = synthesizer.synthesize(request)[1]
    assert np.array_equal(audio, with_dict)
    assert not (audio.shape == without.shape and np.array_equal(audio, without))
