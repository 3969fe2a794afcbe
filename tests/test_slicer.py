"""The slicer on synthetic speech with known silences (espeak-ng sentences, digital gaps, noise at 30 dB SNR).

Every cut must fall inside a known silence, no clip may cross one of the long silences, and no clip may
exceed the maximum length.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio import resample
from core.data.slicer import (
    SLICE_SR,
    Clip,
    SliceError,
    SlicerSettings,
    find_clips,
    frame_rms,
    normalize_clip,
    slice_file,
)

# Each says about 5-6 s at 150 words per minute (longer than the slicer's 4 s minimum clip), no commas;
# espeak-ng pauses at most ~0.2 s inside them (below the slicer's 0.3 s minimum interval).
SENTENCES = (
    "Many people believe that reading a good book before sleeping helps them relax after a long day",
    "Scientists have discovered a new species of frog living deep in the tropical rain forest",
    "Every summer the family drives north to spend two weeks by the lake fishing and swimming",
    "The young musician practiced the difficult piano piece for hours until her fingers were tired",
)
SNR_DB = 30.0


def _sentence(tmp: Path, text: str, index: int) -> np.ndarray:
    """espeak-ng speech at 32 kHz, leading and trailing silence trimmed."""
    raw = tmp / f"raw_{index}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
    wav, sr = sf.read(raw, dtype="float32")
    wav = resample(wav, sr, SLICE_SR)
    loud = np.flatnonzero(np.abs(wav) > 0.01 * np.abs(wav).max())
    return wav[loud[0] : loud[-1] + 1]


def _recording(
    tmp: Path, gaps_s: list[float], seed: int = 0, snr_db: float = SNR_DB
) -> tuple[np.ndarray, list, list]:
    """Sentences joined by silences of `gaps_s` (plus 0.5 s before and after), noise at `snr_db`.

    Returns the signal, the inserted silences and every silence (the pauses inside the speech too) as
    [start, end) sample ranges.
    """
    pieces, silences, pos = [], [], 0
    edge = int(0.5 * SLICE_SR)
    for i, text in enumerate(SENTENCES[: len(gaps_s) + 1]):
        gap = edge if i == 0 else int(gaps_s[i - 1] * SLICE_SR)
        pieces.append(np.zeros(gap, dtype=np.float32))
        silences.append((pos, pos + gap))
        pos += gap
        speech = _sentence(tmp, text, i)
        pieces.append(speech)
        pos += speech.shape[0]
    pieces.append(np.zeros(edge, dtype=np.float32))
    silences.append((pos, pos + edge))
    clean = np.concatenate(pieces) * 0.5
    noise = np.random.default_rng(seed).standard_normal(clean.shape[0])
    gain = np.sqrt(np.mean(clean**2)) / (np.sqrt(np.mean(noise**2)) * 10 ** (snr_db / 20))
    return (clean + gain * noise).astype(np.float32), silences, silences + _pauses(clean)


def _pauses(clean: np.ndarray, min_ms: float = 100.0) -> list[tuple[int, int]]:
    """Pauses inside the clean speech: runs of 10 ms frames below the slicer's threshold, at least min_ms."""
    hop = SLICE_SR // 100
    quiet = list(frame_rms(clean, 4 * hop, hop) < 10 ** (SlicerSettings().threshold_db / 20)) + [False]
    runs, start = [], None
    for i, value in enumerate(quiet):
        if value and start is None:
            start = i
        elif not value and start is not None:
            if (i - start) * 10 >= min_ms:
                runs.append((start * hop, i * hop))
            start = None
    return runs


def _in_silence(position: int, silences: list[tuple[int, int]]) -> bool:
    return any(start <= position <= end for start, end in silences)


def _check_cuts(clips: list[Clip], n: int, silences: list[tuple[int, int]]) -> None:
    for clip in clips:
        for edge in (clip.start, clip.end):
            if edge not in (0, n):
                assert _in_silence(edge, silences), f"cut at {edge / SLICE_SR:.3f} s is not in a silence"
    for a, b in zip(clips, clips[1:], strict=False):
        assert a.end <= b.start


def test_every_long_silence_is_cut_and_no_clip_crosses_one(tmp_path):
    wav, silences, _ = _recording(tmp_path, [0.6, 0.8, 1.5])
    clips = find_clips(wav, SLICE_SR)
    _check_cuts(clips, wav.shape[0], silences)
    assert len(clips) == len(SENTENCES)
    inner = silences[1:-1]
    for clip in clips:
        assert not any(clip.start < start and end < clip.end for start, end in inner), clip
        assert clip.seconds(SLICE_SR) <= SlicerSettings().max_clip_seconds


def test_a_clip_over_the_maximum_is_split_inside_a_short_pause(tmp_path):
    # 100 ms pauses are shorter than min_interval (300 ms): the reference's slicer keeps all four sentences
    # in one clip of ~24 s; the 12 s maximum splits it at pauses.
    wav, _, silences = _recording(tmp_path, [0.1, 0.1, 0.1])
    reference_only = find_clips(wav, SLICE_SR, SlicerSettings(max_clip_seconds=1000))
    assert len(reference_only) == 1 and reference_only[0].seconds(SLICE_SR) > 20
    clips = find_clips(wav, SLICE_SR)
    assert len(clips) >= 2
    assert all(clip.seconds(SLICE_SR) <= 12.0 for clip in clips)
    _check_cuts(clips, wav.shape[0], silences)


def test_silence_only_and_short_audio_give_one_clip_each():
    silence = np.zeros(SLICE_SR * 3, dtype=np.float32)
    assert len(find_clips(silence, SLICE_SR)) <= 1
    short = np.random.default_rng(1).standard_normal(SLICE_SR).astype(np.float32) * 0.1
    assert find_clips(short, SLICE_SR) == [Clip(0, SLICE_SR)]
    with pytest.raises(SliceError, match="non-empty"):
        find_clips(np.zeros(0, dtype=np.float32), SLICE_SR)


def test_inconsistent_settings_are_refused_with_the_rule():
    with pytest.raises(SliceError, match="min_length ≥ min_interval"):
        SlicerSettings(min_length_ms=200, min_interval_ms=300)
    with pytest.raises(SliceError, match="max_sil_kept"):
        SlicerSettings(max_sil_kept_ms=5, hop_size_ms=10)
    with pytest.raises(SliceError, match="too short"):
        SlicerSettings(max_clip_seconds=0.1)


def test_normalize_clip_mixes_levels_as_the_reference():
    x = np.array([0.0, 0.5, -0.25], dtype=np.float32)
    y = normalize_clip(x)  # x / 0.5 * (0.9 * 0.25) + 0.75 * x, × 32767 truncated
    expected = (x / 0.5 * np.float32(0.9 * 0.25) + np.float32(0.75) * x) * 32767
    np.testing.assert_array_equal(y, expected.astype(np.int16))
    assert not normalize_clip(np.zeros(4, dtype=np.float32)).any()


def test_slice_file_writes_clips_named_by_their_samples(tmp_path):
    wav, _, _ = _recording(tmp_path, [0.8])
    source = tmp_path / "talk.wav"
    sf.write(source, resample(wav, SLICE_SR, 44100), 44100, subtype="PCM_16")
    files = slice_file(source, tmp_path / "out")
    assert len(files) == 2
    for path in files:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (SLICE_SR, 1, "PCM_16")
        start, end = (int(part) for part in path.stem.split("_")[-2:])
        assert path.name.startswith("talk.wav_") and info.frames == end - start


def test_flags_of_the_slice_command_match_the_settings():
    import dataclasses

    from core.cli.dataset import _SLICER_FLAGS

    fields = [(f.name, f.default) for f in dataclasses.fields(SlicerSettings)]
    assert fields == [(name, default) for name, default, _ in _SLICER_FLAGS]


def test_slice_command_slices_good_files_and_reports_bad_ones(tmp_path, capsys):
    from core.cli import main as cli

    wav, _, _ = _recording(tmp_path, [0.8])
    sf.write(tmp_path / "talk.wav", wav, SLICE_SR, subtype="PCM_16")
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    code = cli(
        [
            "dataset",
            "slice",
            str(tmp_path / "talk.wav"),
            str(tmp_path / "broken.wav"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 1
    captured = capsys.readouterr()
    assert "talk.wav: 2 clip(s)" in captured.out and "broken.wav" in captured.err
    assert len(list((tmp_path / "o").glob("talk.wav_*.wav"))) == 2
    assert (
        cli(
            [
                "dataset",
                "slice",
                str(tmp_path / "talk.wav"),
                "--out",
                str(tmp_path / "p"),
                "--min-length-ms",
                "100",
            ]
        )
        == 2
    )
    assert "min_length" in capsys.readouterr().err


def test_frame_rms_in_blocks_equals_the_whole_signal_at_once(monkeypatch):
    import core.data.slicer as slicer

    x = np.random.default_rng(2).standard_normal(100_003).astype(np.float32)
    whole = slicer.frame_rms(x, 1280, 320)
    monkeypatch.setattr(slicer, "_RMS_BLOCK_FRAMES", 7)
    np.testing.assert_allclose(slicer.frame_rms(x, 1280, 320), whole, rtol=1e-9, atol=1e-12)
    padded = np.pad(x.astype(np.float64), (640, 640))
    direct = [np.sqrt(np.mean(padded[i * 320 : i * 320 + 1280] ** 2)) for i in range(whole.shape[0])]
    np.testing.assert_allclose(whole, direct, rtol=1e-9)


@pytest.mark.slow
def test_a_two_hour_recording_is_sliced_in_bounded_memory_with_progress(tmp_path):
    import tracemalloc

    wav, _, _ = _recording(tmp_path, [0.6, 0.8, 0.5])  # ~25 s
    minute = np.tile(wav, int(np.ceil(60 * SLICE_SR / wav.shape[0])))[: 60 * SLICE_SR]
    source = tmp_path / "long.wav"
    with sf.SoundFile(source, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
        block = resample(minute, SLICE_SR, 16000)
        for _ in range(120):
            f.write(block)
    progress = []
    tracemalloc.start()
    try:
        files = slice_file(source, tmp_path / "clips", on_progress=lambda p, m: progress.append(p))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    decoded_bytes = 2 * 3600 * SLICE_SR * 4
    assert peak < 64 * 2**20, (
        f"peak {peak / 2**20:.0f} MiB while the decoded signal is {decoded_bytes >> 20} MiB"
    )
    assert len(files) > 400 and progress[-1] == 1.0 and progress == sorted(progress)
    assert all(sf.info(p).duration <= 12.0 for p in files[:: max(1, len(files) // 50)])
