"""The fast precisions' quality check on given weights: your own fine-tuned pair, or any official one.

For each fast `--precision` against fp32 on the same GPT/SoVITS files (loaded as the studio loads them):
the T2S drift of `core.models.precision.t2s_drift` (teacher-forced logits' relative error and greedy
agreement over `--steps` tokens, and the free-running agreement), then one request read greedily (top_k=1)
with a noise-free SoVITS (noise_scale=0), so that any difference comes from the precision: whether every
fragment decodes the same semantic tokens, the audio's SNR against fp32, and the log-mel L1 distance (the
mel loss of fine-tuning, 80 bands at the SoVITS rate; 0 = identical). Prints a table; passes or fails
nothing itself, except that it says whether the drift stays within the thresholds written in
`core/models/precision.py`.

    python bench/precision_check.py --gpt G.ckpt --sovits S.pth --pretrained DIR --ref CLIP \\
        --prompt-text "..." [--prompt-lang zh] [--text "..."] [--text-lang zh] [--precision bf16,int8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from core.jobs import ModelCache  # noqa: E402
from core.models.precision import t2s_drift  # noqa: E402
from core.settings import FP32, PRECISIONS, check_precision  # noqa: E402
from core.synthesis import SynthesisRequest, Synthesizer  # noqa: E402
from core.training.mel import mel_filters, mel_spectrogram  # noqa: E402

TEXT = "今天天气很好，我们去公园散步吧。Please call the doctor before noon."
N_MELS = 80


def log_mel(audio: np.ndarray, sample_rate: int) -> torch.Tensor:
    """(80, frames) log mel of int16 audio, with the SoVITS training's STFT sizes (2048 / 640 at 32 kHz)."""
    wav = torch.from_numpy(audio.astype(np.float32) / 32768)[None]
    filters = mel_filters(2048, N_MELS, sample_rate, 0.0, None)
    return mel_spectrogram(wav, filters, 2048, 640, 2048)[0]


def compare_audio(exact: np.ndarray, fast: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(SNR dB, log-mel L1) of `fast` against `exact`, over their common length."""
    n = min(len(exact), len(fast))
    a, b = exact[:n].astype(np.float64), fast[:n].astype(np.float64)
    noise = np.sum((a - b) ** 2)
    snr = float("inf") if noise == 0 else 10 * np.log10(np.sum(a**2) / noise)
    mel_l1 = float((log_mel(exact[:n], sample_rate) - log_mel(fast[:n], sample_rate)).abs().mean())
    return snr, mel_l1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpt", required=True, type=Path)
    parser.add_argument("--sovits", required=True, type=Path)
    parser.add_argument("--pretrained", required=True, type=Path, help="folder with BERT and HuBERT")
    parser.add_argument("--ref", required=True, type=Path, help="a 3-10 s reference clip")
    parser.add_argument("--prompt-text", required=True)
    parser.add_argument("--prompt-lang", default="zh")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--text-lang", default="auto")
    parser.add_argument("--precision", default=",".join(p for p in PRECISIONS if p != FP32))
    parser.add_argument("--steps", type=int, default=200, help="tokens of the drift decode")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    modes = [check_precision(p.strip(), "cpu") for p in args.precision.split(",") if p.strip() != FP32]

    def synthesizer(precision: str) -> Synthesizer:
        return ModelCache(args.pretrained, precision=precision).synthesizer(args.gpt, args.sovits)

    request = SynthesisRequest(
        text=args.text,
        text_lang=args.text_lang,
        ref_audio_path=str(args.ref),
        prompt_text=args.prompt_text,
        prompt_lang=args.prompt_lang,
        top_k=1,
        noise_scale=0.0,
        seed=1,
    )
    exact = synthesizer(FP32)
    reference = exact.reference(args.ref)
    features = exact.text_features(args.prompt_text + args.text, args.prompt_lang)
    phones = torch.tensor(features.phone_ids)
    expected = exact.synthesize_result(request)
    print(f"weights: {args.gpt.name} + {args.sovits.name}; text: {args.text!r}")
    print(f"{'precision':9} | {'logit rel. err':>14} | {'greedy agr.':>11} | {'free agr.':>9} | drift  | "
          f"{'same tokens':>11} | {'SNR dB':>7} | {'log-mel L1':>10}")  # fmt: skip
    for mode in modes:
        fast = synthesizer(mode)
        drift = t2s_drift(
            exact.t2s.model, fast.t2s.model, phones, features.bert, reference.prompt_codes[None], args.steps
        )
        result = fast.synthesize_result(request)
        same = result.tokens == expected.tokens
        snr, mel_l1 = compare_audio(expected.audio, result.audio, result.sample_rate)
        print(
            f"{mode:9} | {drift.logit_rel_error:14.4f} | {drift.top1_agreement:11.3f} | "
            f"{drift.free_agreement:9.3f} | {'passes' if drift.passes else 'FAILS ':6} | "
            f"{'yes' if same else 'no':>11} | {snr:7.1f} | {mel_l1:10.4f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
