"""Benchmark: full-size GPT-SoVITS v2 models (random weights) on CPU (and CUDA when present).

Times T2S per generated token, SoVITS per second of audio, HuBERT and BERT per call, the end-to-end
real-time factor (RTF = seconds of compute / seconds of audio) of a sentence that yields 5 s of speech, and of
a paragraph of four such sentences read one by one and decoded together (`batch_size` 4).
EOS is masked (its output row zeroed) and the token budget set to 125, so exactly 125 tokens = 5 s of
audio are generated, whatever the random weights would do. Each `--precision` (fp32, the exact path, and the
fast modes of `core.models.precision`) is timed on the same models, side by side, followed by its quality
check against fp32 (T2S logits' relative error and greedy agreement over `--drift-steps` tokens, BERT and
HuBERT features' relative error, SoVITS's noise-free output SNR). Cells are "median (min-max)" over
repeats; the machine's load average is printed before and after: another process on the same cores can slow
a run many times.

With `--reference DIR` (a GPT-SoVITS checkout; `--reference-python` names a Python with its requirements)
the reference's own classes are timed on the same model files in a subprocess (`bench/reference_stages.py`,
never imported by Timbre) and fill the last column from this run; without it that column shows the figures
measured beside Timbre on 2026-12-06 (shared/design.md), marked `*`.

    python bench/synthesis.py [--threads 2] [--repeats 3] [--device cpu|cuda|all] [--precision fp32,int8]
                              [--reference DIR [--reference-python PYTHON]]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from core.audio import write_wav  # noqa: E402
from core.checkpoints import LoadedSoVITS, LoadedT2S, ModelVersion  # noqa: E402
from core.models.bert import BertPhoneFeatures  # noqa: E402
from core.models.hubert import HubertContent  # noqa: E402
from core.models.precision import (  # noqa: E402
    MAX_FEATURE_REL_ERROR,
    MIN_SOVITS_SNR_DB,
    convert_synthesizer,
    relative_error,
    sovits_snr_db,
    t2s_drift,
)
from core.models.sovits import SoVITS, SoVITSConfig  # noqa: E402
from core.models.t2s import T2SConfig, T2SModel  # noqa: E402
from core.settings import FP32, PRECISIONS, check_precision  # noqa: E402
from core.synthesis import SynthesisRequest, Synthesizer  # noqa: E402
from core.text import text_to_phones  # noqa: E402

TOKENS = 125  # 5 s of audio at 25 tokens/s
# The reference implementation (GPT-SoVITS at 48b1a01) on a quiet 2-core CPU, 2 threads, fp32, measured
# beside Timbre on 2026-12-06 (shared/design.md); its RTF sums its model stages with the clip cached.
REFERENCE_CPU = {"HuBERT": 0.50, "BERT": 0.18, "T2S": 19.6, "SoVITS": 0.218, "RTF": 0.75, "RTF cold": 0.85}
TARGET_CPU_RTF = 0.35
TOKENS_PER_SECOND = 25
BERT_TEXT = "今天天气很好，我们一起去公园散步吧。然后去吃午饭，再回家休息。"  # 30 characters
PROMPT_TEXT = "这是一段用于测试的参考音频。"
TARGET_TEXT = "欢迎来到音色工作室，这是一个用于测量速度的测试句子。"
# A paragraph of PARAGRAPH_BATCH sentences of about the same length (cut at 。 by `cut3`), each decoded to
# TOKENS tokens: its rows compare reading the fragments one by one with reading them as one batch.
PARAGRAPH_TEXT = (
    "欢迎来到音色工作室，这是一个用于测量速度的测试句子。今天天气很好，我们一起去公园里散步吧。"
    "然后我们去吃一顿午饭，再一起回家好好休息一下。这段话有四句，每一句都会被单独读成一段。"
)
PARAGRAPH_BATCH = 4
REF_SECONDS = 5.0


def _write_hf_models(root: Path) -> None:
    """Full-size chinese-hubert-base and chinese-roberta-wwm-ext-large configs, random weights."""
    from transformers import (
        BertConfig,
        BertModel,
        BertTokenizerFast,
        HubertConfig,
        HubertModel,
        Wav2Vec2FeatureExtractor,
    )

    torch.manual_seed(0)
    HubertModel(HubertConfig()).save_pretrained(root / "chinese-hubert-base")  # base = 12 x 768
    # (the reference's CNHubert also reads the feature extractor's settings: its defaults, 16 kHz)
    Wav2Vec2FeatureExtractor().save_pretrained(root / "chinese-hubert-base")
    bert_dir = root / "chinese-roberta-wwm-ext-large"
    bert_config = BertConfig(
        vocab_size=21128,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
    )
    BertModel(bert_config, add_pooling_layer=False).save_pretrained(bert_dir)
    chars = sorted(set(BERT_TEXT + PROMPT_TEXT + TARGET_TEXT + "，。,.!?"))
    vocab = bert_dir / "vocab.txt"
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab.write_text("\n".join([*specials, *chars]) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True).save_pretrained(bert_dir)


def build_synthesizer(root: Path, device: str) -> Synthesizer:
    torch.manual_seed(0)
    t2s_config = T2SConfig()  # s1longer-v2: 24 layers x 512, 16 heads
    t2s = T2SModel(t2s_config)
    with torch.no_grad():
        t2s.lm_head.weight[t2s_config.eos].zero_()  # EOS logit 0: never top-k, never argmax
    sovits_config = SoVITSConfig()  # s2.json v2
    sovits = SoVITS(sovits_config)
    return Synthesizer(
        LoadedT2S(t2s.eval().to(device), t2s_config, "bench", ModelVersion.V2, {}),
        LoadedSoVITS(sovits.eval().to(device), sovits_config, ModelVersion.V2, "bench"),
        HubertContent.from_pretrained(root / "chinese-hubert-base", device=device),
        BertPhoneFeatures.from_pretrained(root / "chinese-roberta-wwm-ext-large", device=device),
        device=device,
    )


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
"""`--clock cpu` counts this process's CPU seconds (all its threads): at 1 thread it equals wall time on a
quiet machine and is far less disturbed by other processes on the same cores; at 2 threads it sums both."""


def timed(
    fn: Callable[[], object],
    repeats: int,
    device: str,
    clock: str = "wall",
    before: Callable[[], object] | None = None,
) -> list[float]:
    """Seconds of each of `repeats` calls of `fn` after one warm-up; `before` runs, untimed, before each."""
    now = CLOCKS[clock]
    before = before or (lambda: None)
    before()
    fn()  # warm-up (allocations, lazy dictionaries)
    times = []
    for _ in range(repeats):
        before()
        if device == "cuda":
            torch.cuda.synchronize()
        start = now()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(now() - start)
    return times


def with_precision(synth: Synthesizer, precision: str) -> Synthesizer:
    """A copy of `synth` with its T2S, BERT, HuBERT and SoVITS vocoder converted to `precision`."""
    if precision == FP32:
        return synth
    fast = Synthesizer(
        copy.deepcopy(synth.t2s),
        copy.deepcopy(synth.sovits),
        copy.deepcopy(synth.hubert),
        BertPhoneFeatures(synth.bert.tokenizer, copy.deepcopy(synth.bert.model), synth.bert.device),
        device=synth.device,
    )
    return convert_synthesizer(fast, precision)


class Inputs:
    """What every precision is timed on: a 5 s clip, the 30-character BERT text, T2S inputs, random codes."""

    def __init__(self, synth: Synthesizer, root: Path, device: str) -> None:
        rng = np.random.default_rng(0)
        self.ref_path = root / "ref.wav"
        t = np.arange(int(REF_SECONDS * 16000)) / 16000
        clip = 0.3 * np.sin(2 * np.pi * 150 * t) + 0.02 * rng.standard_normal(t.size)
        write_wav(self.ref_path, clip, 16000)
        wav = torch.from_numpy(0.1 * rng.standard_normal(int(REF_SECONDS * 16000)).astype(np.float32))
        self.wav_16k = wav[None].to(device)
        self.zh = text_to_phones(BERT_TEXT, "zh").segments[0]
        self.reference = synth.reference(self.ref_path)
        features = synth.text_features(PROMPT_TEXT + TARGET_TEXT, "zh")
        self.phones = torch.tensor(features.phone_ids, device=device)
        self.bert = features.bert.to(device)
        self.codes = torch.randint(0, 1024, (1, 1, TOKENS), device=device)


def run(
    synth: Synthesizer, inputs: Inputs, repeats: int, device: str, clock: str
) -> list[tuple[str, str, str, list[float]]]:
    """(key, what, unit, values per repeat) for each stage and the whole pipeline."""
    reference = inputs.reference

    def t2s_decode():
        synth.t2s.model.generate(
            [inputs.phones], [inputs.bert], reference.prompt_codes[None], top_k=15, early_stop_num=TOKENS
        )

    def sovits_decode():
        synth.sovits.model.decode(inputs.codes, inputs.phones[None], [reference.spec], noise_scale=0.5)

    request = SynthesisRequest(
        text=TARGET_TEXT,
        text_lang="zh",
        ref_audio_path=inputs.ref_path,
        prompt_text=PROMPT_TEXT,
        prompt_lang="zh",
        text_split_method="cut0",
        max_sec=TOKENS / 50,
        seed=1,
    )
    audio_seconds = []

    def bert_afresh(norm_text: str, word2ph: list[int]) -> torch.Tensor:
        synth.bert.forget_texts()  # a new text each time (BERT keeps its last texts' outputs)
        return synth.bert.features(norm_text, word2ph)

    def end_to_end():
        _speak(synth, request, 1, audio_seconds)

    zh = inputs.zh
    t2s_times = timed(t2s_decode, repeats, device, clock)
    rows = [
        (
            "HuBERT",
            "HuBERT, 5 s clip",
            "s/call",
            timed(lambda: synth.hubert.content(inputs.wav_16k), repeats, device, clock),
        ),
        (
            "BERT",
            "BERT, 30 characters",
            "s/call",
            timed(lambda: bert_afresh(zh.norm_text, zh.word2ph), repeats, device, clock),
        ),
        ("T2S", "T2S decode", "ms/token", [1000 * t / TOKENS for t in t2s_times]),
        (
            "SoVITS",
            "SoVITS decode",
            "s per s of audio",
            [s / (TOKENS / TOKENS_PER_SECOND) for s in timed(sovits_decode, repeats, device, clock)],
        ),
    ]

    def new_text():
        _forget_text(synth, keep_prompt=True)

    def new_clip():
        synth.forget_references()  # HuBERT and the spectrogram run again
        _forget_text(synth, keep_prompt=False)  # and BERT on the clip's transcript

    e2e = timed(end_to_end, repeats, device, clock, before=new_text)
    rows.append(("RTF", "end to end, clip kept", "s per s of audio", [s / audio_seconds[-1] for s in e2e]))
    cold = timed(end_to_end, repeats, device, clock, before=new_clip)
    per_second = [s / audio_seconds[-1] for s in cold]
    rows.append(("RTF cold", "end to end, clip new", "s per s of audio", per_second))
    for batch_size in (1, PARAGRAPH_BATCH):
        paragraph = dataclasses.replace(
            request, text=PARAGRAPH_TEXT, text_split_method="cut3", batch_size=batch_size
        )
        speech_seconds: list[float] = []
        read = functools.partial(_speak, synth, paragraph, PARAGRAPH_BATCH, speech_seconds)
        times = timed(read, repeats, device, clock, before=new_text)
        per_second = [t / speech_seconds[-1] for t in times]
        what = f"paragraph, batch {batch_size}"
        rows.append((f"RTF paragraph {batch_size}", what, "s per s of audio", per_second))
    return rows


def _speak(synth: Synthesizer, request: SynthesisRequest, fragments: int, seconds: list[float]) -> None:
    """Read `request` (`fragments` fragments, each followed by `fragment_interval` of silence) and append
    its seconds of speech to `seconds`."""
    sr, audio = synth.synthesize(request)
    seconds.append(len(audio) / sr - fragments * request.fragment_interval)


def _forget_text(synth: Synthesizer, keep_prompt: bool) -> None:
    """Make the next request's text new to BERT, which keeps its last texts' outputs. With `keep_prompt`
    the clip's transcript stays kept, as it does for every request with the same clip and prompt text (the
    reference's TTS class keeps its prompt's BERT features the same way); a new clip brings a new one."""
    synth.bert.forget_texts()
    if keep_prompt:
        synth.text_features(PROMPT_TEXT, "zh")


def quality(exact: Synthesizer, fast: Synthesizer, inputs: Inputs, steps: int) -> list[tuple[str, str]]:
    """The quality check of `fast` against `exact` (fp32): (what, figure) rows."""
    drift = t2s_drift(
        exact.t2s.model,
        fast.t2s.model,
        inputs.phones,
        inputs.bert,
        inputs.reference.prompt_codes[None],
        steps,
    )
    zh = inputs.zh
    bert_error = relative_error(
        fast.bert.features(zh.norm_text, zh.word2ph), exact.bert.features(zh.norm_text, zh.word2ph)
    )
    hubert_error = relative_error(fast.hubert.content(inputs.wav_16k), exact.hubert.content(inputs.wav_16k))
    features_pass = max(bert_error, hubert_error) <= MAX_FEATURE_REL_ERROR
    snr = sovits_snr_db(
        exact.sovits.model, fast.sovits.model, inputs.codes, inputs.phones[None], inputs.reference.spec
    )
    all_pass = drift.passes and features_pass and snr >= MIN_SOVITS_SNR_DB
    return [
        ("T2S logits rel. error", f"{drift.logit_rel_error:.4f}"),
        (f"T2S greedy agreement ({steps} tok)", f"{drift.top1_agreement:.3f}"),
        ("T2S free-running agreement", f"{drift.free_agreement:.3f}"),
        ("BERT features rel. error", f"{bert_error:.4f}"),
        ("HuBERT features rel. error", f"{hubert_error:.4f}"),
        ("SoVITS output SNR vs fp32 (dB)", f"{snr:.1f}"),
        ("quality check", "passes" if all_pass else "FAILS"),
    ]


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def reference_stages(
    exact: Synthesizer, root: Path, checkout: Path, python: str, inputs: Inputs, threads: int, repeats: int
) -> dict[str, list[float]]:
    """The reference's figures on the same models, in the units of `run`'s rows (its own classes, run by
    `bench/reference_stages.py` in a subprocess). Its RTFs sum its model stages: BERT, T2S and SoVITS with
    the clip cached, plus HuBERT and the spectrogram for a new clip (its text frontend is left out)."""
    import json
    import subprocess

    from bench.api import S2_CONFIG
    from core.checkpoints import save_sovits, save_t2s, timbre_to_official_s2

    gpt, sovits = root / "reference-gpt.ckpt", root / "reference-sovits.pth"
    save_t2s(exact.t2s.model, exact.t2s.config, gpt, "bench", half=False)
    save_sovits(sovits, timbre_to_official_s2(exact.sovits.model.state_dict()), S2_CONFIG, "bench")
    command = [python, str(Path(__file__).with_name("reference_stages.py")), "--reference", str(checkout)]
    command += ["--models", str(root), "--gpt", str(gpt), "--sovits", str(sovits), "--threads", str(threads)]
    command += ["--repeats", str(repeats), "--tokens", str(TOKENS), "--phones", str(len(inputs.phones))]
    command += ["--prompt-tokens", str(inputs.reference.prompt_codes.shape[-1])]
    command += ["--bert-chars", str(len(BERT_TEXT)), "--clip-seconds", str(REF_SECONDS)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the reference run failed:\n{done.stderr[-3000:]}")
    times = json.loads(done.stdout.strip().splitlines()[-1])
    audio_s = TOKENS / TOKENS_PER_SECOND
    cached = [b + t + v for b, t, v in zip(times["BERT"], times["T2S"], times["SoVITS"], strict=True)]
    cold = [c + h + s for c, h, s in zip(cached, times["HuBERT"], times["spectrogram"], strict=True)]
    return {
        "HuBERT": times["HuBERT"],
        "BERT": times["BERT"],
        "T2S": [1000 * t / n for t, n in zip(times["T2S"], times["T2S tokens"], strict=True)],
        "SoVITS": [v / audio_s for v in times["SoVITS"]],
        "RTF": [c / audio_s for c in cached],
        "RTF cold": [c / audio_s for c in cold],
    }


def _print_table(
    device: str,
    precisions: list[str],
    timings: dict[str, list],
    checks: dict[str, list],
    reference: dict[str, list[float]] | None,
) -> None:
    """Timings side by side per precision, the reference's column (this run's, or the design's figure
    with `*`), then the quality check's figures."""
    width = 24
    header = f"{device:6} | {'what':22} | {'unit':16} | " + " | ".join(f"{p:>{width}}" for p in precisions)
    print(header + f" | {'reference':>{width}}")
    print("-" * len(header + " | " + " " * width))
    for i, (key, name, unit, _) in enumerate(timings[FP32]):
        cells = " | ".join(f"{_cell(timings[p][i][3]):>{width}}" for p in precisions)
        if key not in REFERENCE_CPU:
            theirs = "-"  # the reference's stages are timed one request at a time
        elif reference is not None:
            theirs = _cell(reference[key])
        else:
            theirs = f"{REFERENCE_CPU[key]:.3f}*" if device == "cpu" else "-"
        print(f"{device:6} | {name:22} | {unit:16} | {cells} | {theirs:>{width}}")
    for j, (name, _) in enumerate(next(iter(checks.values()), [])):
        cells = " | ".join(f"{(checks[p][j][1] if p in checks else '-'):>{width}}" for p in precisions)
        print(f"{device:6} | {name:41} | {cells} |")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    parser.add_argument(
        "--precision",
        default=",".join(PRECISIONS),
        help="comma-separated precisions to time side by side (default %(default)s; fp32 always runs)",
    )
    parser.add_argument("--clock", default="wall", choices=sorted(CLOCKS), help="what a time is (see CLOCKS)")
    parser.add_argument("--drift-steps", type=int, default=200, help="tokens of the quality check's decode")
    parser.add_argument(
        "--reference",
        type=Path,
        metavar="DIR",
        help="a GPT-SoVITS checkout: time its stages on the same models in this run (CPU)",
    )
    parser.add_argument(
        "--reference-python",
        default=sys.executable,
        metavar="PYTHON",
        help="the Python with the reference's requirements (default: this one)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    wanted = [p for p in args.precision.split(",") if p and p != FP32]
    with tempfile.TemporaryDirectory(prefix="timbre-bench-") as tmp:
        root = Path(tmp)
        _write_hf_models(root)
        print(
            f"torch {torch.__version__}, CPU {torch.backends.cpu.get_cpu_capability()}, "
            f"{args.threads} thread(s), {args.clock} clock, repeats {args.repeats}, "
            f"load average before: {_load()}"
        )
        for device in devices:
            precisions = [FP32, *(p for p in wanted if check_precision(p, device))]
            exact = build_synthesizer(root, device)
            inputs = Inputs(exact, root, device)
            theirs = None
            if args.reference is not None and device == "cpu":
                theirs = reference_stages(
                    exact, root, args.reference, args.reference_python, inputs, args.threads, args.repeats
                )
                done = ", ".join(f"{key} {statistics.median(v):.3f}" for key, v in theirs.items())
                print(f"(reference: {done}; load {_load()})", file=sys.stderr, flush=True)
            timings: dict[str, list] = {}
            checks: dict[str, list] = {}
            for precision in precisions:
                synth = with_precision(exact, precision)
                timings[precision] = run(synth, inputs, args.repeats, device, args.clock)
                done = ", ".join(f"{key} {statistics.median(v):.3f}" for key, _, _, v in timings[precision])
                print(f"({device} {precision}: {done}; load {_load()})", file=sys.stderr, flush=True)
                if precision != FP32:
                    checks[precision] = quality(exact, synth, inputs, args.drift_steps)
                del synth
            _print_table(device, precisions, timings, checks, theirs)
        if args.reference is None:
            print(
                "reference*: GPT-SoVITS at 48b1a01, quiet 2-core CPU, 2 threads, fp32 (shared/design.md), "
                "not measured in this run: pass --reference DIR to time it here"
            )
        else:
            print(f"reference: {args.reference}, its own classes on the same models, fp32, this run")
        print(f"Timbre's CPU target: RTF <= {TARGET_CPU_RTF} with the clip kept")
        print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
