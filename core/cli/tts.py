"""`python -m core tts`: read text aloud in the voice of a reference clip (zero-shot GPT-SoVITS v2).

    python -m core tts --gpt GPT.ckpt --sovits SOVITS.pth --ref ref.wav --ref-text "参考文本" --ref-lang zh \\
        --text "要读的文字" --lang zh --out out.wav

Batch mode: `--text-file FILE` reads one utterance per line (blank lines are skipped) and writes
`OUT_001.wav`, `OUT_002.wav`, ... (numbered by utterance, next to `--out`), loading the models once.
Defaults are those of `core.synthesis.SynthesisRequest` (= the reference's `TTS.run`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import AudioError, SynthesisError, TextError
from core.settings import AUTO, DEFAULT_PRECISION, PRECISIONS, Settings, check_device, check_precision
from core.workspace import check_output_folder

if TYPE_CHECKING:
    from core.ethics import Marking

_DEFAULT_PRETRAINED = "pretrained"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from core.synthesis import LANGUAGES, knob_fields

    parser = subparsers.add_parser(
        "tts",
        help="synthesise speech in the voice of a reference clip",
        description="Zero-shot text to speech with a GPT (.ckpt) + SoVITS (.pth) pair; writes a 16-bit WAV.",
    )
    models = parser.add_argument_group("models")
    models.add_argument("--gpt", required=True, help="GPT (s1) weights, .ckpt")
    models.add_argument("--sovits", required=True, help="SoVITS (s2) weights, .pth")
    models.add_argument(
        "--pretrained",
        default=_DEFAULT_PRETRAINED,
        help="folder with chinese-hubert-base/ and chinese-roberta-wwm-ext-large/ (default: ./pretrained)",
    )
    models.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    add_precision_flag(models)

    voice = parser.add_argument_group("voice")
    voice.add_argument("--ref", required=True, help="reference clip, 3-10 s, any common audio format")
    voice.add_argument(
        "--aux-ref", action="append", default=[], metavar="AUDIO", help="extra reference clip (repeatable)"
    )
    voice.add_argument(
        "--ref-text", default="", help="transcript of the reference clip (empty: reference-free mode)"
    )
    voice.add_argument("--ref-lang", choices=LANGUAGES, help="language of --ref-text (default: --lang)")

    text = parser.add_argument_group("text")
    source = text.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the text to read")
    source.add_argument("--text-file", help="UTF-8 file, one utterance per line (batch mode)")
    text.add_argument("--lang", required=True, choices=LANGUAGES, help="language of the text")
    text.add_argument(
        "--user-dict",
        metavar="FILE",
        help="user dictionary of fixed readings (.json, or word<TAB>reading lines)",
    )
    parser.add_argument("--out", required=True, help="output .wav (batch mode: OUT_001.wav, ...)")
    marking = add_watermark_flags(parser)
    marking.add_argument(
        "--workspace",
        type=Path,
        default=Settings().workspace,
        help="workspace holding this install's watermark key and the usage log (default %(default)s)",
    )

    knobs = parser.add_argument_group("synthesis")
    for name, default, knob in knob_fields():  # one flag per tunable SynthesisRequest field
        if isinstance(default, bool):
            knobs.add_argument(knob.flag, dest=name, action="store_true", help=knob.help)
            continue
        kind = str if knob.choices else int if knob.integer else float
        shown = "the GPT file's" if default is None else default
        knobs.add_argument(
            knob.flag,
            dest=name,
            type=kind,
            default=default,
            choices=knob.choices or None,
            help=f"{knob.help} (default {shown})",
        )
    knobs.add_argument(
        "--no-split-bucket", action="store_true", help="batch fragments in input order, not by length"
    )
    knobs.add_argument("--no-parallel", action="store_true", help="decode fragments one at a time")
    parser.set_defaults(handler=_run)


def add_precision_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`--precision`, shared by `tts`, `worker` and app.py."""
    parser.add_argument(
        "--precision",
        default=DEFAULT_PRECISION,
        choices=(AUTO, *PRECISIONS),
        help="inference weights: fp32 is exact (the reference's numbers); bf16 and int8 are faster on CPU "
        "and drift slightly; auto (the default): int8 on CPUs with AVX512-BF16, else fp32 (and fp32 with "
        "--reference-compat); the choice is printed at start",
    )


def add_watermark_flags(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The watermark and usage-log flags shared by `tts` and `worker` (app.py has the same names)."""
    group = parser.add_argument_group("watermark and usage log")
    group.add_argument(
        "--no-watermark",
        action="store_true",
        help="operator only: do not watermark the audio (every usage-log line says so)",
    )
    group.add_argument(
        "--private-log", action="store_true", help="the usage log keeps the text's SHA-256, not the text"
    )
    return group


def start_responsible_use(args: argparse.Namespace) -> Marking:
    """Run the watermark self-check for `args.workspace` as the flags say (the generation refuses later,
    with the reason, if it failed)."""
    from core.ethics import ResponsibleUse, start_marking

    return start_marking(args.workspace, ResponsibleUse(not args.no_watermark, args.private_log))


def _utterances(args: argparse.Namespace) -> list[str]:
    if args.text is not None:
        return [args.text]
    path = Path(args.text_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise TextError(f"{path}: text file not found; check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TextError(f"{path}: cannot read it as UTF-8 text ({exc})") from exc
    utterances = [line.strip() for line in lines if line.strip()]
    if not utterances:
        raise TextError(f"{path}: has no text lines to read")
    return utterances


def _output_paths(out: str, n: int, batch: bool) -> list[Path]:
    out_path = Path(out)
    if out_path.suffix.lower() != ".wav":
        raise SynthesisError(f"--out {out}: the output must be a .wav file")
    if not batch:
        return [out_path]
    width = max(3, len(str(n)))
    return [out_path.with_name(f"{out_path.stem}_{i:0{width}d}{out_path.suffix}") for i in range(1, n + 1)]


def _run(args: argparse.Namespace) -> int:
    from core.ethics import Provenance
    from core.models.precision import describe
    from core.output import deliver
    from core.synthesis import SynthesisRequest, Synthesizer, knob_fields
    from core.text import UserDictionary

    utterances = _utterances(args)
    batch = args.text_file is not None
    outputs = _output_paths(args.out, len(utterances), batch)
    check_device(args.device)
    args.precision = check_precision(args.precision, args.device, reference_compat=args.reference_compat)
    for path in outputs:
        check_output_folder(path)

    def request_for(text: str) -> SynthesisRequest:
        return SynthesisRequest(
            text=text,
            text_lang=args.lang,
            ref_audio_path=args.ref,
            aux_ref_audio_paths=tuple(args.aux_ref),
            prompt_text=args.ref_text,
            prompt_lang=args.ref_lang or args.lang,
            split_bucket=not args.no_split_bucket,
            parallel_infer=not args.no_parallel,
            user_dict=user_dict,
            **{name: getattr(args, name) for name, _, _ in knob_fields()},
        )

    user_dict = UserDictionary.load(args.user_dict) if args.user_dict else None
    requests = [request_for(text) for text in utterances]  # invalid settings fail before loading models
    for clip in [args.ref, *args.aux_ref]:
        if not Path(clip).is_file():
            raise AudioError(f"{clip}: reference clip not found; check the path")
    marking = start_responsible_use(args)
    marking.ready()  # before loading models: a broken marker stops here, with the reason
    if marking.notice:
        print(f"warning: {marking.notice}; the usage log records it", file=sys.stderr)
    synth = Synthesizer.from_files(
        args.gpt, args.sovits, args.pretrained, device=args.device, precision=args.precision
    )
    print(describe(args.precision), file=sys.stderr)
    failed = 0
    for number, (request, out) in enumerate(zip(requests, outputs, strict=True), start=1):
        try:
            result = synth.synthesize_result(request)
        except TextError as exc:
            if not batch:
                raise
            failed += 1
            print(f"error: line {number}: {exc}", file=sys.stderr)
            continue
        delivery = deliver(
            result.audio,
            result.sample_rate,
            out,
            interface="cli",
            workspace_root=args.workspace,
            provenance=Provenance.of(request, args.gpt, args.sovits),
            meta={"seed": result.seed},
        )
        print(f"{out}: {delivery.seconds:.2f} s at {result.sample_rate} Hz, seed {result.seed}")
    return 1 if failed else 0
