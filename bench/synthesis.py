"""Benchmark: full-size GPT-SoVITS v2 models (random weights) on CPU (and CUDA when present).

Times T2S per generated token, SoVITS per second of audio, HuBERT and BERT per call, and the end-to-end
real-time factor (RTF = seconds of compute / seconds of audio) of a sentence that yields 5 s of speech.
EOS is masked (its output row zeroed) and the token budget set to 125, so exactly 125 tokens = 5 s of
audio are generated, whatever the random weights would do. Prints a table with min / median / max over
repeats and the machine's load average: another process on the same cores can slow a run many times.

    python bench/synthesis.py [--threads 2] [--repeats 3] [--device cpu|cuda|all]
"""

from __future__ import annotations

import argparse
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
from core.models.sovits import SoVITS, SoVITSConfig  # noqa: E402
from core.models.t2s import T2SConfig, T2SModel  # noqa: E402
from core.synthesis import SynthesisRequest, Synthesizer  # noqa: E402
from core.text import text_to_phones  # noqa: E402

TOKENS = 125  # 5 s of audio at 25 tokens/s
# The reference implementation on a 2-core CPU, 2 threads, fp32 (shared/design.md), and Timbre's target.
REFERENCE_CPU = {"HuBERT": 0.42, "BERT": 0.2, "T2S": 22.0, "SoVITS": 0.22, "RTF": 0.95}
TARGET_CPU_RTF = 0.35
TOKENS_PER_SECOND = 25
BERT_TEXT = "今天天气很好，我们一起去公园散步吧。然后去吃午饭，再回家休息。"  # 30 characters
PROMPT_TEXT = "这是一段用于测试的参考音频。"
TARGET_TEXT = "欢迎来到音色工作室，这是一个用于测量速度的测试句子。"
REF_SECONDS = 5.0


def _write_hf_models(root: Path) -> None:
    """Full-size chinese-hubert-base and chinese-roberta-wwm-ext-large configs, random weights."""
    from transformers import BertConfig, BertModel, BertTokenizerFast, HubertConfig, HubertModel

    torch.manual_seed(0)
    HubertModel(HubertConfig()).save_pretrained(root / "chinese-hubert-base")  # base = 12 x 768
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


def timed(fn: Callable[[], object], repeats: int, device: str) -> list[float]:
    fn()  # warm-up (allocations, lazy dictionaries)
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def run(device: str, root: Path, repeats: int) -> list[tuple[str, str, list[float]]]:
    synth = build_synthesizer(root, device)
    rng = np.random.default_rng(0)
    ref_path = root / "ref.wav"
    t = np.arange(int(REF_SECONDS * 16000)) / 16000
    write_wav(ref_path, (0.3 * np.sin(2 * np.pi * 150 * t) + 0.02 * rng.standard_normal(t.size)), 16000)

    wav_16k = torch.from_numpy(0.1 * rng.standard_normal(int(REF_SECONDS * 16000)).astype(np.float32))[None]
    wav_16k = wav_16k.to(device)
    bert_phones = text_to_phones(BERT_TEXT, "zh")
    zh = bert_phones.segments[0]
    reference = synth.reference(ref_path)
    features = synth.text_features(PROMPT_TEXT + TARGET_TEXT, "zh")
    phones = torch.tensor(features.phone_ids, device=device)
    bert = features.bert.to(device)
    codes = torch.randint(0, 1024, (1, 1, TOKENS), device=device)

    def t2s_decode():
        synth.t2s.model.generate(
            [phones], [bert], reference.prompt_codes[None], top_k=15, early_stop_num=TOKENS
        )

    def sovits_decode():
        synth.sovits.model.decode(codes, phones[None].to(device), [reference.spec], noise_scale=0.5)

    request = SynthesisRequest(
        text=TARGET_TEXT,
        text_lang="zh",
        ref_audio_path=ref_path,
        prompt_text=PROMPT_TEXT,
        prompt_lang="zh",
        text_split_method="cut0",
        max_sec=TOKENS / 50,
        seed=1,
    )
    audio_seconds = []

    def end_to_end():
        sr, audio = synth.synthesize(request)
        audio_seconds.append((len(audio) / sr) - request.fragment_interval)

    rows = [
        (
            "HuBERT",
            "HuBERT, 5 s clip",
            "s/call",
            timed(lambda: synth.hubert.content(wav_16k), repeats, device),
        ),
        (
            "BERT",
            "BERT, 30 characters",
            "s/call",
            timed(lambda: synth.bert.features(zh.norm_text, zh.word2ph), repeats, device),
        ),
        ("T2S", "T2S decode", "ms/token", [1000 * s / TOKENS for s in timed(t2s_decode, repeats, device)]),
        (
            "SoVITS",
            "SoVITS decode",
            "s per s of audio",
            [s / (TOKENS / TOKENS_PER_SECOND) for s in timed(sovits_decode, repeats, device)],
        ),
    ]
    e2e = timed(end_to_end, repeats, device)
    rows.append(("RTF", "end to end (RTF)", "s per s of audio", [s / audio_seconds[-1] for s in e2e]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    with tempfile.TemporaryDirectory(prefix="timbre-bench-") as tmp:
        root = Path(tmp)
        _write_hf_models(root)
        print(
            f"torch {torch.__version__}, {args.threads} thread(s), fp32, repeats {args.repeats}, "
            f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        print(
            f"{'device':6} | {'what':22} | {'unit':17} | {'min':>8} | {'median':>8} | {'max':>8} | "
            f"{'reference':>9}"
        )
        print("-" * 96)
        for device in devices:
            for key, name, unit, values in run(device, root, args.repeats):
                known = device == "cpu" and args.threads == 2
                reference = f"{REFERENCE_CPU[key]:9.3f}" if known else f"{'-':>9}"
                print(
                    f"{device:6} | {name:22} | {unit:17} | {min(values):8.3f} | "
                    f"{statistics.median(values):8.3f} | {max(values):8.3f} | {reference}"
                )
        print(
            "reference: GPT-SoVITS on a 2-core CPU, 2 threads, fp32 (shared/design.md); "
            f"Timbre's CPU target: RTF <= {TARGET_CPU_RTF}"
        )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
