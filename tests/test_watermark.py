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
RANDOM_READS = 100  # key-aided reads of random tile phasors (about 12 ms each)


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
    assert found.payload == sign(FOREIGN_KEY, GENERATION_ID)  # the plain read: key-aided reading invents none
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


def _ideal_phasors(payload: wm.Payload, flipped: range = range(0)) -> np.ndarray:
    """The block-aligned tile phasors of a clean mark of `payload`, with the coded bits `flipped` inverted on
    every tile that carries them (a burst of errors no plain read survives)."""
    layout = wm._layout()
    coded = wm.conv_encode(wm.payload_to_bits(payload)).astype(float)
    data = layout.data_bit >= 0
    sign_ = np.where(data, 1 - 2 * coded[np.maximum(layout.data_bit, 0)], 1.0)
    return layout.dither * np.where(np.isin(layout.data_bit, list(flipped)), -sign_, sign_)


def test_list_viterbi_returns_the_best_paths_in_order() -> None:
    n_bits, list_size = 10, 6
    messages = np.array([[(m >> (n_bits - 1 - i)) & 1 for i in range(n_bits)] for m in range(1 << n_bits)])
    codewords = np.array([wm.conv_encode(m.astype(np.uint8)) * 2.0 - 1 for m in messages])
    soft = np.random.default_rng(3).standard_normal(codewords.shape[1])
    best = np.sort(codewords @ soft)[::-1]
    decoded = wm.list_viterbi_decode(soft, n_bits, list_size)
    scores = [(wm.conv_encode(bits) * 2.0 - 1) @ soft for bits in decoded]
    assert np.allclose(scores, best[:list_size])
    known = messages[:, :3] == [1, 0, 1]  # with the first three bits pinned: the best among those paths
    pinned = wm.list_viterbi_decode(soft, n_bits, list_size, np.array([1, 0, 1]))
    assert (pinned[:, :3] == [1, 0, 1]).all()
    pinned_scores = [(wm.conv_encode(bits) * 2.0 - 1) @ soft for bits in pinned]
    assert np.allclose(pinned_scores, np.sort(codewords[known.all(axis=1)] @ soft)[::-1][:list_size])


@pytest.mark.parametrize(
    ("burst", "pinning_alone_reads"),
    [(range(0, 24), True), (range(72, 87), False)],  # over the install id; in the generation id (the list)
    ids=["install_id", "generation_id"],
)
def test_key_aided_read_recovers_what_the_plain_read_loses(burst: range, pinning_alone_reads: bool) -> None:
    payload = sign(KEY, GENERATION_ID)
    folded = _ideal_phasors(payload, burst)
    plain = wm.decode_payload(folded)
    assert plain.payload is None and plain.signed_by_this_install is None  # the CRC rejects the plain read
    soft, truth = wm._soft_bits(folded, wm._layout()), wm.payload_to_bits(payload)
    pinned = wm.list_viterbi_decode(soft, wm.PAYLOAD_BITS, 1, truth[: wm.INSTALL_ID_BITS])[0]
    assert np.array_equal(pinned, truth) == pinning_alone_reads
    read = wm.decode_payload(folded, [FOREIGN_KEY, KEY])
    assert read.payload == payload and read.signed_by_this_install is True
    assert np.array_equal(read.bits, plain.bits)  # the plain read's bits, as benches count bit errors
    # the same burst on a foreign mark: nothing is invented for a key that did not make it
    forged = wm.decode_payload(_ideal_phasors(sign(FOREIGN_KEY, GENERATION_ID), burst), [KEY])
    assert forged.payload is None and forged.signed_by_this_install is None


def test_a_foreign_marks_clean_read_is_kept_and_not_ours() -> None:
    for other in (FOREIGN_KEY, InstallKey(0x4321, bytes(range(2, 34)))):
        payload = sign(other, GENERATION_ID)
        read = wm.decode_payload(_ideal_phasors(payload), [KEY])
        assert read.payload == payload and read.signed_by_this_install is False


def test_random_soft_values_are_never_accepted_as_ours() -> None:
    rng = np.random.default_rng(7)
    shape = (wm.SLOTS_PER_BLOCK, wm.N_SUBBANDS)
    for _ in range(RANDOM_READS):
        folded = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        read = wm.decode_payload(folded, [KEY])
        assert read.signed_by_this_install is not True
        assert read.payload == wm.bits_to_payload(read.bits)  # the plain read, never a list candidate


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
