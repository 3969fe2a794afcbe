"""The Dataset tab's Transcribe step without a browser: the missing-model hint, and what it queues."""

from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from core.data.listfile import read_list
from core.jobs.dataset_transcribe import DatasetTranscribeJob
from core.pretrained import DEFAULT_ASR_MODEL
from core.settings import Settings
from webui import StudioContext
from webui.dataset import asr_hint, submit_transcribe
from webui.i18n import table


def _ctx(tmp_path: Path, conformance_dir: Path) -> StudioContext:
    # The fixture pretrained folder has no asr/: no Whisper model is present.
    settings = Settings(workspace=tmp_path / "ws", pretrained_dir=conformance_dir / "models" / "pretrained")
    return StudioContext.open(settings)


def test_the_hint_names_the_command_when_the_model_is_absent(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    hint = asr_hint(ctx, "faster-whisper", "zh")
    assert hint.startswith(table("zh")["data.asr_missing"].split("{")[0])
    assert f"python -m core pretrained download --asr {DEFAULT_ASR_MODEL}" in hint
    assert "paraformer-zh" in asr_hint(ctx, "funasr", "en")
    assert asr_hint(ctx, "pocketsphinx", "en") == ""  # ships its model
    with pytest.raises(gr.Error) as refused:
        submit_transcribe(ctx, "voice", "faster-whisper", "auto", "en")
    assert f"download --asr {DEFAULT_ASR_MODEL}" in refused.value.message
    assert ctx.queue.jobs() == []


def test_transcribe_starts_the_list_from_the_clips_and_queues_the_job(tmp_path, conformance_dir):
    ctx = _ctx(tmp_path, conformance_dir)
    with pytest.raises(gr.Error) as refused:
        submit_transcribe(ctx, " ", "pocketsphinx", "en", "en")
    assert refused.value.message == table("en")["data.need_name"]
    with pytest.raises(gr.Error, match="slice its recordings first"):
        submit_transcribe(ctx, "voice", "pocketsphinx", "en", "en")
    clips = ctx.workspace.root / "datasets" / "voice" / "clips"
    clips.mkdir(parents=True)
    for name in ("a.wav_0_32000.wav", "a.wav_32000_64000.wav"):
        sf.write(clips / name, np.zeros(32000, dtype=np.float32), 32000)
    record = submit_transcribe(ctx, "voice", "pocketsphinx", "en", "en")
    params = ctx.queue.get(record.id).params
    assert params == DatasetTranscribeJob(str(clips.parent / "voice.list"), "pocketsphinx", None, "en")
    entries = read_list(params.list_path).entries
    assert [(Path(e.path).name, e.speaker, e.lang, e.text) for e in entries] == [
        ("a.wav_0_32000.wav", "voice", "EN", ""),
        ("a.wav_32000_64000.wav", "voice", "EN", ""),
    ]
