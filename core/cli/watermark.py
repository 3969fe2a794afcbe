"""`python -m core watermark {embed,detect}`: mark your own recordings; find Timbre's mark in any audio.

    python -m core watermark embed in.wav out.wav [--payload GENERATION_ID] [--workspace DIR]
    python -m core watermark detect [--json] FILE_OR_FOLDER...

`embed` signs with this install's key (`WORKSPACE/.timbre/install.json`, made on first use) and writes a
16-bit WAV at the input's rate and channel count. `detect` reads any format `core.audio` can decode; a folder
is searched recursively for audio files. With `--json` it prints one object per line: `file`, `detected`,
`false_alarm_probability`, `payload` (`install_id`, `generation_id`, `mac`, or null),
`signed_by_this_install`, `confidence`. Exit status: 0 when every file was read (marked or not), 2 when
any could not be.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import TimbreError
from core.settings import Settings

if TYPE_CHECKING:
    from core.ethics import Detection

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".aiff", ".aif"}
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "watermark",
        help="embed Timbre's watermark in a file, or detect it in files and folders",
        description="Embed Timbre's inaudible watermark, or detect it and read its payload.",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    embed = actions.add_parser("embed", help="mark an audio file (writes a 16-bit WAV)")
    embed.add_argument("input", type=Path, help="audio file to mark")
    embed.add_argument("output", type=Path, help="where to write the marked WAV")
    embed.add_argument(
        "--payload",
        type=lambda text: int(text, 0),
        default=None,
        metavar="GENERATION_ID",
        help="generation id to carry, 0..16777215 (decimal or 0x...; default: a random one). The install id "
        "and signature come from this install's key",
    )
    embed.add_argument(
        "--workspace", type=Path, default=Settings().workspace, help="holds this install's key"
    )
    embed.set_defaults(handler=_embed)

    detect = actions.add_parser("detect", help="look for the watermark in files or folders")
    detect.add_argument("paths", nargs="+", type=Path, metavar="FILE_OR_FOLDER")
    detect.add_argument("--json", action="store_true", help="one JSON object per line")
    detect.add_argument(
        "--workspace",
        type=Path,
        default=Settings().workspace,
        help="holds this install's key (to tell this install's marks from others'; never created by detect)",
    )
    detect.set_defaults(handler=_detect)


def _embed(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile as sf

    from core.audio import load_audio, write_wav
    from core.ethics import embed, load_install_key, new_generation_id, sign
    from core.workspace import check_output_folder

    check_output_folder(args.output)
    key = load_install_key(args.workspace)
    payload = sign(key, new_generation_id() if args.payload is None else args.payload)
    try:
        data, sr = sf.read(str(args.input), dtype="float32", always_2d=True)  # (n, channels)
        channels = data.T
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        mono, sr = load_audio(args.input)  # other formats through ffmpeg, as mono
        channels = mono[None, :]
    marked = np.stack([embed(channel, int(sr), payload) for channel in channels])
    write_wav(args.output, marked[0] if len(marked) == 1 else marked, int(sr))
    print(
        f"{args.output}: marked with install {payload.install_id:#06x}, generation {payload.generation_id}",
        file=sys.stderr,
    )
    return 0


def _audio_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            )
        else:
            files.append(path)
    return files


def _detect(args: argparse.Namespace) -> int:
    from core.audio import load_audio
    from core.ethics import detect
    from core.ethics.lookup import this_install_keys

    keys = this_install_keys(args.workspace)
    failed = False
    for path in _audio_files(args.paths):
        try:
            audio, sr = load_audio(path)
            found = detect(audio, sr, keys)
        except TimbreError as exc:
            failed = True
            if args.json:
                print(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False), flush=True)
            else:
                print(f"{path}: error: {exc}", file=sys.stderr, flush=True)
            continue
        payload = found.payload
        if args.json:
            record = {
                "file": str(path),
                "detected": found.detected,
                "false_alarm_probability": found.false_alarm_probability,
                "payload": None if payload is None else vars(payload),
                "signed_by_this_install": found.signed_by_this_install,
                "confidence": round(found.confidence, 3),
            }
            print(json.dumps(record, ensure_ascii=False), flush=True)
        else:
            print(f"{path}: {_describe(found)}", flush=True)
    return 2 if failed else 0


def _describe(found: Detection) -> str:
    if not found.detected:
        return f"no Timbre watermark found (score {found.confidence:.1f})"
    text = f"Timbre watermark found (false-alarm probability ≤ {found.false_alarm_probability:.1g})"
    if found.payload is None:
        return text + "; payload unreadable (too short or too damaged)"
    text += f"; install {found.payload.install_id:#06x}, generation {found.payload.generation_id}"
    if found.signed_by_this_install is None:
        return text
    if found.signed_by_this_install:
        return text + "; signed by this install"
    return text + "; NOT signed by this install (foreign or forged)"
