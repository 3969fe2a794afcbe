"""Saved voices in the Synthesize tab: save the voice controls as a preset (the same presets the OpenAI API's
`/v1/audio/voices` lists), fill the controls from one, delete one, and export or import one as a file.

The tab's voice controls are passed in; this module owns only the presets' own controls.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from core.errors import TimbreError
from core.voices import (
    ARCHIVE_SUFFIX,
    UI_CONSENT,
    VoicePreset,
    VoiceStore,
    check_name,
    check_reference_clip,
    export_voice,
    import_voice,
)
from core.workspace import atomic_write_bytes
from webui.context import StudioContext
from webui.i18n import error, request_lang, t, translate, user_errors
from webui.uploads import checked_upload, checked_weights

EXPORTS_DIR = "exports"  # in the workspace: where exported voice files are written for download


def _roots(ctx: StudioContext) -> tuple[Path, ...]:
    return ctx.workspace.root, ctx.settings.pretrained_dir


def preset_names(ctx: StudioContext) -> list[str]:
    return [voice.name for voice in VoiceStore(ctx.workspace).all()]


def save_preset(
    ctx: StudioContext,
    name: str,
    consent: bool,
    gpt: str | None,
    sovits: str | None,
    ref_audio: str | None,
    ref_text: str | None,
    ref_lang: str,
    lang_ui: str,
) -> VoicePreset:
    """Save the voice controls' values under `name`: the clip is checked and copied into the workspace, the
    weights must lie in the workspace or the pretrained folder, and consent must be confirmed."""
    if not consent:
        raise error("synth.preset_need_consent", lang_ui)
    if not gpt or not sovits:
        raise error("synth.need_weights", lang_ui)
    if not ref_audio:
        raise error("synth.need_reference", lang_ui)
    with user_errors(lang_ui):
        check_name((name or "").strip())
        clip = checked_upload(ctx, ref_audio, "the reference clip")  # refused before it is read
        check_reference_clip(clip)
        voice = VoicePreset(
            name=name.strip(),
            ref_audio_path=str(ctx.workspace.import_upload(clip)),
            prompt_text=ref_text or "",
            prompt_lang=ref_lang,
            gpt_path=str(checked_weights(ctx, gpt, "GPT weights")),
            sovits_path=str(checked_weights(ctx, sovits, "SoVITS weights")),
            consent=UI_CONSENT,
        )
        return VoiceStore(ctx.workspace).save(voice)


def delete_preset(ctx: StudioContext, name: str | None, lang_ui: str) -> None:
    """Delete the saved voice `name` (its clip stays in uploads/: past results may name it)."""
    if not name:
        raise error("synth.preset_need_choice", lang_ui)
    with user_errors(lang_ui):
        VoiceStore(ctx.workspace).delete(name)


def export_preset(ctx: StudioContext, name: str | None, lang_ui: str) -> Path:
    """Write the saved voice `name` as one file into the workspace's exports/; returns its path."""
    if not name:
        raise error("synth.preset_need_choice", lang_ui)
    with user_errors(lang_ui):
        data = export_voice(VoiceStore(ctx.workspace).get(name), _roots(ctx))
        return atomic_write_bytes(ctx.workspace.root / EXPORTS_DIR / f"{name}{ARCHIVE_SUFFIX}", data)


def import_preset(ctx: StudioContext, path: str | None, lang_ui: str) -> VoicePreset:
    """Save the voice in an exported voice file (its clip copied into the workspace)."""
    if not path:
        raise error("synth.preset_need_file", lang_ui)
    try:
        data = checked_upload(ctx, path, "the voice file").read_bytes()
        voice = import_voice(data, ctx.workspace, _roots(ctx), max_bytes=ctx.settings.max_upload_bytes)
        return VoiceStore(ctx.workspace).save(voice)
    except TimbreError as exc:
        raise gr.Error(str(exc), title=translate("studio.error", lang_ui)) from exc
    except OSError as exc:
        message = f"{Path(path).name}: {exc.strerror or exc}"
        raise gr.Error(message, title=translate("studio.error", lang_ui)) from exc


def build(ctx: StudioContext, gpt, sovits, ref_audio, ref_text, ref_lang, weight_choices) -> None:
    """The saved-voices controls, inside the caller's Blocks; `weight_choices(suffix)` lists the weights
    dropdowns' choices (refreshed when a preset fills them)."""
    with gr.Accordion(t("synth.presets"), open=False, elem_id="synth-presets"):
        with gr.Row():
            chosen = gr.Dropdown(
                preset_names(ctx), value=None, label=t("synth.preset"), elem_id="synth-preset", scale=2
            )
            remove = gr.Button(
                t("synth.preset_delete"), variant="stop", scale=0, elem_id="synth-preset-delete"
            )
            export = gr.Button(t("synth.preset_export"), scale=0, elem_id="synth-preset-export")
        with gr.Row():
            name = gr.Textbox(label=t("synth.preset_name"), elem_id="synth-preset-name", scale=2)
            consent = gr.Checkbox(label=t("synth.preset_consent"), elem_id="synth-preset-consent")
            save = gr.Button(t("synth.preset_save"), variant="primary", scale=0, elem_id="synth-preset-save")
        with gr.Row():
            exported = gr.File(
                label=t("synth.preset_exported"), interactive=False, elem_id="synth-preset-file"
            )
            upload = gr.File(
                file_types=[".zip"],
                type="filepath",
                label=t("synth.preset_import"),
                elem_id="synth-preset-import",
            )
        status = gr.Markdown(elem_id="synth-preset-status")

    def names_update(value: str | None) -> gr.Dropdown:
        return gr.Dropdown(choices=preset_names(ctx), value=value)

    def on_save(request: gr.Request, name_value, consent_value, *voice_values):
        lang_ui = request_lang(request)
        voice = save_preset(ctx, name_value, consent_value, *voice_values, lang_ui)
        return names_update(voice.name), translate("synth.preset_saved", lang_ui, name=voice.name)

    def on_choose(request: gr.Request, chosen_name: str | None):
        if not chosen_name:
            return [gr.skip()] * 6
        lang_ui = request_lang(request)
        with user_errors(lang_ui):
            voice = VoiceStore(ctx.workspace).get(chosen_name)
        return (
            gr.Dropdown(choices=weight_choices(".ckpt"), value=voice.gpt_path),
            gr.Dropdown(choices=weight_choices(".pth"), value=voice.sovits_path),
            voice.ref_audio_path,
            voice.prompt_text,
            voice.prompt_lang,
            translate("synth.preset_loaded", lang_ui, name=voice.name),
        )

    def on_remove(request: gr.Request, chosen_name: str | None):
        lang_ui = request_lang(request)
        delete_preset(ctx, chosen_name, lang_ui)
        return names_update(None), translate("synth.preset_deleted", lang_ui, name=chosen_name)

    def on_export(request: gr.Request, chosen_name: str | None):
        return str(export_preset(ctx, chosen_name, request_lang(request)))

    def on_import(request: gr.Request, path: str | None):
        if not path:  # the upload was cleared
            return gr.skip(), gr.skip()
        lang_ui = request_lang(request)
        voice = import_preset(ctx, path, lang_ui)
        return names_update(voice.name), translate("synth.preset_imported", lang_ui, name=voice.name)

    # On page load (triggers=None, no inputs): voices saved since the studio started (e.g. through the API).
    gr.on(None, lambda: gr.Dropdown(choices=preset_names(ctx)), None, chosen, queue=False)
    save.click(on_save, [name, consent, gpt, sovits, ref_audio, ref_text, ref_lang], [chosen, status])
    chosen.input(on_choose, chosen, [gpt, sovits, ref_audio, ref_text, ref_lang, status])
    remove.click(on_remove, chosen, [chosen, status])
    export.click(on_export, chosen, exported)
    upload.upload(on_import, upload, [chosen, status])
