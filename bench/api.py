"""Benchmark: the HTTP API of a live `python app.py` with full-size GPT-SoVITS v2 models (random weights).

Prints time to first audio byte (`/tts` streaming_mode 0, 1, 2 and 3) and throughput (seconds of audio per
second of wall time) for 1, 2 and 4 concurrent clients, beside the direct library call (the job kind's `run`,
no queue, no HTTP) on the same models. The GPT's EOS row is zeroed so every request generates `max_sec` of
speech per fragment. Prints min / median / max over repeats and the load average; nothing here passes or
fails on time. One lease slot (`--gpu-jobs 1`): concurrent clients queue, so throughput should stay flat.

    python bench/api.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from bench.synthesis import PROMPT_TEXT, REF_SECONDS, _write_hf_models  # noqa: E402
from core.audio import write_wav  # noqa: E402
from core.checkpoints import save_sovits, save_t2s, timbre_to_official_s2  # noqa: E402
from core.jobs import JobContext, ModelCache, SynthesisJob  # noqa: E402
from core.jobs import synthesis as synthesis_kind  # noqa: E402
from core.models.sovits import SoVITS, SoVITSConfig  # noqa: E402
from core.models.t2s import T2SConfig, T2SModel  # noqa: E402
from core.synthesis import SynthesisRequest  # noqa: E402
from core.workspace import Workspace  # noqa: E402
from tests.browser import running_studio  # noqa: E402

TEXT = "欢迎来到音色工作室，这是一个用于测量速度的测试句子。我们再读一句，看看流式输出有多快。"
MAX_SEC = 2.0  # speech per fragment (EOS is masked, so exactly this much)
# The reference's s2.json (v2), data and model sections: SoVITSConfig() describes the same model.
S2_CONFIG = {
    "train": {"segment_size": 20480},
    "data": {"sampling_rate": 32000, "filter_length": 2048, "hop_length": 640, "win_length": 2048},
    "model": {
        "inter_channels": 192,
        "hidden_channels": 192,
        "filter_channels": 768,
        "n_heads": 2,
        "n_layers": 6,
        "kernel_size": 3,
        "p_dropout": 0.1,
        "resblock": "1",
        "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "upsample_rates": [10, 8, 2, 2, 2],
        "upsample_initial_channel": 512,
        "upsample_kernel_sizes": [16, 16, 8, 2, 2],
        "n_layers_q": 3,
        "use_spectral_norm": False,
        "gin_channels": 512,
        "semantic_frame_rate": "25hz",
        "freeze_quantizer": True,
    },
}


def write_pretrained(root: Path) -> None:
    """Full-size BERT, HuBERT, GPT (EOS masked) and SoVITS with random weights, laid out as pretrained/."""
    _write_hf_models(root)
    base = root / "gsv-v2final-pretrained"
    base.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    t2s_config = T2SConfig()
    t2s = T2SModel(t2s_config)
    with torch.no_grad():
        t2s.lm_head.weight[t2s_config.eos].zero_()  # EOS logit 0: never top-k, never argmax
    save_t2s(t2s, t2s_config, base / "s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt", "bench", half=False)
    sovits = SoVITS(SoVITSConfig.from_checkpoint(S2_CONFIG))
    save_sovits(base / "s2G2333k.pth", timbre_to_official_s2(sovits.state_dict()), S2_CONFIG, "bench")


def params(seed: int, mode: int = 0) -> dict:
    return dict(
        text=TEXT,
        text_lang="zh",
        ref_audio_path="uploads/ref.wav",
        prompt_text=PROMPT_TEXT,
        prompt_lang="zh",
        max_sec=MAX_SEC,
        seed=seed,
        streaming_mode=mode,
    )


def first_byte(url: str, mode: int, seed: int) -> tuple[float, float]:
    """(seconds to the first audio byte, seconds to the last) of one `/tts` request."""
    start = time.perf_counter()
    first = None
    with httpx.stream("GET", url + "/tts", params=params(seed, mode), timeout=600) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_raw():
            if first is None and chunk:
                first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start


def throughput(url: str, clients: int, seed: int) -> float:
    """Seconds of audio per second of wall time with `clients` requests at once."""
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        bodies = list(
            pool.map(lambda i: httpx.get(url + "/tts", params=params(seed + i), timeout=600), range(clients))
        )
    wall = time.perf_counter() - start
    seconds = 0.0
    for body in bodies:
        body.raise_for_status()
        audio, sr = sf.read(io.BytesIO(body.content), dtype="int16")
        seconds += len(audio) / sr
    return seconds / wall


def show(label: str, values: list[float]) -> None:
    """One table row, printed at once (a slow machine still shows what it has measured)."""
    print(f"{label:52} {min(values):7.2f} {statistics.median(values):7.2f} {max(values):7.2f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--pretrained", type=Path, help="use this pretrained folder instead (e.g. the tiny test models)"
    )
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the studio process inherits it
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pretrained, workspace = args.pretrained or root / "pretrained", root / "ws"
        if args.pretrained is None:
            write_pretrained(pretrained)
        load = os.getloadavg()
        print(f"threads {args.threads}, repeats {args.repeats}, load average {load[0]:.2f} {load[1]:.2f}")
        print(f"{'':52} {'min':>7} {'median':>7} {'max':>7}", flush=True)
        rng = np.random.default_rng(0)
        t = np.arange(int(REF_SECONDS * 16000)) / 16000
        clip = 0.3 * np.sin(2 * np.pi * 150 * t) + 0.02 * rng.standard_normal(t.size)
        write_wav(workspace / "uploads" / "ref.wav", clip, 16000)

        models = ModelCache(pretrained)
        base = pretrained / "gsv-v2final-pretrained"
        direct = []
        for seed in range(args.repeats + 1):  # the first run loads the models
            fields = {k: v for k, v in params(seed).items() if k != "streaming_mode"}
            fields.update(ref_audio_path=str(workspace / "uploads" / "ref.wav"), text_split_method="cut5")
            request = SynthesisRequest(**fields)  # what /tts builds (api_v2's default split: cut5)
            job = SynthesisJob(request, str(next(base.glob("*.ckpt"))), str(next(base.glob("*.pth"))))
            start = time.perf_counter()
            result = synthesis_kind.run(job, JobContext.standalone(Workspace.open(workspace), models))
            elapsed = time.perf_counter() - start
            if seed:
                direct.append(result.info["seconds"] / elapsed)
        del models
        show("direct library call (s audio / s)", direct)

        # The clip is a synthetic tone, no one's voice: api_v2 runs it under the operator's statement.
        consent = ["--consent-statement", "benchmark: a synthetic tone, no one's voice"]
        with running_studio(workspace, pretrained, timeout_s=600, extra_args=consent) as studio:
            url = studio.url.rstrip("/")
            first_byte(url, 0, 999)  # the studio loads its models
            for mode in (0, 1, 2, 3):  # 2: chunks at pauses, 3: fixed 16-token chunks
                runs = [first_byte(url, mode, seed) for seed in range(args.repeats)]
                show(f"time to first byte, streaming_mode {mode} (s)", [r[0] for r in runs])
                show(f"time to last byte, streaming_mode {mode} (s)", [r[1] for r in runs])
            for clients in (1, 2, 4):
                values = [throughput(url, clients, 100 * r) for r in range(args.repeats)]
                show(f"API, {clients} concurrent client(s) (s audio / s)", values)
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
