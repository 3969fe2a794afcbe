"""The reference implementation's model stages, timed on the same model files as `bench/synthesis.py`.

Run by `python bench/synthesis.py --reference DIR` in a subprocess (never imported by Timbre): DIR is a
checkout of GPT-SoVITS (RVC-Boss/GPT-SoVITS) and the Python that runs this file must have its requirements
(`--reference-python`). Its own classes, unpatched: `Text2SemanticDecoder.infer_panel` (the one-at-a-time
decode, as its api_v2 runs with batch_size 1), `SynthesizerTrn.decode`, `CNHubert`, and the BERT feature
function of its `TTS_infer_pack` (transformers' masked-LM model, the third-to-last hidden layer). Prints one
JSON object: seconds per repeat for each stage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="a GPT-SoVITS checkout")
    parser.add_argument("--models", type=Path, required=True, help="folder with BERT's and HuBERT's folders")
    parser.add_argument("--gpt", type=Path, required=True, help="an s1 .ckpt")
    parser.add_argument("--sovits", type=Path, required=True, help="an s2 .pth")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=125, help="semantic tokens to decode (EOS is masked)")
    parser.add_argument("--phones", type=int, required=True, help="phones of prompt + target text")
    parser.add_argument("--prompt-tokens", type=int, required=True, help="semantic tokens of the prompt")
    parser.add_argument("--bert-chars", type=int, default=30)
    parser.add_argument("--clip-seconds", type=float, default=5.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    package = args.reference.resolve() / "GPT_SoVITS"
    sys.path[:0] = [str(package), str(package.parent)]  # how its own scripts find their modules

    from AR.models.t2s_model import Text2SemanticDecoder
    from feature_extractor import cnhubert
    from module.mel_processing import spectrogram_torch
    from module.models import SynthesizerTrn
    from process_ckpt import load_sovits_new
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    torch.manual_seed(0)
    s1 = torch.load(args.gpt, map_location="cpu", weights_only=False)
    t2s = Text2SemanticDecoder(config=s1["config"], top_k=3)
    t2s.load_state_dict({k[len("model.") :]: v for k, v in s1["weight"].items() if k.startswith("model.")})
    t2s.eval()
    s2 = load_sovits_new(args.sovits)
    hps = s2["config"]
    hps["model"]["semantic_frame_rate"] = "25hz"
    hps["model"]["version"] = "v2"
    sovits = SynthesizerTrn(
        hps["data"]["filter_length"] // 2 + 1,
        hps["train"]["segment_size"] // hps["data"]["hop_length"],
        n_speakers=hps["data"].get("n_speakers", 300),
        **hps["model"],
    )
    sovits.load_state_dict(s2["weight"], strict=False)
    sovits.eval()
    cnhubert.cnhubert_base_path = str(args.models / "chinese-hubert-base")
    hubert = cnhubert.CNHubert().eval()
    bert_dir = args.models / "chinese-roberta-wwm-ext-large"
    tokenizer = AutoTokenizer.from_pretrained(bert_dir, local_files_only=True)
    bert = AutoModelForMaskedLM.from_pretrained(bert_dir, local_files_only=True).eval()

    phones = torch.randint(0, s1["config"]["model"]["phoneme_vocab_size"], (1, args.phones))
    bert_features = torch.randn(1, 1024, args.phones)
    prompt = torch.randint(0, 1024, (1, args.prompt_tokens))
    codes = torch.randint(0, 1024, (1, 1, args.tokens))
    clip_32k = 0.1 * torch.randn(1, int(args.clip_seconds * hps["data"]["sampling_rate"]))
    clip_16k = 0.1 * torch.randn(int(args.clip_seconds * 16000))
    text = "今天天气很好我们一起去公园散步吧然后去吃午饭再回家休息"[: args.bert_chars]
    generated = []

    def t2s_decode() -> None:
        y, _ = t2s.infer_panel(
            phones,
            torch.tensor([args.phones]),
            prompt,
            bert_features,
            top_k=15,
            top_p=1,
            temperature=1,
            early_stop_num=args.tokens,
        )
        generated.append(y.shape[1] - args.prompt_tokens)

    def spectrogram() -> torch.Tensor:
        data = hps["data"]
        return spectrogram_torch(
            clip_32k, data["filter_length"], data["sampling_rate"], data["hop_length"], data["win_length"]
        )

    spec = spectrogram()

    def bert_call() -> torch.Tensor:
        inputs = tokenizer(text, return_tensors="pt")
        hidden = bert(**inputs, output_hidden_states=True)["hidden_states"]
        per_char = torch.cat(hidden[-3:-2], -1)[0][1:-1]
        return torch.cat([per_char[i].repeat(2, 1) for i in range(len(per_char))]).T  # 2 phones a char

    stages = {
        "HuBERT": lambda: hubert.model(clip_16k[None])["last_hidden_state"],  # as its TTS class calls it
        "spectrogram": spectrogram,
        "BERT": bert_call,
        "T2S": t2s_decode,
        "SoVITS": lambda: sovits.decode(codes, phones, [spec], noise_scale=0.5),
    }
    times: dict[str, list[float]] = {}
    with torch.no_grad():
        for name, stage in stages.items():
            stage()  # warm-up
            times[name] = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                stage()
                times[name].append(time.perf_counter() - start)
    times["T2S tokens"] = [float(n) for n in generated[-args.repeats :]]
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
