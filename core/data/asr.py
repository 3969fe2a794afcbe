"""Speech recognition behind one interface: clips in, `Transcript`s out; a dataset's `.list` filled in.

Engines (`ENGINES`), each a `Transcriber` made by `load_transcriber`:

    faster-whisper  the default, multilingual: any CTranslate2 Whisper folder, given by path or by its name
                    under `<pretrained>/asr/` (`python -m core pretrained download --asr NAME` fetches one).
                    Confidence: the geometric mean of its token probabilities (exp of the segments'
                    token-weighted `avg_logprob`).
    pocketsphinx    English only; its model ships inside the package, nothing is downloaded. Confidence: the
                    mean posterior probability of the recognised words.
    funasr          Chinese (Paraformer), only where its model folder is present (a path, or
                    `<pretrained>/asr/paraformer-zh`) and the `funasr` package is installed (a heavy
                    package Timbre does not require). No confidence.

`transcribe` runs an engine over clip files. `transcribe_list` fills the empty transcripts of a `.list` (the
reference's `path|speaker|lang|text`; the language column gets the recognised language, upper-case, as
the reference's ASR writes it) and records what the engine said beside it, in `<list>.confidence.json`:

    {"version": 1,
     "clips": {"<path column as in the .list>": {"confidence": 0.83, "language": "en",
                                                 "text": "what it heard", "engine": "faster-whisper",
                                                 "model": "tiny.en"}}}

`confidence` is in [0, 1], or null when the engine gives none (funasr) or heard nothing. `text` is the
engine's transcript, so a reader (the Proofread tab's sort by confidence) can tell a line edited since
(its text differs) from an untouched one. Clips transcribed again replace their entry; the others stay.
Both files are written atomically, after each clip at most every `SAVE_INTERVAL_S` and when the run ends
or is cancelled, so a rerun continues where a cancelled one stopped. A save merges into the `.list` as it is
on disk then: a line edited or deleted meanwhile (in the Proofread tab) keeps the edit.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from core.audio import load_audio
from core.data.listfile import LANGUAGE_CODES, ListEntry, ListProblem, audio_path, read_list, write_list
from core.data.proofread import add_clips, clips_dir, list_path
from core.errors import PretrainedMissingError, TimbreError
from core.pretrained import (
    ASR_DIR,
    ASR_MODELS,
    DEFAULT_ASR_MODEL,
    asr_download_command,
    asr_folder_kind,
    asr_models,
)
from core.workspace import Workspace, atomic_write_text

ENGINES = ("faster-whisper", "pocketsphinx", "funasr")
DEFAULT_ENGINE = "faster-whisper"
LANGUAGES = ("auto", "zh", "en", "ja", "ko", "yue")
"""What `language` accepts: `auto` (the engine detects it) or a language Timbre trains on."""
ASR_SR = 16000
"""Every engine hears mono float32 audio at this rate, Hz."""
FUNASR_MODEL = "paraformer-zh"
"""The folder name under `<pretrained>/asr/` where the funasr engine looks for its Paraformer model."""
_FUNASR_SOURCE = "iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-pytorch"  # on ModelScope
SAVE_INTERVAL_S = 2.0
CONFIDENCE_SUFFIX = ".confidence.json"
_SIDECAR_VERSION = 1
_SPHINX_NON_WORDS = re.compile(r"^(<s>|</s>|<sil>|\[.*\])$")  # utterance marks, silence, fillers
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")

ClipCallback = Callable[[int, int, str], None]
"""Called before each clip with (index from 0, number of clips, clip name); it may raise to stop the run."""


class AsrError(TimbreError):
    """An engine that cannot run as asked (unknown engine, a language it does not speak, package missing)."""


@dataclass(frozen=True)
class Transcript:
    """What an engine heard in one clip: `language` is a code such as `en` or `zh`; `confidence` in [0, 1]
    or None when the engine gives none."""

    path: str
    text: str
    language: str
    confidence: float | None


class Transcriber(Protocol):
    """One loaded engine. `recognize` takes mono float32 audio at `ASR_SR` (shape (n,)) and a `LANGUAGES`
    value and returns a `Transcript` with an empty path."""

    engine: str
    model: str  # a name under `<pretrained>/asr/`, else the folder's path
    languages: tuple[str, ...]  # the `LANGUAGES` values it accepts

    def recognize(self, wav_16k: np.ndarray, language: str) -> Transcript: ...


def _clean(text: str) -> str:
    """One line a `.list` can hold: whitespace runs (line breaks included) and `|` become one space."""
    return " ".join(text.replace("|", " ").split())


def check_language(transcriber: Transcriber, language: str) -> None:
    """Raise `AsrError` unless `transcriber` can be asked for `language`."""
    if language not in LANGUAGES:
        raise AsrError(f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}")
    if language not in transcriber.languages:
        speaks = ", ".join(s for s in transcriber.languages if s != "auto")
        raise AsrError(
            f"{transcriber.engine} ({transcriber.model}) recognises {speaks} only, not {language}; use "
            "--engine faster-whisper with a multilingual model (or funasr for Chinese)"
        )


def _model_label(folder: Path) -> str:
    return folder.name if folder.parent.name == ASR_DIR else str(folder)


class WhisperTranscriber:
    """faster-whisper on a CTranslate2 Whisper folder (int8 on the CPU, float16 on a GPU); `threads` is
    CTranslate2's CPU thread count (0: its default)."""

    engine = "faster-whisper"

    def __init__(self, folder: Path, device: str = "cpu", threads: int = 0) -> None:
        from faster_whisper import WhisperModel

        kind, _, index = device.partition(":")
        try:
            self._model = WhisperModel(
                str(folder),
                device=kind,
                device_index=int(index or 0),
                compute_type="float16" if kind == "cuda" else "int8",
                cpu_threads=threads,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise AsrError(f"{folder}: cannot load it as a CTranslate2 Whisper model ({exc})") from exc
        self.model = _model_label(folder)
        self.languages = LANGUAGES if self._model.model.is_multilingual else ("auto", "en")

    def recognize(self, wav_16k: np.ndarray, language: str) -> Transcript:
        check_language(self, language)
        segments, info = self._model.transcribe(
            wav_16k.astype(np.float32, copy=False),
            language=None if language == "auto" else language,
            beam_size=5,
            condition_on_previous_text=False,  # clips are independent
            # Whisper invents words in silence ("You"); its bundled VAD drops silence first (the reference's
            # settings).
            vad_filter=True,
            vad_parameters={"min_silence_duration_ms": 700},
        )
        segments = list(segments)
        n_tokens = sum(len(s.tokens) for s in segments)
        logprob = sum(s.avg_logprob * len(s.tokens) for s in segments) / n_tokens if n_tokens else None
        text = _clean("".join(s.text for s in segments))
        confidence = math.exp(logprob) if logprob is not None and text else None
        return Transcript("", text, info.language, confidence)


class SphinxTranscriber:
    """pocketsphinx with the US English model it ships."""

    engine = "pocketsphinx"
    model = "en-us"
    languages = ("auto", "en")

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(loglevel="FATAL")

    def recognize(self, wav_16k: np.ndarray, language: str) -> Transcript:
        check_language(self, language)
        pcm = (np.clip(wav_16k, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        words = [s for s in decoder.seg() if not _SPHINX_NON_WORDS.match(s.word)] if hyp else []
        text = _clean(hyp.hypstr) if hyp else ""
        confidence = float(np.mean([s.prob for s in words])) if words and text else None
        return Transcript("", text, "en", confidence)


class FunAsrTranscriber:
    """FunASR's Paraformer (Chinese) from a local model folder; nothing is downloaded."""

    engine = "funasr"
    languages = ("auto", "zh")

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        from funasr import AutoModel

        try:
            self._model = AutoModel(model=str(folder), device=device, disable_update=True)
        except Exception as exc:  # funasr raises bare exceptions of many kinds for a bad folder
            raise AsrError(f"{folder}: cannot load it as a FunASR model ({exc})") from exc
        self.model = _model_label(folder)

    def recognize(self, wav_16k: np.ndarray, language: str) -> Transcript:
        check_language(self, language)
        result = self._model.generate(input=wav_16k.astype(np.float32, copy=False))
        text = result[0].get("text", "") if result else ""
        return Transcript("", _clean(_CJK_GAP.sub("", text)), "zh", None)  # Paraformer spaces out characters


def _missing_model(engine: str, name: str, root: Path) -> PretrainedMissingError:
    where = root / ASR_DIR / name
    if engine == "funasr":
        return PretrainedMissingError(
            f"FunASR's Paraformer model is not in {where}: download the ModelScope model {_FUNASR_SOURCE} "
            f"into that folder (e.g. `modelscope download --model {_FUNASR_SOURCE} --local_dir {where}`), "
            "or give --model the path of a Paraformer folder"
        )
    if name in ASR_MODELS:
        return PretrainedMissingError(
            f"ASR model {name!r} is not in {where}; run `{asr_download_command(name, root)}` when online, "
            "or give --model the path of a CTranslate2 Whisper folder"
        )
    return PretrainedMissingError(
        f"ASR model {name!r}: no such folder, nor {where}; give --model the path of a CTranslate2 Whisper "
        f"folder, or one of the names `python -m core pretrained download --asr NAME` fetches "
        f"({', '.join(ASR_MODELS)})"
    )


def model_folder(engine: str, model: str | None, pretrained_dir: str | os.PathLike) -> Path:
    """The model folder `engine` would load: `model` as a path, else `<pretrained_dir>/asr/<model>`; with no
    `model`, the engine's default (funasr: `paraformer-zh`; faster-whisper: `DEFAULT_ASR_MODEL` or else
    the first Whisper folder present). Raises `PretrainedMissingError` naming what to run when absent."""
    root = Path(pretrained_dir)
    if model is None:
        if engine == "funasr":
            model = FUNASR_MODEL
        else:
            present = [name for name, kind in asr_models(root).items() if kind == engine]
            model = DEFAULT_ASR_MODEL if DEFAULT_ASR_MODEL in present or not present else present[0]
    given = Path(model).expanduser()
    folder = given if given.is_dir() else root / ASR_DIR / model
    if not folder.is_dir():
        raise _missing_model(engine, model, root)
    kind = asr_folder_kind(folder)
    if kind != engine:
        raise AsrError(
            f"{folder} is not a {engine} model folder"
            + (
                f" (it holds a {kind} model: use --engine {kind})"
                if kind
                else " (its model files are missing)"
            )
        )
    return folder


def require_model(engine: str, model: str | None, pretrained_dir: str | os.PathLike) -> Path | None:
    """Check that `engine` can load: its model folder (see `model_folder`; None for pocketsphinx, whose
    model is inside the package) and, for funasr, the package. Raises a `TimbreError` saying what to run."""
    if engine not in ENGINES:
        raise AsrError(f"unknown ASR engine {engine!r}; use one of {', '.join(ENGINES)}")
    if engine == "pocketsphinx":
        return None
    if engine != "funasr" or importlib.util.find_spec("funasr") is not None:
        return model_folder(engine, model, pretrained_dir)
    try:
        model_folder(engine, model, pretrained_dir)
    except PretrainedMissingError as exc:
        raise PretrainedMissingError(
            f"{exc}; FunASR itself is not installed either: `pip install funasr`"
        ) from exc
    raise AsrError("FunASR is not installed (Timbre does not require it): run `pip install funasr`")


def load_transcriber(
    engine: str = DEFAULT_ENGINE,
    model: str | None = None,
    pretrained_dir: str | os.PathLike = "pretrained",
    device: str = "cpu",
) -> Transcriber:
    """Load an engine (see the module docstring) with its model; `device` is `cpu`, `cuda` or `cuda:N`."""
    folder = require_model(engine, model, pretrained_dir)
    if folder is None:
        return SphinxTranscriber()
    if engine == "funasr":
        return FunAsrTranscriber(folder, device)
    return WhisperTranscriber(folder, device)


def transcribe_file(transcriber: Transcriber, path: str | os.PathLike, language: str = "auto") -> Transcript:
    """Transcribe one audio file (any format `core.audio.load_audio` reads). Raises `AudioError` for a file
    that cannot be read."""
    wav, _ = load_audio(path, ASR_SR)
    return replace(transcriber.recognize(wav, language), path=str(path))


def transcribe(
    clips: Iterable[str | os.PathLike],
    engine: str = DEFAULT_ENGINE,
    *,
    language: str = "auto",
    model: str | None = None,
    pretrained_dir: str | os.PathLike = "pretrained",
    device: str = "cpu",
) -> list[Transcript]:
    """Load `engine` and transcribe every clip, in order (see `load_transcriber` and `transcribe_file`)."""
    transcriber = load_transcriber(engine, model, pretrained_dir, device)
    check_language(transcriber, language)
    return [transcribe_file(transcriber, clip, language) for clip in clips]


# --------------------------------------------------------------------------------------------------
# A dataset's `.list` and its confidence file


def confidence_path(list_file: str | os.PathLike) -> Path:
    """`<list>.confidence.json`, beside the `.list`."""
    return Path(f"{os.fspath(list_file)}{CONFIDENCE_SUFFIX}")


def _read_sidecar(list_file: Path) -> dict[str, dict]:
    path = confidence_path(list_file)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return dict(data["clips"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AsrError(
            f"{path}: not a confidence file Timbre wrote ({exc}); delete it and transcribe again"
        ) from exc


def read_confidences(list_file: str | os.PathLike) -> dict[str, Transcript]:
    """What ASR said for each clip of a `.list`, by path column (empty when there is no confidence file)."""
    return {
        path: Transcript(path, clip.get("text", ""), clip.get("language", ""), clip.get("confidence"))
        for path, clip in _read_sidecar(Path(list_file)).items()
    }


@dataclass
class TranscribeReport:
    """What `transcribe_list` did: transcripts made now, lines left as they were, problems by line."""

    done: list[Transcript] = field(default_factory=list)
    kept: int = 0
    problems: list[ListProblem] = field(default_factory=list)


def transcribe_list(
    list_file: str | os.PathLike,
    transcriber: Transcriber,
    *,
    language: str = "auto",
    redo: bool = False,
    on_clip: ClipCallback | None = None,
) -> TranscribeReport:
    """Transcribe the clips of a `.list` whose text is empty (every clip with `redo`), writing the `.list`
    and its confidence file (see the module docstring). A clip that cannot be read, or in which nothing was
    heard, is a problem on its line and keeps its empty text; the others go on."""
    list_file = Path(list_file)
    check_language(transcriber, language)
    entries = read_list(list_file).entries
    sidecar = _read_sidecar(list_file)
    todo = [entry for entry in entries if redo or not entry.text.strip()]
    report = TranscribeReport(kept=len(entries) - len(todo))
    made: dict[str, ListEntry] = {}  # path column -> the line with its transcript

    def save() -> None:
        # Merged into the list as it is now: lines someone edited (Proofread tab) or deleted meanwhile win.
        started = {entry.path: entry.text for entry in todo}
        now = read_list(list_file).entries
        write_list(
            list_file,
            [
                replace(made[e.path], line_no=e.line_no, speaker=e.speaker)
                if e.path in made and e.text == started.get(e.path)
                else e
                for e in now
            ],
        )
        atomic_write_text(
            confidence_path(list_file),
            json.dumps({"version": _SIDECAR_VERSION, "clips": sidecar}, ensure_ascii=False, indent=1) + "\n",
        )

    saved_at = time.monotonic()
    try:
        for step, entry in enumerate(todo):
            if on_clip is not None:
                on_clip(step, len(todo), entry.name)
            try:
                heard = transcribe_file(transcriber, audio_path(entry, None, list_file.parent), language)
            except TimbreError as exc:
                report.problems.append(ListProblem(entry.line_no, str(exc)))
                continue
            heard = replace(heard, path=entry.path)
            sidecar[entry.path] = {
                "confidence": heard.confidence,
                "language": heard.language,
                "text": heard.text,
                "engine": transcriber.engine,
                "model": transcriber.model,
            }
            if not heard.text:
                report.problems.append(
                    ListProblem(
                        entry.line_no, f"{entry.name}: no speech recognised; write its text or delete it"
                    )
                )
                continue
            made[entry.path] = replace(entry, text=heard.text, lang=heard.language.upper())
            report.done.append(heard)
            if time.monotonic() - saved_at >= SAVE_INTERVAL_S:
                save()
                saved_at = time.monotonic()
    finally:
        if todo:
            save()
    return report


def dataset_list(workspace: Workspace, name: str, language: str = "auto") -> Path:
    """The `.list` of dataset `name` in the workspace, given a line (empty text) for each sliced clip it
    lacks; the new lines' language column is `language` (`ZH` for auto: ASR sets it per clip)."""
    target = list_path(workspace, name)
    clips = sorted(clips_dir(workspace, name).glob("*.wav"))
    if clips:
        add_clips(target, clips, name, language.upper() if language.upper() in LANGUAGE_CODES else "ZH")
    elif not target.is_file():
        raise AsrError(
            f"dataset {name!r} has no clips in {clips_dir(workspace, name)} and no .list; slice its "
            "recordings first (`python -m core dataset slice` or the Dataset tab), or give a .list file"
        )
    return target


def missing_model_hint(engine: str, model: str | None, pretrained_dir: str | os.PathLike) -> str | None:
    """What to run or install before `engine` can load (None when nothing is missing): for the UI, which
    says it before anything is queued."""
    try:
        require_model(engine, model, pretrained_dir)
    except TimbreError as exc:
        return str(exc)
    return None
