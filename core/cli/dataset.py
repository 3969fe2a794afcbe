"""`python -m core dataset ...`: prepare training data.

    python -m core dataset import NAME AUDIO_ZIP_OR_FOLDER... [--workspace DIR]
    python -m core dataset inspect AUDIO_OR_FOLDER...
    python -m core dataset denoise AUDIO_OR_FOLDER... --out DIR
    python -m core dataset separate AUDIO_OR_FOLDER... --out DIR [--model htdemucs] [--no-accompaniment]
    python -m core dataset slice AUDIO_OR_FOLDER... --out DIR [--mode rms|vad] [--max-clip-seconds 12 ...]
    python -m core dataset check LIST [--wav-dir DIR] [--write-clean LIST]
    python -m core dataset features LIST --wav-dir DIR --exp DIR --pretrained DIR [--version v2]
    python -m core dataset transcribe NAME_OR_LIST [--engine faster-whisper|pocketsphinx|funasr]
        [--model PATH_OR_NAME] [--language auto|zh|en|ja|ko|yue] [--redo]

`import` copies recordings into `<workspace>/datasets/NAME/raw/` (mono 32 kHz) with the same measures and
verdicts as `inspect` (exit 1 if a file was skipped). `inspect` measures recordings (duration, speech, peak,
clipping, LUFS, silence, SNR estimate) and gives a verdict per file and for the set (exit 1 if anything is
wrong). `denoise` writes RNNoise-denoised copies (same names, mono 32 kHz, time-aligned with the originals,
which are never overwritten) into `--out` (exit 1 if some file failed); slice that folder afterwards.
`separate` writes the vocals of each recording (Demucs, for recordings with music; the model is fetched by
`pretrained download --separator NAME`) into `--out`, the accompaniment into its `accompaniment/` subfolder
(exit 1 if some file failed, 2 if the model is absent). `slice` cuts recordings into clips at silences (the
reference's slicer and defaults, plus a maximum clip length; `--mode vad` finds the pauses with silero-vad
instead of a volume threshold) as `<file>_<start>_<end>.wav` at 32 kHz (exit 1 if some file could not be
sliced). `check` lists every problem of a `.list` file by line number (exit 1 if there is any;
`--write-clean` writes the good lines to another list). `features` writes the reference's experiment folder
(2-name2text.txt, 3-bert/, 4-cnhubert/, 5-wav32k/, 6-name2semantic.tsv); a rerun skips clips already done;
bad clips are reported and skipped (exit 1 when some were, 2 when none could be prepared). `transcribe`
fills the empty transcripts of a `.list` (or of dataset NAME's list in the workspace, started from its
sliced clips) with an ASR engine and writes each clip's confidence beside it in `<list>.confidence.json`
(see `core.data.asr`); `--redo` transcribes every clip again (exit 1 if some clip could not be transcribed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from core.pretrained import DEFAULT_SEPARATOR, SEPARATOR_MODELS
from core.settings import check_device

_DEFAULT_PRETRAINED = "pretrained"
# SlicerSettings field, default, help (defaults repeated here so --help needs no import of numpy).
_SLICER_FLAGS = (
    ("threshold_db", -34.0, "frames quieter than this (dBFS) may be cut"),
    ("min_length_ms", 4000, "a clip is not ended before it is this long"),
    ("min_interval_ms", 300, "shortest silence that is cut"),
    ("hop_size_ms", 10, "volume curve hop"),
    ("max_sil_kept_ms", 500, "silence kept at each side of a cut"),
    ("max_clip_seconds", 12.0, "longer clips are split at their quietest point"),
    ("normalize_max", 0.9, "peak after normalisation"),
    ("normalize_alpha", 0.25, "share of the normalised clip in the mix"),
    ("mode", "rms", "rms: the reference's volume threshold; vad: silero-vad speech detection"),
)
_SLICER_MODES = ("rms", "vad")  # core.data.slicer.SLICER_MODES (a test keeps them equal)

# core.data.asr's ENGINES and LANGUAGES, repeated so --help imports no torch (a test keeps them equal).
_ASR_ENGINES = ("faster-whisper", "pocketsphinx", "funasr")
_ASR_LANGUAGES = ("auto", "zh", "en", "ja", "ko", "yue")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dataset", help="check a .list file, extract training features", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="dataset_command", required=True)

    importer = commands.add_parser("import", help="copy recordings into a dataset of the workspace")
    importer.add_argument("name", metavar="NAME", help="dataset name (letters, digits, spaces, _ - .)")
    importer.add_argument("inputs", nargs="+", metavar="AUDIO", help="recordings, zips of them, or folders")
    importer.add_argument("--workspace", type=Path, default=Path("workspace"), help="the studio's workspace")
    importer.set_defaults(handler=_import)

    inspect = commands.add_parser("inspect", help="measure recordings and say whether they suit training")
    inspect.add_argument("inputs", nargs="+", metavar="AUDIO", help="recordings, or folders of recordings")
    inspect.set_defaults(handler=_inspect)

    slicer = _files_command(
        commands,
        "slice",
        "cut recordings into clips at silences",
        "The reference's slicer (its web UI's defaults) plus a maximum clip length.",
        "folder for the clips (created if absent)",
    )
    for name, default, help_text in _SLICER_FLAGS:
        slicer.add_argument(
            "--" + name.replace("_", "-"),
            type=type(default),
            default=default,
            choices=_SLICER_MODES if name == "mode" else None,
            help=f"{help_text} ({default})",
        )
    slicer.set_defaults(handler=_slice)

    denoiser = _files_command(
        commands,
        "denoise",
        "write denoised copies of recordings (RNNoise), to slice afterwards",
        "RNNoise on each recording; the copies stay time-aligned with the originals.",
        "folder for the copies (created if absent)",
    )
    denoiser.add_argument(
        "--speech-reduction-db",
        type=float,
        default=6.0,  # core.data.denoise.SPEECH_REDUCTION_DB (a test keeps them equal)
        help="at most this much is taken away where RNNoise hears speech, pauses are denoised in full "
        "(6; inf: RNNoise unbounded, which also removes parts of some speech)",
    )
    denoiser.set_defaults(handler=_denoise)

    separator = _files_command(
        commands,
        "separate",
        "write the vocals of recordings with music (Demucs), to slice afterwards",
        "Demucs vocal / accompaniment separation; the vocals stay time-aligned with the originals.",
        "folder for the vocals (created if absent); the accompaniment goes to its accompaniment/ subfolder",
    )
    separator.add_argument(
        "--model",
        default=DEFAULT_SEPARATOR,
        help=f"a name under PRETRAINED/separator/ ({', '.join(SEPARATOR_MODELS)}; `pretrained download "
        f"--separator NAME` fetches one) or a model folder (default: {DEFAULT_SEPARATOR})",
    )
    separator.add_argument("--no-accompaniment", action="store_true", help="write the vocals only")
    separator.add_argument(
        "--pretrained",
        default=_DEFAULT_PRETRAINED,
        help="folder whose separator/ holds the models (./pretrained)",
    )
    separator.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    separator.set_defaults(handler=_separate)

    check = commands.add_parser("check", help="list the problems of a .list file by line number")
    check.add_argument("list", metavar="LIST", help="transcript list, path|speaker|lang|text per line")
    check.add_argument("--wav-dir", help="folder holding the clips (default: the paths in the list)")
    check.add_argument("--write-clean", metavar="LIST", help="also write the lines without problems here")
    check.set_defaults(handler=_check)

    features = commands.add_parser(
        "features",
        help="write the training features of a .list (the reference's formatting stages 1a/1b/1c)",
        description="Text, BERT, HuBERT, 32 kHz wav and semantic-token files in the reference's layout.",
    )
    features.add_argument("list", metavar="LIST", help="transcript list, path|speaker|lang|text per line")
    features.add_argument("--wav-dir", help="folder holding the clips (default: the paths in the list)")
    features.add_argument("--exp", required=True, help="experiment folder to write (created if absent)")
    features.add_argument(
        "--pretrained",
        default=_DEFAULT_PRETRAINED,
        help="folder with chinese-roberta-wwm-ext-large/, chinese-hubert-base/ and the base SoVITS "
        "(default: ./pretrained)",
    )
    features.add_argument("--version", default="v2", help="model version (only v2 today)")
    features.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    features.add_argument(
        "--reference-compat",
        action="store_true",
        help="read transcripts exactly as GPT-SoVITS (no Timbre corrections)",
    )
    features.set_defaults(handler=_features)

    transcribe = commands.add_parser(
        "transcribe",
        help="fill a .list's transcripts with speech recognition",
        description="Transcribe the clips of a .list (or of a dataset of the workspace) whose text is empty.",
    )
    transcribe.add_argument("target", metavar="NAME_OR_LIST", help="a dataset name or a .list file")
    transcribe.add_argument(
        "--engine",
        default="faster-whisper",
        choices=_ASR_ENGINES,
        help="faster-whisper (multilingual, default), pocketsphinx (English, nothing to download), funasr "
        "(Chinese Paraformer, needs `pip install funasr` and its model folder)",
    )
    transcribe.add_argument(
        "--model",
        help="model folder, or a name under PRETRAINED/asr/ (`pretrained download --asr NAME` fetches one)",
    )
    transcribe.add_argument(
        "--language",
        default="auto",
        choices=_ASR_LANGUAGES,
        help="language spoken in the clips (default: auto, detected per clip)",
    )
    transcribe.add_argument("--redo", action="store_true", help="transcribe clips that have a text again")
    transcribe.add_argument(
        "--workspace", type=Path, default=Path("workspace"), help="the studio's workspace"
    )
    transcribe.add_argument(
        "--pretrained", default=_DEFAULT_PRETRAINED, help="folder whose asr/ holds the models (./pretrained)"
    )
    transcribe.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    transcribe.set_defaults(handler=_transcribe)


def _files_command(
    commands: argparse._SubParsersAction, name: str, help_text: str, description: str, out_help: str
) -> argparse.ArgumentParser:
    """A command that reads recordings (files or folders) and writes into the folder `--out`."""
    parser = commands.add_parser(name, help=help_text, description=description)
    parser.add_argument("inputs", nargs="+", metavar="AUDIO", help="recordings, or folders of recordings")
    parser.add_argument("--out", required=True, help=out_help)
    return parser


def _audio_files(inputs: list[str]) -> list[Path]:
    from core.errors import AudioError

    files = []
    for given in map(Path, inputs):
        if given.is_dir():
            files += sorted(p for p in given.iterdir() if p.is_file())
        elif given.is_file():
            files.append(given)
        else:
            raise AudioError(f"{given}: no such file or folder; check the path")
    return files


def _quality_row(name: str, q) -> str:
    from core.data.quality import verdict

    return (
        f"{name[:32]:32} {q.seconds:8.1f} {q.speech_seconds:7.1f} {q.peak_dbfs:8.1f} "
        f"{100 * q.clipped_fraction:7.2f}% {q.loudness_lufs:6.1f} {q.snr_db:7.1f}  {verdict(q)}"
    )


_QUALITY_HEADER = (
    f"{'file':32} {'seconds':>8} {'speech':>7} {'peak dB':>8} {'clipped':>8} {'LUFS':>6} {'SNR dB':>7}"
)


def _import(args: argparse.Namespace) -> int:
    from core.data.importer import import_recordings
    from core.workspace import Workspace

    report = import_recordings(Workspace.open(args.workspace), args.name, args.inputs)
    print(_QUALITY_HEADER)
    for item in report.files:
        if item.quality is None:
            print(f"skipped: {item.source}: {item.error}", file=sys.stderr)
        else:
            print(_quality_row(item.source, item.quality))
    n_ok = sum(item.quality is not None for item in report.files)
    print(f"{report.dataset_dir}: {n_ok} recording(s) imported: {report.verdict}")
    return 1 if n_ok < len(report.files) else 0


def _inspect(args: argparse.Namespace) -> int:
    from core.audio import load_audio
    from core.data.quality import combine, measure, verdict
    from core.errors import AudioError, TimbreError

    measured, failed = [], 0
    print(_QUALITY_HEADER)
    for path in _audio_files(args.inputs):
        try:
            wav, sr = load_audio(path)
            quality = measure(wav, sr)
        except (TimbreError, ValueError) as exc:
            failed += 1
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        measured.append(quality)
        print(_quality_row(path.name, quality))
    if not measured:
        raise AudioError("none of the files could be read as audio")
    total = combine(measured)
    speech = f"{total.speech_seconds:.1f} s of speech"
    print(f"set: {len(measured)} file(s), {total.seconds:.1f} s, {speech}: {verdict(total)}")
    return 1 if failed or not total.ok or not all(q.ok for q in measured) else 0


def _each_file(inputs: list[str], work: Callable[[Path], str]) -> int:
    """Run `work` on every recording of `inputs`, printing what it says or why the file was skipped; exit 1
    if some file was skipped."""
    from core.errors import TimbreError

    failed = 0
    for path in _audio_files(inputs):
        try:
            print(f"{path.name}: {work(path)}")
        except TimbreError as exc:
            failed += 1
            print(f"skipped: {exc}", file=sys.stderr)
    return 1 if failed else 0


def _slice(args: argparse.Namespace) -> int:
    from core.data.slicer import SlicerSettings, slice_file

    settings = SlicerSettings(**{name: getattr(args, name) for name, _, _ in _SLICER_FLAGS})
    return _each_file(args.inputs, lambda path: f"{len(slice_file(path, args.out, settings))} clip(s)")


def _denoise(args: argparse.Namespace) -> int:
    from core.data.denoise import denoise_file

    def work(path: Path) -> str:
        return str(denoise_file(path, Path(args.out) / f"{path.stem}.wav", None, args.speech_reduction_db))

    return _each_file(args.inputs, work)


def _separate(args: argparse.Namespace) -> int:
    from core.data.separate import VocalSeparator, require_model

    check_device(args.device)
    files = _audio_files(args.inputs)  # a wrong path fails before the model loads
    separator = VocalSeparator(require_model(args.model, args.pretrained), args.device)

    def work(path: Path) -> str:
        done = separator.separate_file(path, args.out, accompaniment=not args.no_accompaniment)
        rest = f", accompaniment in {done.accompaniment}" if done.accompaniment else ""
        return f"vocals in {done.vocals}{rest}"

    return _each_file([str(f) for f in files], work)


def _check(args: argparse.Namespace) -> int:
    from core.data.listfile import read_list, validate_list, write_list
    from core.features import clean_line

    listfile = read_list(args.list)
    good, problems = validate_list(listfile, args.wav_dir, read_text=clean_line)
    for problem in problems:
        print(problem)
    if args.write_clean:
        write_list(args.write_clean, good)
        print(f"{args.write_clean}: {len(good)} line(s) without problems written", file=sys.stderr)
    print(f"{len(good)} clip(s) ready, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def _features(args: argparse.Namespace) -> int:
    from core.data.features import FeatureModels, extract_features
    from core.data.listfile import read_list

    check_device(args.device)
    read_list(args.list)  # a missing list fails before the models load
    models = FeatureModels.from_pretrained(args.pretrained, args.version, device=args.device)

    def on_clip(index: int, total: int, name: str) -> None:
        print(f"[{index + 1}/{total}] {name}", file=sys.stderr)

    report = extract_features(
        args.list,
        args.exp,
        models,
        wav_dir=args.wav_dir,
        reference_compat=args.reference_compat,
        on_clip=on_clip,
    )
    for problem in report.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    print(
        f"{args.exp}: {report.n_ready} clip(s) ready ({len(report.made)} made, {len(report.kept)} already "
        f"done), {len(report.problems)} skipped"
    )
    return 1 if report.problems else 0


def _transcribe(args: argparse.Namespace) -> int:
    from core.data.asr import confidence_path, dataset_list, load_transcriber, transcribe_list
    from core.workspace import Workspace

    check_device(args.device)
    given = Path(args.target)
    if given.suffix == ".list" or given.is_file():
        list_path = given
    else:
        list_path = dataset_list(Workspace.open(args.workspace), args.target, args.language)
    transcriber = load_transcriber(args.engine, args.model, args.pretrained, args.device)

    def on_clip(index: int, total: int, name: str) -> None:
        print(f"[{index + 1}/{total}] {name}", file=sys.stderr)

    report = transcribe_list(list_path, transcriber, language=args.language, redo=args.redo, on_clip=on_clip)
    for problem in report.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    print(
        f"{list_path}: {len(report.done)} clip(s) transcribed with {transcriber.engine} "
        f"({transcriber.model}), {report.kept} kept, {len(report.problems)} skipped; "
        f"confidences in {confidence_path(list_path)}"
    )
    return 1 if report.problems else 0
