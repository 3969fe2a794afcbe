"""Benchmark: dataset preparation speed, in seconds of compute per minute of audio, on CPU (and CUDA).

A one-minute recording is made from espeak-ng sentences with pauses between them, denoised (RNNoise, CPU),
sliced with the default settings (and in VAD mode: silero-vad, CPU), the clips transcribed (faster-whisper
with Whisper tiny.en, the model the tests use, and
pocketsphinx on the CPU), and the clips' training features (stages 1a/1b/1c: text + BERT, 32 kHz wav + HuBERT,
semantic tokens) are extracted with full-size random-weight BERT, HuBERT and SoVITS models. Half of the
clips get Chinese transcripts (BERT runs), half English. Prints min / median / max over repeats and the
load average; nothing here passes or fails on time.

    python bench/dataset.py [--threads 2] [--repeats 3] [--device cpu|cuda|all] [--reference DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from bench.synthesis import BERT_TEXT, TARGET_TEXT, _write_hf_models  # noqa: E402
from core.audio import resample  # noqa: E402
from core.data.asr import SphinxTranscriber, Transcriber, WhisperTranscriber, transcribe_file  # noqa: E402
from core.data.denoise import denoise  # noqa: E402
from core.data.features import FeatureModels, extract_features  # noqa: E402
from core.data.slicer import SLICE_SR, SlicerSettings, find_clips, slice_file  # noqa: E402
from core.models.bert import BertPhoneFeatures  # noqa: E402
from core.models.hubert import HubertContent  # noqa: E402
from core.models.sovits import SoVITS, SoVITSConfig  # noqa: E402
from tests.test_asr import TINY_EN  # noqa: E402

MINUTES = 1.0
SENTENCES = (
    "Many people believe that reading a good book before sleeping helps them relax after a long day",
    "Scientists have discovered a new species of frog living deep in the tropical rain forest",
    "Every summer the family drives north to spend two weeks by the lake fishing and swimming",
    "The young musician practiced the difficult piano piece for hours until her fingers were tired",
)
GAP_SECONDS = 0.6


def _recording(root: Path) -> Path:
    """About MINUTES of espeak-ng speech at 32 kHz with GAP_SECONDS pauses, as a 16-bit WAV."""
    pieces, total, i = [], 0, 0
    while total < MINUTES * 60 * SLICE_SR:
        raw = root / "raw.wav"
        text = SENTENCES[i % len(SENTENCES)]
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
        wav, sr = sf.read(raw, dtype="float32")
        speech = resample(wav, sr, SLICE_SR) * 0.5
        pieces += [speech, np.zeros(int(GAP_SECONDS * SLICE_SR), dtype=np.float32)]
        total += speech.shape[0] + int(GAP_SECONDS * SLICE_SR)
        i += 1
    path = root / "recording.wav"
    sf.write(path, np.concatenate(pieces), SLICE_SR, subtype="PCM_16")
    return path


def _models(root: Path, device: str) -> FeatureModels:
    torch.manual_seed(0)
    return FeatureModels(
        bert=BertPhoneFeatures.from_pretrained(root / "chinese-roberta-wwm-ext-large", device=device),
        hubert=HubertContent.from_pretrained(root / "chinese-hubert-base", device=device),
        sovits=SoVITS(SoVITSConfig()).eval().to(device),
    )


def _list(clips_dir: Path, path: Path) -> None:
    texts = [BERT_TEXT, "The quick brown fox jumps over the lazy dog.", TARGET_TEXT, "See you tomorrow."]
    lines = []
    for i, clip in enumerate(sorted(clips_dir.iterdir())):
        lang = "zh" if i % 2 == 0 else "en"
        lines.append(f"{clip.name}|bench|{lang}|{texts[i % len(texts)]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _asr(device: str, clips_dir: Path, minutes: float, repeats: int) -> list[tuple[str, list[float]]]:
    """Seconds per minute of audio to transcribe every clip (the model loaded once, beforehand)."""
    engines: list[tuple[str, Transcriber]] = [
        ("ASR whisper tiny.en", WhisperTranscriber(TINY_EN, device, threads=torch.get_num_threads()))
    ]
    if device == "cpu":  # pocketsphinx has no GPU path
        engines.append(("ASR pocketsphinx", SphinxTranscriber()))
    rows = []
    for name, transcriber in engines:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for clip in sorted(clips_dir.iterdir()):
                transcribe_file(transcriber, clip, "en")
            times.append((time.perf_counter() - start) / minutes)
        rows.append((name, times))
    return rows


def run(device: str, root: Path, recording: Path, repeats: int) -> list[tuple[str, list[float]]]:
    minutes = sf.info(recording).duration / 60
    wav, _ = sf.read(recording, dtype="float32")
    timed = [("slice (find cuts)", lambda: find_clips(wav, SLICE_SR))]
    if device == "cpu":  # RNNoise and the VAD run on the CPU only
        timed += [
            ("slice, VAD mode", lambda: find_clips(wav, SLICE_SR, SlicerSettings(mode="vad"))),
            ("denoise (RNNoise)", lambda: denoise(wav, SLICE_SR)),
        ]
    cpu_rows = []
    for name, work in timed:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            times.append((time.perf_counter() - start) / minutes)
        cpu_rows.append((name, times))
    clips_dir = root / "clips"
    shutil.rmtree(clips_dir, ignore_errors=True)
    slice_file(recording, clips_dir)
    asr_rows = _asr(device, clips_dir, minutes, repeats)
    _list(clips_dir, root / "bench.list")
    models = _models(root, device)
    feature_times = []
    for repeat in range(repeats + 1):  # the first run warms up (lazy dictionaries, allocations)
        exp = root / f"exp_{device}_{repeat}"
        start = time.perf_counter()
        extract_features(root / "bench.list", exp, models, wav_dir=clips_dir)
        if device == "cuda":
            torch.cuda.synchronize()
        if repeat:
            feature_times.append((time.perf_counter() - start) / minutes)
    return [*cpu_rows, *asr_rows, ("features 1a+1b+1c", feature_times)]


def _row(device: str, name: str, values: list[float]) -> None:
    print(
        f"{device:6} | {name:20} | {'s per minute of audio':22} | {min(values):7.3f} | "
        f"{statistics.median(values):7.3f} | {max(values):7.3f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    parser.add_argument(
        "--reference", type=Path, metavar="DIR", help="a GPT-SoVITS checkout: time its slicer here too"
    )
    parser.add_argument(
        "--reference-python", default=sys.executable, metavar="PYTHON", help="the Python that runs it"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    with tempfile.TemporaryDirectory(prefix="timbre-bench-dataset-") as tmp:
        root = Path(tmp)
        _write_hf_models(root)
        recording = _recording(root)
        print(
            f"torch {torch.__version__}, {args.threads} thread(s), fp32, repeats {args.repeats}, "
            f"{sf.info(recording).duration:.1f} s of audio, "
            f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        print(f"{'device':6} | {'what':20} | {'unit':22} | {'min':>7} | {'median':>7} | {'max':>7}")
        print("-" * 84)
        for device in devices:
            for name, values in run(device, root, recording, args.repeats):
                _row(device, name, values)
        if args.reference is not None:
            script = Path(__file__).with_name("reference_slicer.py")
            command = [args.reference_python, str(script), "--reference", str(args.reference)]
            command += ["--wav", str(recording), "--repeats", str(args.repeats)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            minutes = sf.info(recording).duration / 60
            _row("ref", "slice (find cuts)", [t / minutes for t in json.loads(done.stdout.splitlines()[-1])])
            print(f"ref: {args.reference} (its tools/slicer2.py, WebUI defaults); its other dataset scripts "
                  "need its own models and environment and were not timed")  # fmt: skip
        else:
            print("the reference was not measured in this run (pass --reference DIR to time its slicer)")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
