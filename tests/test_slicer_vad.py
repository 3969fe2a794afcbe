"""The slicer's VAD mode (silero-vad) on the espeak-ng recordings with known silences of tests/test_slicer.py.

Every cut must fall inside a known silence (in its middle when the gap is short), no clip may cross a
silence of at least min_interval, the maximum clip length and minimum length rules must hold.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from core.audio import resample
from core.data.slicer import SLICE_SR, SLICER_MODES, SliceError, SlicerSettings, find_clips, slice_file
from core.data.vad import VAD_SR, VAD_WINDOW, speech_probabilities
from tests.test_slicer import SENTENCES, _check_cuts, _recording

VAD = SlicerSettings(mode="vad")
WINDOW_S = VAD_WINDOW / VAD_SR


def _crosses(clip, silences) -> bool:
    return any(clip.start < start and end < clip.end for start, end in silences)


@pytest.mark.parametrize("snr_db", [30.0, 0.0])
def test_every_gap_is_cut_in_its_middle_and_no_clip_crosses_one(tmp_path, snr_db):
    wav, silences, _ = _recording(tmp_path, [0.6, 0.8, 1.5], snr_db=snr_db)
    clips = find_clips(wav, SLICE_SR, VAD)
    _check_cuts(clips, wav.shape[0], silences)
    assert len(clips) == len(SENTENCES)
    inner = silences[1:-1]
    assert not any(_crosses(clip, inner) for clip in clips)
    keep = VAD.max_sil_kept_ms * SLICE_SR // 1000
    for (start, end), (before, after) in zip(inner[:2], zip(clips[:2], clips[1:3], strict=True), strict=True):
        assert before.end == after.start  # gaps up to 2 × max_sil_kept are cut once, near their middle
        assert abs(before.end - (start + end) / 2) < 0.15 * SLICE_SR
    # 1.5 s: its middle is dropped, max_sil_kept kept on each side (plus the VAD's hangover, up to ~0.2 s)
    long_start, _ = inner[2]
    assert (
        clips[2].end - long_start <= keep + 0.25 * SLICE_SR and clips[3].start - clips[2].end > 0.3 * SLICE_SR
    )
    # leading and trailing silence trimmed to at most max_sil_kept (plus the VAD's 32 ms resolution)
    assert clips[0].start >= silences[0][1] - keep - 2 * WINDOW_S * SLICE_SR
    assert clips[-1].end <= silences[-1][0] + keep + 0.2 * SLICE_SR


def test_a_clip_over_the_maximum_is_split_at_its_quietest_point_inside_a_pause(tmp_path):
    # 100 ms gaps are shorter than min_interval: the VAD keeps going; the 12 s rule splits in pauses.
    wav, _, pauses = _recording(tmp_path, [0.1, 0.1, 0.1])
    clips = find_clips(wav, SLICE_SR, VAD)
    assert len(clips) >= 2 and all(clip.seconds(SLICE_SR) <= 12.0 for clip in clips)
    _check_cuts(clips, wav.shape[0], pauses)
    assert len(find_clips(wav, SLICE_SR, SlicerSettings(mode="vad", max_clip_seconds=1000))) == 1


def test_min_length_keeps_short_sentences_together(tmp_path):
    wav, silences, _ = _recording(tmp_path, [0.6, 0.6, 0.6])
    settings = SlicerSettings(mode="vad", min_length_ms=8000, max_clip_seconds=20)
    clips = find_clips(wav, SLICE_SR, settings)
    _check_cuts(clips, wav.shape[0], silences)
    assert len(clips) == 2  # each sentence lasts 5-6 s: two per clip
    assert all(clip.seconds(SLICE_SR) >= 8.0 for clip in clips[:-1])


def test_audio_without_speech_gives_no_clip():
    assert find_clips(np.zeros(3 * SLICE_SR, dtype=np.float32), SLICE_SR, VAD) == []
    noise = np.random.default_rng(3).standard_normal(3 * SLICE_SR).astype(np.float32) * 0.05
    assert find_clips(noise, SLICE_SR, VAD) == []


def test_speech_probabilities_cover_the_signal_at_any_rate(tmp_path):
    wav, silences, _ = _recording(tmp_path, [0.8])
    for sr in (SLICE_SR, 16000, 44100):
        x = resample(wav, SLICE_SR, sr)
        probs = speech_probabilities(x, sr)
        assert abs(probs.shape[0] - x.shape[0] / sr / WINDOW_S) <= 1
        gap = silences[1]
        inside = probs[int(gap[0] / SLICE_SR / WINDOW_S) + 4 : int(gap[1] / SLICE_SR / WINDOW_S) - 2]
        assert inside.max() < 0.35 and probs.max() > 0.9


def test_unknown_mode_is_refused_and_the_command_offers_the_modes():
    from core.cli.dataset import _SLICER_MODES

    with pytest.raises(SliceError, match="rms, vad"):
        SlicerSettings(mode="energy")
    assert _SLICER_MODES == SLICER_MODES


def test_slice_command_in_vad_mode(tmp_path, capsys):
    from core.cli import main as cli

    wav, _, _ = _recording(tmp_path, [0.8])
    sf.write(tmp_path / "talk.wav", wav, SLICE_SR, subtype="PCM_16")
    assert (
        cli(["dataset", "slice", str(tmp_path / "talk.wav"), "--out", str(tmp_path / "o"), "--mode", "vad"])
        == 0
    )
    assert "talk.wav: 2 clip(s)" in capsys.readouterr().out
    files = slice_file(tmp_path / "talk.wav", tmp_path / "p", VAD)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(p.name for p in files)


def test_the_dataset_tab_builds_settings_from_the_fields_and_passes_them_to_the_job(
    tmp_path, conformance_dir
):
    import dataclasses

    import gradio as gr

    from tests.test_webui_dataset import _ctx
    from webui.dataset import SLICER_LABELS, slicer_settings, submit_slice

    assert list(SLICER_LABELS) == [f.name for f in dataclasses.fields(SlicerSettings)]
    values = [-40.0, 3000.0, 300.0, 10.0, 400.0, 10.0, 0.9, 0.25, "vad"]  # Gradio numbers may be floats
    settings = slicer_settings(values, "en")
    assert settings == SlicerSettings(-40.0, 3000, 300, 10, 400, 10.0, 0.9, 0.25, "vad")
    assert isinstance(settings.min_length_ms, int)
    with pytest.raises(gr.Error, match="min_length"):
        slicer_settings([-40.0, 100, 300, 10, 400, 10.0, 0.9, 0.25, "vad"], "en")
    ctx = _ctx(tmp_path, conformance_dir)
    raw = ctx.workspace.root / "datasets" / "voice" / "raw"
    raw.mkdir(parents=True)
    sf.write(raw / "a.wav", np.zeros(SLICE_SR, dtype=np.float32), SLICE_SR)
    params = ctx.queue.get(submit_slice(ctx, "voice", "en", settings, denoise=True).id).params
    assert params.settings == settings
    assert params.denoise_dir == str(ctx.workspace.root / "datasets" / "voice" / "denoised")
    assert ctx.queue.get(submit_slice(ctx, "voice", "en").id).params.denoise_dir is None
