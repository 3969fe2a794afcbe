"""The reference implementation's slicer (`tools/slicer2.py`), timed on a recording, for `bench/dataset.py`.

Run in a subprocess with `--reference DIR` (a GPT-SoVITS checkout; never imported by Timbre), with its
WebUI's defaults (threshold -34 dB, min length 4000 ms, min interval 300 ms, hop 10 ms, max silence kept
500 ms) on the 32 kHz mono recording given. Prints one JSON list: seconds per repeat.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import soundfile as sf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="a GPT-SoVITS checkout")
    parser.add_argument("--wav", type=Path, required=True, help="a 32 kHz mono recording")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(args.reference.resolve() / "tools"))
    from slicer2 import Slicer

    wav, sr = sf.read(args.wav, dtype="float32")
    slicer = Slicer(sr=sr, threshold=-34, min_length=4000, min_interval=300, hop_size=10, max_sil_kept=500)
    slicer.slice(wav)  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        slicer.slice(wav)
        times.append(time.perf_counter() - start)
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
