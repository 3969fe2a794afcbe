"""The watermark (core/ethics): inaudible, robust to codecs and edits, keyed, and silent on unmarked audio.

Test audio: espeak-ng speech (English, and Mandarin through pinyin), a synthetic music-like signal, and an
output of the tiny fixture models (tests/conformance). Codec round trips use ffmpeg (MP3 128k, Opus 64k).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from core.cli import main
from core.errors import WatermarkError, WorkspaceError
from core.ethics import (
    InstallKey,
    StreamEmbedder,
    append_usage,
    detect,
    embed,
    find_generation,
    load_install_key,
    new_generation_id,
    read_usage,
    self_check,
    sign,
    usage_record,
)
from core.ethics import watermark as wm

KEY = InstallKey(0x1234, bytes(range(32)))
FOREIGN_KEY = InstallKey(0x1234, bytes(range(1, 33)))  # same install id, another secret: a forgery
GENERATION_ID = 0xABCDE
MIN_SNR_DB = 35.0
TRIM_SECONDS = 0.37
NOISE_SNR_DB = 30.0
VOLUME_DB = 6.0
EN_TEXT = (
    "The rainbow is a division of white light into many beautiful colors, shaped like a long round arch."
)
ZH_PINYIN = "wo3 men5 jin1 tian1 zao3 shang5 qu4 gong1 yuan2 san4 bu4, tian1 qi4 fei1 chang2 hao3."
UNMARKED_WINDOWS = 200
WINDOW_SECONDS = 1.0


def _espeak(voice: str, text: str, path: Path) -> tuple[np.ndarray, int]:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    audio, sr = sf.read(str(path), dtype="float32")
    return audio, int(sr)


def _music(sr: int = 44100, seconds: float = 4.0) -> np.ndarray:
    """Plucked harmonic notes (a decaying arpeggio) over noise bursts on the beat."""
    t = np.arange(int(sr * seconds)) / sr
    x = np.zeros_like(t)
    notes_hz = (220.0, 277.2, 329.6, 440.0, 392.0, 293.7)
    for i, f0 in enumerate(notes_hz):
        start = i * seconds / len(notes_hz)
        envelope = np.exp(-3 * np.clip(t - start, 0, None)) * (t >= start)
        for h in range(1, 12):
            x += envelope * np.sin(2 * np.pi * f0 * h * t) / h**1.2
    beats = (np.floor(t * 4) != np.floor((t - 1 / sr) * 4)).astype(float)
    bursts = np.convolve(beats, np.exp(-np.arange(2000) / 200), "same")
    x += 0.3 * np.random.default_rng(0).standard_normal(len(t)) * bursts
    return (0.4 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def clips(
    tmp_path_factory: pytest.TempPathFactory, conformance_dir: Path
) -> dict[str, tuple[np.ndarray, int]]:
    """Unmarked test clips, 4–8 s each: name -> (float32 (n,), sr)."""
    tmp = tmp_path_factory.mktemp("wm")
    model_out, model_sr = sf.read(
        str(conformance_dir / "cases" / "tts_e2e_cut5" / "audio.wav"), dtype="float32"
    )
    return {
        "en": _espeak("en-us", EN_TEXT, tmp / "en.wav"),
        "cmn": _espeak("cmn-latn-pinyin", ZH_PINYIN, tmp / "zh.wav"),
        "music": (_music(), 44100),
        "fixture_model": (model_out, int(model_sr)),
    }


@pytest.fixture(scope="module")
def marked(clips: dict) -> dict[str, tuple[np.ndarray, int]]:
    payload = sign(KEY, GENERATION_ID)
    return {name: (embed(audio, sr, payload), sr) for name, (audio, sr) in clips.items()}


def _codec(audio: np.ndarray, sr: int, codec: str, bitrate: str, tmp: Path) -> np.ndarray:
    """Encode and decode with ffmpeg (recipes f); same rate, mono, time-aligned."""
    src, enc, dec = tmp / "in.wav", tmp / f"enc.{'mp3' if codec == 'libmp3lame' else 'opus'}", tmp / "dec.wav"
    sf.write(str(src), audio, sr, subtype="PCM_16")
    ffmpeg = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    subprocess.run([*ffmpeg, "-i", str(src), "-c:a", codec, "-b:a", bitrate, str(enc)], check=True)
    subprocess.run(
        [*ffmpeg, "-i", str(enc), "-ar", str(sr), "-ac", "1", "-c:a", "pcm_s16le", str(dec)], check=True
    )
    return sf.read(str(dec), dtype="float32")[0]


def _white_noise(audio: np.ndarray, snr_db: float) -> np.ndarray:
    noise = np.random.default_rng(0).standard_normal(len(audio))
    scale = np.sqrt(np.mean(audio.astype(np.float64) ** 2) / np.mean(noise**2)) / 10 ** (snr_db / 20)
    return (audio + scale * noise).astype(np.float32)


def _resampler(rate: int):
    return lambda x, sr, tmp: (soxr.resample(x, sr, rate), rate)


TRANSFORMS = {
    "mp3_128k": lambda x, sr, tmp: (_codec(x, sr, "libmp3lame", "128k", tmp), sr),
    "opus_64k": lambda x, sr, tmp: (_codec(x, sr, "libopus", "64k", tmp), sr),
    **{f"resample_{rate}": _resampler(rate) for rate in (16000, 22050, 44100, 48000)},
    "volume_up_6db": lambda x, sr, tmp: (x * 10 ** (VOLUME_DB / 20), sr),
    "volume_down_6db": lambda x, sr, tmp: (x * 10 ** (-VOLUME_DB / 20), sr),
    "trim_start_0.37s": lambda x, sr, tmp: (x[int(TRIM_SECONDS * sr) :], sr),
    "white_noise_30db": lambda x, sr, tmp: (_white_noise(x, NOISE_SNR_DB), sr),
}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_payload_survives(transform: str, marked: dict, tmp_path: Path) -> None:
    payload = sign(KEY, GENERATION_ID)
    for name, (audio, sr) in marked.items():
        attacked, attacked_sr = TRANSFORMS[transform](audio, sr, tmp_path)
        found = detect(attacked, attacked_sr, [KEY])
        assert found.detected, f"{name} after {transform}: not detected (z {found.confidence:.1f})"
        assert found.false_alarm_probability < wm.FALSE_ALARM_THRESHOLD
        assert found.payload == payload, f"{name} after {transform}: payload {found.payload}"
        assert found.signed_by_this_install is True


@pytest.mark.parametrize("cuts_s", [(0.5, 1.7, 1.72, 3.1), (2.56, 5.12)])
def test_a_stream_marked_piece_by_piece_carries_the_whole_marks_payload_after_mp3(
    cuts_s: tuple[float, ...], clips: dict, tmp_path: Path
) -> None:
    """Pieces cut anywhere (even a few ms long, or on block edges), marked one by one as a stream sends
    them, join into audio whose mark reads as one: the payload survives MP3, and the join is inaudible."""
    payload = sign(KEY, GENERATION_ID)
    for name in ("en", "fixture_model"):
        audio, sr = clips[name]
        marker = StreamEmbedder(sr, payload)
        pieces = np.split(audio, [round(cut * sr) for cut in cuts_s])
        joined = np.concatenate([marker.mark(piece) for piece in pieces])
        assert joined.shape == audio.shape and joined.dtype == audio.dtype
        mark = joined.astype(np.float64) - audio
        assert 10 * np.log10(np.sum(audio.astype(np.float64) ** 2) / np.sum(mark**2)) >= MIN_SNR_DB - 0.5
        found = detect(*TRANSFORMS["mp3_128k"](joined, sr, tmp_path), [KEY])
        assert found.payload == payload and found.signed_by_this_install is True, (name, found)


def test_mark_is_inaudible_by_snr(clips: dict, marked: dict) -> None:
    for name, (audio, _) in clips.items():
        mark = marked[name][0].astype(np.float64) - audio
        snr_db = 10 * np.log10(np.sum(audio.astype(np.float64) ** 2) / np.sum(mark**2))
        assert snr_db >= MIN_SNR_DB, f"{name}: SNR {snr_db:.1f} dB"


def test_digital_silence_stays_silent(clips: dict) -> None:
    audio, sr = clips["en"]
    gap = np.zeros(sr, dtype=np.float32)
    with_gap = np.concatenate([audio, gap, audio])
    out = embed(with_gap, sr, sign(KEY, 1))
    start = len(audio) + sr // 10  # leave the resampler's few-ms tail at the edges
    assert np.all(out[start : len(audio) + sr - sr // 10] == 0)
    assert np.all(embed(gap, sr, sign(KEY, 1)) == 0)


def test_dtype_and_length_are_kept(clips: dict) -> None:
    audio, sr = clips["cmn"]
    pcm = np.round(audio * 32767).astype(np.int16)
    out = embed(pcm, sr, sign(KEY, 2))
    assert out.dtype == np.int16 and out.shape == pcm.shape
    assert detect(out, sr, [KEY]).payload == sign(KEY, 2)
    assert embed(audio.astype(np.float64), sr, sign(KEY, 2)).dtype == np.float64


def test_presence_on_a_one_second_clip(marked: dict) -> None:
    for name in ("en", "cmn", "music", "fixture_model"):
        audio, sr = marked[name]
        window = audio[int(1.3 * sr) : int(2.3 * sr)]
        found = detect(window, sr)
        assert found.detected, f"{name}: 1 s window not detected (z {found.confidence:.1f})"


def test_no_false_alarm_on_unmarked_audio(clips: dict) -> None:
    """A few hundred 1 s windows of unmarked speech, music, model output, noise: none is flagged."""
    windows = []
    rng = np.random.default_rng(1)
    sources = [
        *clips.values(),
        (np.random.default_rng(2).standard_normal(16000 * 5).astype(np.float32) * 0.1, 16000),
    ]
    while len(windows) < UNMARKED_WINDOWS:
        audio, sr = sources[len(windows) % len(sources)]
        n = int(WINDOW_SECONDS * sr)
        start = int(rng.integers(0, len(audio) - n))
        windows.append((audio[start : start + n], sr))
    flagged = [i for i, (audio, sr) in enumerate(windows) if detect(audio, sr).detected]
    assert flagged == []
    assert not detect(np.zeros(48000, dtype=np.float32), 48000).detected


def test_foreign_mark_is_detected_but_not_ours(clips: dict) -> None:
    audio, sr = clips["en"]
    forged = embed(audio, sr, sign(FOREIGN_KEY, GENERATION_ID))
    found = detect(forged, sr, [KEY])
    assert found.detected
    assert found.payload is not None and found.payload.install_id == KEY.install_id
    assert found.signed_by_this_install is False
    assert detect(forged, sr, [FOREIGN_KEY]).signed_by_this_install is True
    assert detect(forged, sr).signed_by_this_install is None


def test_payload_bits_round_trip_and_crc_rejects_corruption() -> None:
    payload = sign(KEY, GENERATION_ID)
    bits = wm.payload_to_bits(payload)
    assert len(bits) == wm.PAYLOAD_BITS == 64
    assert wm.bits_to_payload(bits) == payload
    flipped = bits.copy()
    flipped[5] ^= 1
    assert wm.bits_to_payload(flipped) is None
    coded = wm.conv_encode(bits).astype(float) * 2 - 1
    coded[::9] *= -1  # 1 coded bit in 9 wrong
    assert np.array_equal(wm.viterbi_decode(coded, wm.PAYLOAD_BITS), bits)


def test_generation_id_out_of_range_is_rejected() -> None:
    with pytest.raises(WatermarkError, match="24 bits"):
        sign(KEY, 1 << 24)


def test_self_check_passes_and_catches_a_broken_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    self_check(KEY)
    monkeypatch.setattr(wm, "embed", lambda audio, sr, payload, key=None, params=None: audio.copy())
    with pytest.raises(WatermarkError, match="unchanged"):
        self_check(KEY)


def test_install_key_is_made_once_and_private(tmp_path: Path) -> None:
    key = load_install_key(tmp_path)
    assert load_install_key(tmp_path) == key
    path = tmp_path / ".timbre" / "install.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_install_key(tmp_path / "other") != key
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(WatermarkError, match="unreadable install key"):
        load_install_key(tmp_path)


def test_cli_embeds_then_detects_as_json(clips: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    audio, sr = clips["en"]
    src, out = tmp_path / "in" / "voice.wav", tmp_path / "out" / "voice_marked.wav"
    src.parent.mkdir()
    out.parent.mkdir()
    sf.write(str(src), audio, sr, subtype="PCM_16")
    workspace = tmp_path / "ws"
    assert (
        main(["watermark", "embed", str(src), str(out), "--payload", "0x42", "--workspace", str(workspace)])
        == 0
    )
    capsys.readouterr()
    assert (
        main(["watermark", "detect", "--json", str(src.parent), str(out), "--workspace", str(workspace)]) == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_file = {Path(line["file"]).name: line for line in lines}
    assert by_file["voice.wav"]["detected"] is False and by_file["voice.wav"]["payload"] is None
    hit = by_file["voice_marked.wav"]
    assert hit["detected"] is True and hit["false_alarm_probability"] < 1e-6
    assert hit["payload"]["generation_id"] == 0x42
    assert hit["payload"]["install_id"] == load_install_key(workspace).install_id
    assert hit["signed_by_this_install"] is True


def test_usage_log_finds_the_generation_of_a_detected_mark(clips: dict, tmp_path: Path) -> None:
    audio, sr = clips["cmn"]
    workspace = tmp_path / "ws"
    key = load_install_key(workspace)
    payload = sign(key, new_generation_id())
    out = workspace / "outputs" / "tts.wav"
    out.parent.mkdir(parents=True)
    sf.write(str(out), embed(audio, sr, payload), sr, subtype="PCM_16")
    record = usage_record(workspace, out, interface="cli", payload=payload, text="你好", privacy=True)
    append_usage(workspace, record)
    append_usage(workspace, usage_record(workspace, out, interface="api", payload=None, text="off"))
    found = detect(*sf.read(str(out), dtype="float32"), [key])
    (line,) = find_generation(workspace, found.payload)
    assert line["interface"] == "cli" and line["output"] == "outputs/tts.wav" and line["watermark"] == "on"
    assert line["text"] is None and len(line["text_sha256"]) == 64  # privacy mode keeps only the hash
    assert [r["watermark"] for r in read_usage(workspace)] == ["on", "off"]


def test_usage_log_that_cannot_be_written_fails_loudly(tmp_path: Path) -> None:
    out = tmp_path / "a.wav"
    sf.write(str(out), np.zeros(160, dtype=np.float32), 16000)
    (tmp_path / "logs" / "usage.jsonl").mkdir(parents=True)  # a folder where the log file should be
    with pytest.raises(WorkspaceError, match="usage log"):
        append_usage(tmp_path, usage_record(tmp_path, out, interface="ui", payload=sign(KEY, 3)))
