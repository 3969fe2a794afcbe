"""Synthesize tab: pick GPT + SoVITS weights, drop in a reference clip, type text, hear it."""

from __future__ import annotations

import time
import uuid

import gradio as gr

from core import pretrained
from core.audio import write_wav
from core.synthesis import SPLIT_METHODS, SynthesisRequest, Synthesizer
from core.text import LANGUAGES
from webui.context import StudioContext, shows_errors


def list_weights(ctx: StudioContext, suffix: str) -> list[tuple[str, str]]:
    """GPT (`.ckpt`) or SoVITS (`.pth`) files under pretrained/ and the workspace's weights/, as
    (label, path) pairs: the label is short ("workspace: my_voice.pth"), the value is the full path."""
    found: list[tuple[str, str]] = []
    for origin, root in (
        ("pretrained", ctx.settings.pretrained_dir),
        ("workspace", ctx.workspace.weights_dir),
    ):
        if root.is_dir():
            for path in sorted(root.rglob(f"*{suffix}")):
                if path.name.startswith("s2D"):  # SoVITS discriminators are for training only
                    continue
                found.append((f"{origin}: {path.relative_to(root)}", str(path)))
    return found


def missing_pretrained_message(ctx: StudioContext) -> str:
    report = pretrained.check(ctx.settings.pretrained_dir, "v2", include_training=False)
    if not report.missing:
        return ""
    names = ", ".join(str(status.expected.relative_to(report.root)) for status in report.missing)
    return (
        f"**Pretrained models are missing** from `{ctx.settings.pretrained_dir}`: {names}.  \n"
        f"Run `python -m core pretrained download --version v2 --dir {ctx.settings.pretrained_dir}` "
        "and reload this page."
    )


def _synthesizer(ctx: StudioContext, gpt: str, sovits: str) -> Synthesizer:
    """The app's loaded model pair, reloaded only when another file is chosen (call under the lock)."""
    if ctx.synthesizer is None or ctx.synthesizer_files != (gpt, sovits):
        ctx.synthesizer = Synthesizer.from_files(
            gpt, sovits, ctx.settings.pretrained_dir, device=ctx.settings.device
        )
        ctx.synthesizer_files = (gpt, sovits)
    return ctx.synthesizer


def _number(value, name: str, kind: type):
    if value is None or value == "":
        raise gr.Error(f"Fill in {name} (it is empty).")
    return kind(value)


@shows_errors
def generate(
    ctx: StudioContext,
    gpt,
    sovits,
    ref_audio,
    aux_refs,
    ref_text,
    ref_lang,
    text,
    lang,
    top_k,
    top_p,
    temperature,
    repetition_penalty,
    split_method,
    batch_size,
    speed,
    fragment_interval,
    noise_scale,
    seed,
) -> tuple[str, str]:
    if not gpt or not sovits:
        raise gr.Error("Choose a GPT (.ckpt) and a SoVITS (.pth) weights file first.")
    if not ref_audio:
        raise gr.Error("Drop in a reference clip (3–10 s of the voice) or record one.")
    request = SynthesisRequest(
        text=text,
        text_lang=lang,
        ref_audio_path=ref_audio,
        aux_ref_audio_paths=tuple(aux_refs or ()),
        prompt_text=ref_text or "",
        prompt_lang=ref_lang,
        top_k=_number(top_k, "top_k", int),
        top_p=_number(top_p, "top_p", float),
        temperature=_number(temperature, "temperature", float),
        repetition_penalty=_number(repetition_penalty, "repetition penalty", float),
        text_split_method=split_method,
        batch_size=_number(batch_size, "batch size", int),
        speed_factor=_number(speed, "speed", float),
        fragment_interval=_number(fragment_interval, "pause between fragments", float),
        noise_scale=_number(noise_scale, "noise scale", float),
        seed=_number(seed, "seed", int),
    )
    with ctx.synthesis_lock:
        synth = _synthesizer(ctx, gpt, sovits)
        synth.user_dict = ctx.user_dictionary()  # readings fixed in the Text tab apply here too
        sr, audio = synth.synthesize(request)
    out = ctx.workspace.outputs_dir / f"tts_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}.wav"
    write_wav(out, audio, sr)
    return str(out), str(out)


def build(ctx: StudioContext) -> None:
    """Create the Synthesize tab's components inside the caller's Blocks."""
    gr.Markdown(missing_pretrained_message(ctx), elem_id="synth-missing")
    with gr.Row():
        gpt = gr.Dropdown(list_weights(ctx, ".ckpt"), label="GPT weights (.ckpt)", elem_id="synth-gpt")
        sovits = gr.Dropdown(list_weights(ctx, ".pth"), label="SoVITS weights (.pth)", elem_id="synth-sovits")
        refresh = gr.Button("Refresh list", scale=0)
    with gr.Row():
        with gr.Column():
            ref_audio = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label="Reference clip (3–10 s)",
                elem_id="synth-ref",
            )
            ref_text = gr.Textbox(
                label="What the clip says (leave empty for reference-free mode)", elem_id="synth-ref-text"
            )
            ref_lang = gr.Dropdown(
                list(LANGUAGES), value="zh", label="Clip language", elem_id="synth-ref-lang"
            )
            aux_refs = gr.File(
                file_count="multiple",
                file_types=["audio"],
                label="More clips of the same voice (optional)",
                type="filepath",
            )
        with gr.Column():
            text = gr.Textbox(label="Text to speak", lines=4, elem_id="synth-text")
            lang = gr.Dropdown(list(LANGUAGES), value="zh", label="Text language", elem_id="synth-lang")
            speed = gr.Slider(0.6, 1.65, value=1.0, step=0.05, label="Speed", elem_id="synth-speed")
            with gr.Accordion("Sampling", open=False):
                top_k = gr.Slider(1, 100, value=SynthesisRequest.top_k, step=1, label="top_k")
                top_p = gr.Slider(0.0, 1.0, value=SynthesisRequest.top_p, step=0.05, label="top_p")
                temperature = gr.Slider(
                    0.05, 2.0, value=SynthesisRequest.temperature, step=0.05, label="temperature"
                )
                repetition_penalty = gr.Slider(
                    1.0, 2.0, value=SynthesisRequest.repetition_penalty, step=0.05, label="repetition penalty"
                )
                split_method = gr.Dropdown(
                    list(SPLIT_METHODS),
                    value=SynthesisRequest.text_split_method,
                    label="How to split the text",
                )
                batch_size = gr.Slider(1, 20, value=SynthesisRequest.batch_size, step=1, label="batch size")
                fragment_interval = gr.Slider(
                    0.0,
                    1.0,
                    value=SynthesisRequest.fragment_interval,
                    step=0.01,
                    label="pause between fragments (s)",
                )
                noise_scale = gr.Slider(
                    0.0, 1.0, value=SynthesisRequest.noise_scale, step=0.05, label="noise scale"
                )
                seed = gr.Number(
                    value=SynthesisRequest.seed, precision=0, label="seed (-1 = random)", elem_id="synth-seed"
                )
    go = gr.Button("Generate", variant="primary", elem_id="synth-generate")
    with gr.Row():
        player = gr.Audio(label="Result", type="filepath", interactive=False, elem_id="synth-result")
        download = gr.File(label="Download", elem_id="synth-download")

    def refresh_lists():
        return gr.Dropdown(choices=list_weights(ctx, ".ckpt")), gr.Dropdown(choices=list_weights(ctx, ".pth"))

    refresh.click(refresh_lists, None, [gpt, sovits])
    go.click(
        lambda *args: generate(ctx, *args),
        [
            gpt,
            sovits,
            ref_audio,
            aux_refs,
            ref_text,
            ref_lang,
            text,
            lang,
            top_k,
            top_p,
            temperature,
            repetition_penalty,
            split_method,
            batch_size,
            speed,
            fragment_interval,
            noise_scale,
            seed,
        ],
        [player, download],
        api_name="synthesize",
    )
