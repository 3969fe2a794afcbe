"""Training features of a dataset: the reference's one-click formatting (stages 1a, 1b, 1c) in one pass.

For a `.list` file and its clips this writes an experiment folder the reference's training scripts can use
as is (and reads one they wrote):

    2-name2text.txt       name \\t phones (space-joined) \\t word2ph (Python list or None) \\t normalised text
    3-bert/<name>.pt      Chinese lines: phone-level BERT features, float32 (1024, n_phones)
    4-cnhubert/<name>.pt  HuBERT content of the 16 kHz HuBERT input, float32 (1, 768, T), 50 frames/s
    5-wav32k/<name>       the level-normalised clip, 16-bit mono WAV at 32 kHz
    6-name2semantic.tsv   header `item_name\\tsemantic_audio`, then name \\t SoVITS latent codes (25 Hz)

(`<name>` is the base name of the clip's path, extension kept.) Lines are in `.list` order. The work is
done clip by clip; every file is written atomically and the two text files are rewritten after each clip,
so an interrupted run loses at most the clip in progress and a rerun skips the clips already done (a
clip is done when its files exist, as in the reference: delete them to redo it; a changed transcript
redoes its text line and BERT file). A bad
clip (unreadable audio, unknown language, unreadable text, out-of-bounds duration) is reported with its
line number and skipped; it never stops the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.audio import write_wav
from core.checkpoints import load_sovits
from core.data.listfile import ListEntry, ListProblem, audio_path, read_list, validate_list
from core.errors import TimbreError
from core.features import (
    TRAINING_SR,
    CleanedLine,
    clean_line,
    decode_32k,
    hubert_content,
    line_bert,
    semantic_codes,
    training_audio,
)
from core.models.bert import BertPhoneFeatures
from core.models.hubert import HubertContent
from core.models.sovits import SoVITS
from core.pretrained import model_paths, require_supported
from core.text.g2pw import G2PW, load_if_present
from core.workspace import atomic_replace, atomic_write_text

NAME2TEXT = "2-name2text.txt"
BERT_DIR = "3-bert"
HUBERT_DIR = "4-cnhubert"
WAV32K_DIR = "5-wav32k"
NAME2SEMANTIC = "6-name2semantic.tsv"
SEMANTIC_HEADER = "item_name\tsemantic_audio"


class DatasetError(TimbreError):
    """A dataset that cannot be processed at all (no usable clip, an experiment folder that is not one)."""


@dataclass(frozen=True)
class FeatureModels:
    """The models the features need: BERT (text), HuBERT (content), the pretrained SoVITS (latent codes)."""

    bert: BertPhoneFeatures
    hubert: HubertContent
    sovits: SoVITS
    g2pw: G2PW | None = None

    @classmethod
    def from_pretrained(
        cls, pretrained_dir: str | os.PathLike, version: str = "v2", device: str | torch.device = "cpu"
    ) -> FeatureModels:
        """Load them from a pretrained folder in the reference's layout (`chinese-roberta-wwm-ext-large/`,
        `chinese-hubert-base/`, the version's base SoVITS file; `G2PWModel/` used when present)."""
        paths = model_paths(pretrained_dir, require_supported(version))
        return cls(
            bert=BertPhoneFeatures.from_pretrained(paths.bert_dir, device=device),
            hubert=HubertContent.from_pretrained(paths.hubert_dir, device=device),
            sovits=load_sovits(paths.sovits, device=device).model,
            g2pw=load_if_present(pretrained_dir),
        )


@dataclass
class FeaturesReport:
    """What a run did: clip names made now, clip names found already done, problems by line."""

    made: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    problems: list[ListProblem] = field(default_factory=list)

    @property
    def n_ready(self) -> int:
        return len(self.made) + len(self.kept)


ClipCallback = Callable[[int, int, str], None]
"""Called before each clip with (index from 0, number of clips, clip name). It may raise to stop the run
(a job's cancellation does); every clip finished before stays written."""


def name2text_line(name: str, line: CleanedLine) -> str:
    """A `2-name2text.txt` line (no newline): name, phones, word2ph as Python prints it (or None), text."""
    return "%s\t%s\t%s\t%s" % (name, " ".join(line.phones), line.word2ph, line.norm_text)  # noqa: UP031


def read_table(path: Path, header: str | None = None) -> dict[str, str]:
    """Lines of an experiment text file keyed by their first tab-separated column (header skipped)."""
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read it ({exc}); delete it to rebuild it") from exc
    table = {}
    for line in text.split("\n"):
        if line and line != header:
            table[line.split("\t", 1)[0]] = line
    return table


class _Experiment:
    """The files of one experiment folder and the two tables being rebuilt."""

    def __init__(self, exp_dir: Path) -> None:
        self.dir = exp_dir
        self.old_text = read_table(exp_dir / NAME2TEXT)
        self.old_semantic = read_table(exp_dir / NAME2SEMANTIC, SEMANTIC_HEADER)
        self.text: dict[str, str] = {}
        self.semantic: dict[str, str] = {}

    def bert_path(self, name: str) -> Path:
        return self.dir / BERT_DIR / f"{name}.pt"

    def hubert_path(self, name: str) -> Path:
        return self.dir / HUBERT_DIR / f"{name}.pt"

    def wav_path(self, name: str) -> Path:
        return self.dir / WAV32K_DIR / name

    def write_tables(self, order: list[str]) -> None:
        text = [self.text[n] for n in order if n in self.text]
        semantic = [self.semantic[n] for n in order if n in self.semantic]
        atomic_write_text(self.dir / NAME2TEXT, "".join(line + "\n" for line in text))
        atomic_write_text(self.dir / NAME2SEMANTIC, "\n".join([SEMANTIC_HEADER, *semantic]) + "\n")


def _save_tensor(path: Path, tensor: torch.Tensor) -> None:
    with atomic_replace(path) as tmp:
        torch.save(tensor.detach().cpu().contiguous().clone(), tmp)


def extract_features(
    list_path: str | os.PathLike,
    exp_dir: str | os.PathLike,
    models: FeatureModels,
    *,
    wav_dir: str | os.PathLike | None = None,
    reference_compat: bool = False,
    on_clip: ClipCallback | None = None,
) -> FeaturesReport:
    """Make (or complete) the experiment folder `exp_dir` for the clips of `list_path`.

    `wav_dir`: where the clips are (each looked up by the base name of its path column, as the reference
    does); None takes the path column as written. `reference_compat=True` reads the transcripts exactly as
    the reference (its pypinyin path when `models.g2pw` is None); otherwise with Timbre's corrected readings.
    Raises `DatasetError` only when no clip at all could be made ready; each bad clip is a problem in the
    report instead.
    """
    exp = _Experiment(Path(exp_dir))
    listfile = read_list(list_path)

    def read_text(text: str, lang: str) -> CleanedLine:
        return clean_line(text, lang, g2pw=models.g2pw, reference_compat=reference_compat)

    entries, problems = validate_list(listfile, wav_dir)  # text is read below, once
    report = FeaturesReport(problems=problems)
    order = [entry.name for entry in entries]
    for index, entry in enumerate(entries):
        if on_clip is not None:
            on_clip(index, len(entries), entry.name)
        try:
            made = _clip(exp, entry, audio_path(entry, wav_dir, listfile.path.parent), models, read_text)
        except TimbreError as exc:
            report.problems.append(ListProblem(entry.line_no, f"{entry.name}: {exc}"))
            order.remove(entry.name)
        else:
            (report.made if made else report.kept).append(entry.name)
        exp.write_tables(order)
    if not entries:
        exp.write_tables([])
    report.problems.sort(key=lambda p: p.line_no or 0)
    if report.n_ready == 0:
        details = "; ".join(str(p) for p in report.problems[:5])
        raise DatasetError(f"{listfile.path.name}: no clip could be prepared ({details})")
    return report


def _clip(exp: _Experiment, entry: ListEntry, wav: Path, models: FeatureModels, read_text) -> bool:
    """Bring one clip's five outputs up to date; True if anything was computed, False if all were there."""
    name = entry.name
    cleaned = read_text(entry.text, entry.language)
    text_line = name2text_line(name, cleaned)
    bert_path, hubert_path, wav_path = exp.bert_path(name), exp.hubert_path(name), exp.wav_path(name)
    need_bert = cleaned.lang == "zh" and (exp.old_text.get(name) != text_line or not bert_path.is_file())
    need_audio = not (hubert_path.is_file() and wav_path.is_file())
    need_semantic = need_audio or name not in exp.old_semantic

    ssl = None
    if need_audio:
        prepared = training_audio(decode_32k(wav))
        ssl = hubert_content(models.hubert, prepared.hubert_input_16k, torch.Generator()).cpu()
        if not torch.isfinite(ssl).all():
            raise DatasetError("HuBERT gave NaN or infinite features for this clip; check the recording")
        write_wav(wav_path, prepared.wav_32k, TRAINING_SR)
        _save_tensor(hubert_path, ssl)
    if need_bert:
        _save_tensor(bert_path, line_bert(models.bert, cleaned))
    elif cleaned.lang != "zh" and bert_path.exists():
        bert_path.unlink()  # left from a Chinese transcript: training would load it for this line
    if need_semantic:
        if ssl is None:
            ssl = torch.load(hubert_path, map_location="cpu", weights_only=True)
        codes = semantic_codes(models.sovits, ssl)
        exp.semantic[name] = f"{name}\t" + " ".join(str(int(c)) for c in codes.tolist())
    else:
        exp.semantic[name] = exp.old_semantic[name]
    exp.text[name] = text_line
    return need_audio or need_bert or need_semantic
