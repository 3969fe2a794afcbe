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
from webui.i18n import error, request_lang, t, translate


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
    """Markdown naming the missing pretrained files and the command that fetches them ("" if none is missing);
    its sentence is translated in the browser, the folder, file names and command follow it verbatim."""
    report = pretrained.check(ctx.settings.pretrained_dir, "v2", include_training=False)
    if not report.missing:
        return ""
    names = ", ".join(f"`{status.expected.relative_to(report.root)}`" for status in report.missing)
    return (
        t("synth.missing_pretrained")
        + f"\n\n`{ctx.settings.pretrained_dir}`: {names}\n\n"
        + f"```\npython -m core pretrained download --version v2 --dir {ctx.settings.pretrained_dir}\n```"
    )


def _synthesizer(ctx: StudioContext, gpt: str, sovits: str) -> Synthesizer:
    """The app's loaded model pair, reloaded only when another file is chosen (call under the lock)."""
    if ctx.synthesizer is None or ctx.synthesizer_files != (gpt, sovits):
        ctx.synthesizer = Synthesizer.from_files(
            gpt, sovits, ctx.settings.pretrained_dir, device=ctx.settings.device
        )
        ctx.synthesizer_files = (gpt, sovits)
    return ctx.synthesizer


def _number(value, label_key: str, kind: type, lang: str):
    if value is None or value == "":
        raise error("synth.empty_field", lang, name=translate(label_key, lang))
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
    lang_ui: str = "en",
) -> tuple[str, str]:
    """Synthesize with the chosen weights and settings; returns the written wav's path twice (player and
    download). Mistakes raise `gr.Error` in `lang_ui`; `TimbreError`s from core keep their English text."""
    if not gpt or not sovits:
        raise error("synth.need_weights", lang_ui)
    if not ref_audio:
        raise error("synth.need_reference", lang_ui)
    request = SynthesisRequest(
        text=text,
        text_lang=lang,
        ref_audio_path=ref_audio,
        aux_ref_audio_paths=tuple(aux_refs or ()),
        prompt_text=ref_text or "",
        prompt_lang=ref_lang,
        top_k=_number(top_k, "synth.top_k", int, lang_ui),
        top_p=_number(top_p, "synth.top_p", float, lang_ui),
        temperature=_number(temperature, "synth.temperature", float, lang_ui),
        repetition_penalty=_number(repetition_penalty, "synth.repetition_penalty", float, lang_ui),
        text_split_method=split_method,
        batch_size=_number(batch_size, "synth.batch_size", int, lang_ui),
        speed_factor=_number(speed, "synth.speed", float, lang_ui),
        fragment_interval=_number(fragment_interval, "synth.fragment_interval", float, lang_ui),
        noise_scale=_number(noise_scale, "synth.noise_scale", float, lang_ui),
        seed=_number(seed, "synth.seed", int, lang_ui),
        user_dict=ctx.user_dictionary(),  # readings fixed in the Text tab apply here too
    )
    with ctx.synthesis_lock:
        sr, audio = _synthesizer(ctx, gpt, sovits).synthesize(request)
    out = ctx.workspace.outputs_dir / f"tts_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}.wav"
    write_wav(out, audio, sr)
    return str(out), str(out)


def generate_keeping_last_result(ctx: StudioContext, lang_ui: str, *values) -> tuple:
    """The Generate button: `generate(ctx, *values)` as (audio, download, status). When it fails, the last
    result stays where it is (`gr.skip()`) and the status beside it says why."""
    try:
        audio, download = generate(ctx, *values, lang_ui=lang_ui)
    except gr.Error as exc:
        return gr.skip(), gr.skip(), translate("synth.failed", lang_ui, message=exc.message)
    return audio, download, ""


def build(ctx: StudioContext) -> None:
    """Create the Synthesize tab's components inside the caller's Blocks."""
    gr.Markdown(missing_pretrained_message(ctx), elem_id="synth-missing")
    with gr.Row():
        gpt = gr.Dropdown(list_weights(ctx, ".ckpt"), label=t("synth.gpt"), elem_id="synth-gpt")
        sovits = gr.Dropdown(list_weights(ctx, ".pth"), label=t("synth.sovits"), elem_id="synth-sovits")
        refresh = gr.Button(t("synth.refresh"), scale=0)
    with gr.Row():
        with gr.Column():
            ref_audio = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label=t("synth.ref_audio"),
                elem_id="synth-ref",
            )
            ref_text = gr.Textbox(label=t("synth.ref_text"), elem_id="synth-ref-text")
            ref_lang = gr.Dropdown(
                list(LANGUAGES),
                value="zh",
                label=t("synth.ref_lang"),
                info=t("studio.lang_codes"),
                elem_id="synth-ref-lang",
            )
            aux_refs = gr.File(
                file_count="multiple",
                file_types=["audio"],
                label=t("synth.aux_refs"),
                type="filepath",
            )
        with gr.Column():
            text = gr.Textbox(label=t("synth.text"), lines=4, elem_id="synth-text")
            lang = gr.Dropdown(
                list(LANGUAGES),
                value="zh",
                label=t("synth.lang"),
                info=t("studio.lang_codes"),
                elem_id="synth-lang",
            )
            speed = gr.Slider(0.6, 1.65, value=1.0, step=0.05, label=t("synth.speed"), elem_id="synth-speed")
            with gr.Accordion(t("synth.sampling"), open=False, elem_id="synth-sampling"):
                top_k = gr.Slider(1, 100, value=SynthesisRequest.top_k, step=1, label=t("synth.top_k"))
                top_p = gr.Slider(0.0, 1.0, value=SynthesisRequest.top_p, step=0.05, label=t("synth.top_p"))
                temperature = gr.Slider(
                    0.05, 2.0, value=SynthesisRequest.temperature, step=0.05, label=t("synth.temperature")
                )
                repetition_penalty = gr.Slider(
                    1.0,
                    2.0,
                    value=SynthesisRequest.repetition_penalty,
                    step=0.05,
                    label=t("synth.repetition_penalty"),
                )
                split_method = gr.Dropdown(
                    list(SPLIT_METHODS),
                    value=SynthesisRequest.text_split_method,
                    label=t("synth.split_method"),
                    info=t("synth.split_methods"),
                )
                batch_size = gr.Slider(
                    1, 20, value=SynthesisRequest.batch_size, step=1, label=t("synth.batch_size")
                )
                fragment_interval = gr.Slider(
                    0.0,
                    1.0,
                    value=SynthesisRequest.fragment_interval,
                    step=0.01,
                    label=t("synth.fragment_interval"),
                )
                noise_scale = gr.Slider(
                    0.0, 1.0, value=SynthesisRequest.noise_scale, step=0.05, label=t("synth.noise_scale")
                )
                seed = gr.Number(
                    value=SynthesisRequest.seed,
                    precision=0,
                    label=t("synth.seed"),
                    info=t("synth.seed_info"),
                    elem_id="synth-seed",
                )
    go = gr.Button(t("synth.generate"), variant="primary", elem_id="synth-generate")
    with gr.Row():
        player = gr.Audio(
            label=t("synth.result"), type="filepath", interactive=False, elem_id="synth-result", scale=2
        )
        with gr.Column():
            download = gr.File(label=t("synth.download"), elem_id="synth-download")
            status = gr.Markdown(elem_id="synth-status")

    def refresh_lists():
        return gr.Dropdown(choices=list_weights(ctx, ".ckpt")), gr.Dropdown(choices=list_weights(ctx, ".pth"))

    def on_generate(request: gr.Request, *values):
        return generate_keeping_last_result(ctx, request_lang(request), *values)

    refresh.click(refresh_lists, None, [gpt, sovits])
    go.click(
        on_generate,
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
        [player, download, status],
        api_name="synthesize",
    )
