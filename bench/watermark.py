"""Benchmark: the watermark's robustness, false alarms, inaudibility and cost (core/ethics/watermark.py).

Clips: espeak-ng sentences in several English voices and Mandarin (pinyin voice), synthetic music-like
signals, and the tiny fixture models' outputs (tests/conformance). Each clip is marked with a fresh payload,
then every transform is applied and the detector run. Prints one table:

- detection rate per transform (clips ≥ 1 s after the transform); on clips ≥ 3 s, the payload read exactly
  and verified as `detect` reads it with this install's key (key-aided when the plain read fails), and the
  plain read's successes and bit errors (before the CRC); the same reads with two foreign keys, which must
  never verify;
- false alarms on unmarked windows (1 s and 3 s, speech, music, model output, noise);
- SNR over each clip, and the mark's level in the quietest tenth of 20 ms frames (absolute, dBFS, and
  relative to the audio there);
- embed time per second of audio, as a share of synthesis time (RTF from shared/design.md).

    python bench/watermark.py [--clips 200] [--windows 3000] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from core.ethics import watermark as wm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_CASES = ROOT / "tests" / "conformance" / "cases"
KEY = wm.InstallKey(0x0BE7, b"bench-install-secret-0123456789ab")
# Keys the bench's marks must not verify under: another install, and a forger's key with KEY's install id.
FOREIGN_KEYS = (
    wm.InstallKey(0x5EED, b"another-install-secret-abcdefghij"),
    wm.InstallKey(KEY.install_id, b"forged-install-secret-0123456789"),
)
PRESENCE_SECONDS = 1.0
PAYLOAD_SECONDS = 3.0
QUIET_FRAME_SECONDS = 0.02
QUIET_FRACTION = 0.1
# Timbre's whole pipeline, CPU, 2 threads, clip cached, default precision (README's Speed table, measured
# 2026-12-07 with bench/synthesis.py), and the target.
SYNTHESIS_RTF_NOW = 0.271
SYNTHESIS_RTF_TARGET = 0.35

EN_SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the quiet river bank.",
    "She sells sea shells by the sea shore while the children play in the sand.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "A watermark should survive compression, resampling and a little noise.",
    "Voice cloning is a powerful tool that must be used with the consent of the speaker.",
    "Numbers like forty two and seven hundred are read aloud by the synthesizer.",
    "The rainbow is a division of white light into many beautiful colors.",
    "Yesterday the weather was cold and windy, but today the sun is shining brightly.",
    "He walked slowly to the station, thinking about the letter he had forgotten to send.",
    "Our meeting has been moved to Thursday afternoon at half past three.",
    "Scientists have discovered a new species of frog in the mountain forests.",
    "If you want to learn a language, practise a little every single day.",
    "The library closes early on Sundays, so plan your visit accordingly.",
    "Music and mathematics share a surprising number of deep patterns.",
    "Turn left at the second traffic light and the museum is on your right.",
    "Every morning she drinks a cup of green tea before reading the news.",
    "The old bridge was rebuilt after the flood washed away its wooden planks.",
    "Good software is written for people to read, and only incidentally for machines.",
    "Keep the receipt in case you need to return the jacket next week.",
    "The orchestra tuned their instruments while the audience found their seats.",
    "Please speak clearly into the microphone so that everyone can hear you.",
    "The children built a castle of sand that the evening tide slowly erased.",
    "A small boat drifted across the lake under a sky full of bright stars.",
    "Remember to back up your files before installing the new operating system.",
    "The recipe calls for two eggs, a cup of flour and a pinch of salt.",
)
EN_VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+f2", "en-gb-x-rp")
ZH_PINYIN = (
    "wo3 xi3 huan1 chi1 ping2 guo3 he2 xiang1 jiao1, ye3 xi3 huan1 he1 lv4 cha2.",
    "jin1 tian1 tian1 qi4 hen3 hao3, wo3 men5 qu4 gong1 yuan2 san4 bu4 ba5.",
    "zhe4 ge5 zhou1 mo4 wo3 yao4 qu4 tu2 shu1 guan3 jie4 ji3 ben3 shu1.",
    "qing3 zai4 xia4 yi2 ge5 lu4 kou3 xiang4 zuo3 zhuan3, ran2 hou4 yi1 zhi2 zou3.",
    "ta1 mei3 tian1 zao3 shang5 dou1 hui4 pao3 bu4 ban4 ge5 xiao3 shi2.",
    "sheng1 yin1 ke4 long2 ji4 shu4 bi4 xu1 zai4 shuo1 hua4 ren2 tong2 yi4 hou4 shi3 yong4.",
    "zhe4 jia1 can1 ting1 de5 jiao3 zi5 fei1 chang2 hao3 chi1, jia4 ge2 ye3 bu4 gui4.",
    "ming2 tian1 xia4 wu3 san1 dian3 wo3 men5 zai4 hui4 yi4 shi4 kai1 hui4.",
    "xiao3 hai2 zi5 men5 zai4 hai3 bian1 dui1 le5 yi2 ge5 hen3 da4 de5 sha1 bao3.",
    "ru2 guo3 ni3 xiang3 xue2 hao3 yi1 men2 yu3 yan2, mei3 tian1 dou1 yao4 lian4 xi2.",
)
ZH_VOICES = ("cmn-latn-pinyin", "cmn-latn-pinyin+f3")


# --------------------------------------------------------------------------------------------------
# Clips


def _espeak(voice: str, text: str) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
        audio, sr = sf.read(str(path), dtype="float32")
    return audio, int(sr)


def _music(seed: int, sr: int = 44100) -> np.ndarray:
    """Plucked harmonic notes of a random scale, with noise bursts on a random beat; 3–6 s."""
    rng = np.random.default_rng(seed)
    seconds = float(rng.uniform(3.0, 6.0))
    t = np.arange(int(sr * seconds)) / sr
    x = np.zeros_like(t)
    n_notes = int(rng.integers(4, 10))
    for i in range(n_notes):
        f0 = 110.0 * 2 ** (rng.integers(0, 30) / 12)
        start = i * seconds / n_notes
        envelope = np.exp(-rng.uniform(1, 5) * np.clip(t - start, 0, None)) * (t >= start)
        for h in range(1, int(rng.integers(6, 16))):
            x += envelope * np.sin(2 * np.pi * f0 * h * t) / h ** rng.uniform(0.8, 1.6)
    beats = (np.floor(t * rng.uniform(1.5, 4)) != np.floor((t - 1 / sr) * rng.uniform(1.5, 4))).astype(float)
    x += (
        rng.uniform(0.05, 0.4)
        * rng.standard_normal(len(t))
        * np.convolve(beats, np.exp(-np.arange(2000) / 200), "same")
    )
    return (rng.uniform(0.2, 0.7) * x / np.abs(x).max()).astype(np.float32)


def build_clips(n_clips: int) -> list[tuple[str, np.ndarray, int]]:
    """(name, float32 (n,), sr) for about n_clips clips: speech (≈ 85%), music (≈ 12%), fixture outputs."""
    clips = [(f"model:{p.parent.name}", *_read(p)) for p in sorted(FIXTURE_CASES.glob("tts_e2e*/audio.wav"))]
    n_music = max(1, n_clips // 8)
    clips += [(f"music:{i}", _music(i), 44100) for i in range(n_music)]
    speech = [(v, s) for s in ZH_PINYIN for v in ZH_VOICES] + [
        (v, s) for s in EN_SENTENCES for v in EN_VOICES
    ]
    for voice, text in speech[: max(0, n_clips - len(clips))]:
        clips.append((f"{voice}:{text[:24]}", *_espeak(voice, text)))
    return clips


def _read(path: Path) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(str(path), dtype="float32")
    return audio, int(sr)


# --------------------------------------------------------------------------------------------------
# Transforms (as tests/test_watermark.py)


def _codec(audio: np.ndarray, sr: int, codec: str, bitrate: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        src, enc, dec = (
            Path(tmp) / "in.wav",
            Path(tmp) / f"e.{'mp3' if 'mp3' in codec else 'opus'}",
            Path(tmp) / "d.wav",
        )
        sf.write(str(src), audio, sr, subtype="PCM_16")
        ff = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
        subprocess.run([*ff, "-i", str(src), "-c:a", codec, "-b:a", bitrate, str(enc)], check=True)
        subprocess.run(
            [*ff, "-i", str(enc), "-ar", str(sr), "-ac", "1", "-c:a", "pcm_s16le", str(dec)], check=True
        )
        return sf.read(str(dec), dtype="float32")[0]


def _noise(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    n = np.random.default_rng(seed).standard_normal(len(audio))
    return (
        audio + n * np.sqrt(np.mean(audio.astype(np.float64) ** 2) / np.mean(n**2)) / 10 ** (snr_db / 20)
    ).astype(np.float32)


def _resampled(rate: int):
    return lambda x, sr, seed: (soxr.resample(x, sr, rate), rate)


TRANSFORMS = {
    "none": lambda x, sr, seed: (x, sr),
    "mp3 128k": lambda x, sr, seed: (_codec(x, sr, "libmp3lame", "128k"), sr),
    "opus 64k": lambda x, sr, seed: (_codec(x, sr, "libopus", "64k"), sr),
    **{f"resample {rate / 1000:g}k": _resampled(rate) for rate in (16000, 22050, 44100, 48000)},
    "volume +6 dB": lambda x, sr, seed: (x * 10 ** (6 / 20), sr),
    "volume -6 dB": lambda x, sr, seed: (x * 10 ** (-6 / 20), sr),
    "trim 0.37 s": lambda x, sr, seed: (x[int(0.37 * sr) :], sr),
    "noise 30 dB": lambda x, sr, seed: (_noise(x, 30.0, seed), sr),
}


# --------------------------------------------------------------------------------------------------
# Per-clip work (runs in worker processes)


def _quiet_mark_levels(audio: np.ndarray, mark: np.ndarray, sr: int) -> tuple[float, float]:
    """(mark dBFS, mark relative to audio dB) over the quietest tenth of 20 ms frames."""
    n = int(QUIET_FRAME_SECONDS * sr)
    frames = len(audio) // n
    a = audio[: frames * n].astype(np.float64).reshape(frames, n)
    m = mark[: frames * n].reshape(frames, n)
    energy = (a**2).mean(axis=1)
    quiet = np.argsort(energy)[: max(1, int(QUIET_FRACTION * frames))]
    mark_power, audio_power = float((m[quiet] ** 2).mean()), float(energy[quiet].mean())
    to_db = lambda p: 10 * np.log10(p) if p > 0 else -np.inf  # noqa: E731
    return to_db(mark_power), (to_db(mark_power) - to_db(audio_power)) if audio_power > 0 else -np.inf


def run_clip(item: tuple[int, str, np.ndarray, int]) -> dict:
    index, name, audio, sr = item
    payload = wm.sign(KEY, index)
    start = time.perf_counter()
    marked = wm.embed(audio, sr, payload)
    embed_s = time.perf_counter() - start
    mark = marked.astype(np.float64) - audio
    snr_db = 10 * np.log10(np.sum(audio.astype(np.float64) ** 2) / max(np.sum(mark**2), 1e-30))
    quiet_dbfs, quiet_rel_db = _quiet_mark_levels(audio, mark, sr)
    truth = wm.payload_to_bits(payload)
    results = {}
    for t_name, transform in TRANSFORMS.items():
        attacked, attacked_sr = transform(marked, sr, index)
        seconds = len(attacked) / attacked_sr
        # one search gives presence and the folded phasors; the payload is read from them as `detect` reads
        # it with this install's key, and with foreign keys (which must never verify as this install's)
        z, p, folded = wm._analyse(attacked, attacked_sr, wm.WatermarkParams())
        detected = p < wm.FALSE_ALARM_THRESHOLD
        read = wm.decode_payload(folded, [KEY]) if detected else None
        plain = None if read is None else wm.bits_to_payload(read.bits)
        foreign = [] if read is None else [wm.decode_payload(folded, [k]) for k in FOREIGN_KEYS]
        counted = read is not None and seconds >= PAYLOAD_SECONDS
        results[t_name] = {
            "seconds": seconds,
            "detected": detected,
            "payload_ok": read is not None and read.payload == payload and bool(read.signed_by_this_install),
            "plain_ok": plain == payload,
            "bit_errors": int(np.sum(read.bits != truth)) if counted else None,
            "foreign_signed": sum(f.signed_by_this_install is True for f in foreign),
            "foreign_plain": sum(f.payload == plain for f in foreign),
            "z": z,
        }
    return {
        "name": name,
        "seconds": len(audio) / sr,
        "embed_s": embed_s,
        "snr_db": snr_db,
        "quiet_dbfs": quiet_dbfs,
        "quiet_rel_db": quiet_rel_db,
        "results": results,
    }


def run_window(item: tuple[np.ndarray, int]) -> tuple[bool, float]:
    audio, sr = item
    found = wm.detect(audio, sr)
    return found.detected, found.confidence


def unmarked_windows(clips: list, n_windows: int, seed: int = 0) -> list[tuple[np.ndarray, int]]:
    """n_windows windows of 1 s (3 in 4) and 3 s (1 in 4) from unmarked clips and white/pink noise."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(16000 * 20).astype(np.float32) * 0.1
    pink = np.cumsum(rng.standard_normal(16000 * 20)).astype(np.float32)
    pink = (pink - np.convolve(pink, np.ones(400) / 400, "same")) * 0.01
    sources = [(audio, sr) for _, audio, sr in clips] + [(white, 16000), (pink.astype(np.float32), 16000)]
    windows = []
    while len(windows) < n_windows:
        audio, sr = sources[int(rng.integers(len(sources)))]
        seconds = PAYLOAD_SECONDS if len(windows) % 4 == 3 else PRESENCE_SECONDS
        n = int(seconds * sr)
        if len(audio) <= n:
            continue
        start = int(rng.integers(0, len(audio) - n))
        windows.append((audio[start : start + n], sr))
    return windows


# --------------------------------------------------------------------------------------------------
# Report


def _kind(name: str) -> str:
    return name.split(":")[0] if name.startswith(("music:", "model:")) else "speech"


def _z_threshold() -> float:
    """The z at which the detector's bound crosses its threshold, for every alignment and weighting tried."""
    n_hypotheses = (wm.HOP // wm.SUB_HOP_STEP) * wm.FRAMES_PER_SLOT * wm.SLOTS_PER_BLOCK * wm.N_WEIGHTINGS
    lo, hi = 2.0, 20.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (
            (mid, hi) if wm._false_alarm_bound(mid, n_hypotheses) >= wm.FALSE_ALARM_THRESHOLD else (lo, mid)
        )
    return hi


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--windows", type=int, default=3000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    t0 = time.perf_counter()
    clips = build_clips(args.clips)
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_clip, [(i, *clip) for i, clip in enumerate(clips)], chunksize=2))
        windows = unmarked_windows(clips, args.windows)
        alarms = list(pool.map(run_window, windows, chunksize=16))

    n_speech = sum(not r["name"].startswith(("music:", "model:")) for r in rows)
    n_music = sum(r["name"].startswith("music:") for r in rows)
    print(
        f"\nwatermark bench: {len(rows)} clips ({n_speech} speech, {n_music} music, "
        f"{len(rows) - n_speech - n_music} fixture-model outputs), "
        f"{sum(r['seconds'] for r in rows):.0f} s of audio; load average {os.getloadavg()[0]:.1f}\n"
    )
    header = f"{'transform':<15} {'detected (≥1 s)':>16} {'payload ok (≥3 s)':>18} {'plain read ok':>14}"
    header += f" {'plain bit errors ≥3 s':>22} {'min z':>6}"
    print(header)
    print("-" * len(header))
    for t_name in TRANSFORMS:
        res = [r["results"][t_name] for r in rows]
        presence = [x for x in res if x["seconds"] >= PRESENCE_SECONDS]
        long = [x for x in res if x["seconds"] >= PAYLOAD_SECONDS]
        det = sum(x["detected"] for x in presence)
        ok = sum(x["payload_ok"] for x in long)
        plain_ok = sum(x["plain_ok"] for x in long)
        errors = [x["bit_errors"] for x in long if x["bit_errors"] is not None]
        nonzero = sum(e > 0 for e in errors)
        print(
            f"{t_name:<15} {det:>5}/{len(presence):<4}{100 * det / max(1, len(presence)):5.1f}% "
            f"{ok:>5}/{len(long):<4}{100 * ok / max(1, len(long)):6.1f}% "
            f"{plain_ok:>5}/{len(long):<4}  "
            f"{sum(errors):>12} in {nonzero:>3} clips "
            f"{min(x['z'] for x in presence):6.1f}"
        )
    print(
        "(payload ok: read as `detect` reads it with the bench's key, key-aided list decoding when the "
        f"plain Viterbi read does not verify, list size {wm.KEY_AIDED_LIST_SIZE}; plain read ok and bit "
        "errors: the plain read alone)"
    )
    reads = [x for r in rows for x in r["results"].values() if x["detected"]]
    n_foreign = len(reads) * len(FOREIGN_KEYS)
    print(
        f"foreign keys (another install; {KEY.install_id:#06x} with another secret) on every detected read: "
        f"verified as this install's {sum(x['foreign_signed'] for x in reads)}/{n_foreign}, payload as the "
        f"plain read {sum(x['foreign_plain'] for x in reads)}/{n_foreign}"
    )
    kinds = sorted({_kind(r["name"]) for r in rows})
    print(f"\ndetected (≥1 s) by clip kind: {'transform':<15}" + "".join(f"{k:>16}" for k in kinds))
    for t_name in TRANSFORMS:
        cells = []
        for kind in kinds:
            res = [r["results"][t_name] for r in rows if _kind(r["name"]) == kind]
            res = [x for x in res if x["seconds"] >= PRESENCE_SECONDS]
            det = sum(x["detected"] for x in res)
            cells.append(f"{det:>5}/{len(res):<4}{100 * det / max(1, len(res)):5.1f}%")
        print(f"{'':<30}{t_name:<15}" + "".join(f"{c:>16}" for c in cells))
    n_alarms = sum(d for d, _ in alarms)
    z_null = np.array([z for _, z in alarms])
    print(
        f"\nfalse alarms on unmarked windows: {n_alarms}/{len(alarms)} "
        f"({100 * n_alarms / len(alarms):.3f}%); "
        f"null score max {z_null.max():.2f}, 99th percentile {np.percentile(z_null, 99):.2f} "
        f"(detection needs the bound < {wm.FALSE_ALARM_THRESHOLD:g}, about z ≥ {_z_threshold():.2f})"
    )
    snr = np.array([r["snr_db"] for r in rows])
    quiet = np.array([r["quiet_dbfs"] for r in rows])
    quiet_rel = np.array([r["quiet_rel_db"] for r in rows])
    finite = quiet[np.isfinite(quiet)]
    print(f"SNR over each clip: min {snr.min():.1f} dB, median {np.median(snr):.1f} dB")
    print(
        f"mark in the quietest tenth of 20 ms frames: {len(quiet) - len(finite)} clips exactly 0 (digital "
        f"silence); others max {finite.max() if len(finite) else -np.inf:.1f} dBFS, median "
        f"{np.median(finite) if len(finite) else -np.inf:.1f} dBFS; relative to the audio there: median "
        f"{np.median(quiet_rel[np.isfinite(quiet_rel)]):.1f} dB"
    )
    embed_rtf = sum(r["embed_s"] for r in rows) / sum(r["seconds"] for r in rows)
    print(
        f"embed: {1000 * embed_rtf:.1f} ms per second of audio = "
        f"{100 * embed_rtf / SYNTHESIS_RTF_NOW:.1f}% of synthesis today (RTF {SYNTHESIS_RTF_NOW}), "
        f"{100 * embed_rtf / SYNTHESIS_RTF_TARGET:.1f}% at the target RTF {SYNTHESIS_RTF_TARGET} "
        "(CPU, one process)"
    )
    print(f"bench wall time {time.perf_counter() - t0:.0f} s with {args.jobs} processes")


if __name__ == "__main__":
    main()
