"""Training items from an experiment folder (the reference's layout, written by `dataset features`), and the
reference's bucketed batching for both models.

    2-name2text.txt       name \t phones \t word2ph \t text      (both models)
    3-bert/<name>.pt      (1024, n_phones) BERT features, Chinese lines only (GPT; zeros elsewhere)
    4-cnhubert/<name>.pt  (1, 768, T) HuBERT content at 50 frames/s (SoVITS)
    5-wav32k/<name>       the clip, 16-bit mono 32 kHz (SoVITS)
    6-name2semantic.tsv   name \t semantic codes at 25 Hz (GPT)

The item filters, the repetition of small datasets to about 100 items per epoch and the samplers follow the
reference (`module/data_utils.py`, `AR/data/dataset.py`, `AR/data/bucket_sampler.py`) so that an epoch
means the same number of steps in both.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.nn import functional as F

from core.audio import spectrogram
from core.data.features import BERT_DIR, HUBERT_DIR, NAME2SEMANTIC, NAME2TEXT, SEMANTIC_HEADER, WAV32K_DIR
from core.errors import TextError, TrainingError
from core.models.bert import BERT_DIM
from core.models.sovits import SoVITSConfig
from core.text.symbols import phones_to_ids

MIN_ITEMS_PER_EPOCH = 100  # smaller datasets are repeated (at least twice) to reach about this many items
SHUFFLE_SEED = 1234  # the SoVITS item order is shuffled once with this seed, as in the reference
SOVITS_MIN_SECONDS, SOVITS_MAX_SECONDS = 0.6, 54.0  # SoVITS keeps clips strictly between these
# SoVITS batches hold clips of similar length: bucket edges in 50 Hz frames (<= 32 frames: left out)
SOVITS_BUCKETS = (32, *range(300, 2000, 100))
SEMANTIC_HZ = 25
GPT_MIN_PHONES_PER_SECOND, GPT_MAX_PHONES_PER_SECOND = 3, 25
GPT_BUCKET_SECONDS = 2.0
SEMANTIC_PAD = 1024  # the GPT's EOS id pads semantic codes


def _repeat_small(items: list, epoch_items: int) -> list:
    if len(items) >= epoch_items or not items:
        return items
    return items * max(2, epoch_items // len(items))


class Experiment:
    """An experiment folder: where its files are, and its `2-name2text.txt` table."""

    def __init__(self, folder: str | Path) -> None:
        self.dir = Path(folder)
        if not (self.dir / NAME2TEXT).is_file():
            raise TrainingError(
                f"{self.dir}: no {NAME2TEXT}; make the training features first "
                "(python -m core dataset features LIST --exp DIR, or the Dataset tab)"
            )
        self.phones: dict[str, list[str]] = {}
        for line in (self.dir / NAME2TEXT).read_text(encoding="utf-8").strip("\n").split("\n"):
            columns = line.split("\t")
            if len(columns) == 4:
                self.phones[columns[0]] = columns[1].split(" ")

    def require(self, *names: str) -> None:
        missing = [n for n in names if not (self.dir / n).exists()]
        if missing:
            raise TrainingError(
                f"{self.dir}: missing {', '.join(missing)}; run the training features step again"
            )

    def phone_ids(self, name: str, version: str) -> list[int] | None:
        try:
            return phones_to_ids(self.phones[name], version)
        except (KeyError, TextError):
            return None


# -- SoVITS ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoVITSItem:
    name: str
    phone_ids: tuple[int, ...]
    frames: int  # spectrogram frames, estimated from the file size as the reference does


class SoVITSData(torch.utils.data.Dataset):
    """Items for SoVITS: HuBERT content, linear spectrogram, waveform and phone ids of each clip."""

    def __init__(
        self, experiment: Experiment, config: SoVITSConfig, epoch_items: int = MIN_ITEMS_PER_EPOCH
    ) -> None:
        experiment.require(HUBERT_DIR, WAV32K_DIR)
        self.exp = experiment
        self.config = config
        hubert = {p.name[: -len(".pt")] for p in (experiment.dir / HUBERT_DIR).glob("*.pt")}
        wavs = {p.name for p in (experiment.dir / WAV32K_DIR).iterdir()}
        names = sorted(set(experiment.phones) & hubert & wavs)
        names = _repeat_small(names, epoch_items)
        random.Random(SHUFFLE_SEED).shuffle(names)
        self.items: list[SoVITSItem] = []
        self.skipped: list[str] = []
        for name in names:
            ids = experiment.phone_ids(name, config.version)
            size = (experiment.dir / WAV32K_DIR / name).stat().st_size
            seconds = size / config.sampling_rate / 2  # 16-bit samples (the header counted, as the reference)
            if ids is None or not SOVITS_MIN_SECONDS < seconds < SOVITS_MAX_SECONDS:
                self.skipped.append(name)
                continue
            self.items.append(SoVITSItem(name, tuple(ids), size // (2 * config.hop_length)))
        if len(self.items) < 2:
            raise TrainingError(
                f"{experiment.dir}: fewer than 2 usable clips for SoVITS (clips must last "
                f"{SOVITS_MIN_SECONDS}-{SOVITS_MAX_SECONDS:.0f} s and have readable phones)"
            )

    def __len__(self) -> int:
        return len(self.items)

    @property
    def lengths(self) -> list[int]:
        return [item.frames for item in self.items]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (ssl (1, 768, T), spec (bins, T), wav (1, n), phone ids (N,))."""
        item = self.items[index]
        c = self.config
        audio, sr = sf.read(self.exp.dir / WAV32K_DIR / item.name, dtype="float32", always_2d=True)
        if sr != c.sampling_rate:
            raise TrainingError(f"{item.name}: {sr} Hz in {WAV32K_DIR}, expected {c.sampling_rate}")
        wav = torch.from_numpy(np.ascontiguousarray(audio.mean(axis=1))).unsqueeze(0)  # (1, n)
        spec = spectrogram(wav, c.filter_length, c.hop_length, c.win_length)[0]  # (bins, T)
        ssl = torch.load(self.exp.dir / HUBERT_DIR / f"{item.name}.pt", map_location="cpu").float()
        missing = spec.shape[-1] - ssl.shape[-1]  # HuBERT gives a frame less at most clip lengths
        if missing > 0:
            ssl = F.pad(ssl, (0, missing), mode="replicate")
        elif missing < 0:
            ssl = ssl[..., : spec.shape[-1]]
        return ssl, spec, wav, torch.tensor(item.phone_ids, dtype=torch.long)


def _even_above(n: int) -> int:
    return 2 * (n // 2 + 1)


def collate_sovits(batch: Sequence[tuple[torch.Tensor, ...]]) -> dict[str, torch.Tensor]:
    """Zero-padded batch, longest spectrogram first (the reference's `TextAudioSpeakerCollate`)."""
    order = sorted(range(len(batch)), key=lambda i: -batch[i][1].size(1))
    n = len(batch)
    ssl_len = _even_above(max(x[0].size(2) for x in batch))
    spec_len = _even_above(max(x[1].size(1) for x in batch))
    out = {
        "ssl": torch.zeros(n, batch[0][0].size(1), ssl_len),
        "spec": torch.zeros(n, batch[0][1].size(0), spec_len),
        "spec_lengths": torch.zeros(n, dtype=torch.long),
        "wav": torch.zeros(n, 1, max(x[2].size(1) for x in batch)),
        "wav_lengths": torch.zeros(n, dtype=torch.long),
        "phones": torch.zeros(n, max(x[3].size(0) for x in batch), dtype=torch.long),
        "phone_lengths": torch.zeros(n, dtype=torch.long),
    }
    for row, i in enumerate(order):
        ssl, spec, wav, phones = batch[i]
        out["ssl"][row, :, : ssl.size(2)] = ssl[0]
        out["spec"][row, :, : spec.size(1)] = spec
        out["spec_lengths"][row] = spec.size(1)
        out["wav"][row, :, : wav.size(1)] = wav
        out["wav_lengths"][row] = wav.size(1)
        out["phones"][row, : phones.size(0)] = phones
        out["phone_lengths"][row] = phones.size(0)
    return out


class SoVITSBatches(torch.utils.data.Sampler[list[int]]):
    """Batches of clips from one length bucket, every bucket padded to whole batches across replicas; batch
    order shuffled per epoch (`set_epoch`), each replica (`rank`) taking every `num_replicas`-th item."""

    def __init__(self, lengths: Sequence[int], batch_size: int, num_replicas: int = 1, rank: int = 0) -> None:
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        edges = list(SOVITS_BUCKETS)
        buckets: list[list[int]] = [[] for _ in edges[:-1]]
        for index, length in enumerate(lengths):
            for b in range(len(edges) - 1):
                if edges[b] < length <= edges[b + 1]:
                    buckets[b].append(index)
                    break
        self.buckets = [b for b in buckets if b]
        if not self.buckets:
            raise TrainingError("no clip is long enough for SoVITS training (more than 0.64 s)")
        group = num_replicas * batch_size
        self.bucket_sizes = [len(b) + (group - len(b) % group) % group for b in self.buckets]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.epoch)
        orders = [torch.randperm(len(b), generator=generator).tolist() for b in self.buckets]
        batches = []
        for bucket, order, size in zip(self.buckets, orders, self.bucket_sizes, strict=True):
            extra = size - len(bucket)
            order = order + order * (extra // len(bucket)) + order[: extra % len(bucket)]
            mine = order[self.rank :: self.num_replicas]
            batches += [
                [bucket[i] for i in mine[j * self.batch_size : (j + 1) * self.batch_size]]
                for j in range(len(mine) // self.batch_size)
            ]
        shuffled = torch.randperm(len(batches), generator=generator).tolist()
        return iter([batches[i] for i in shuffled])

    def __len__(self) -> int:
        return sum(self.bucket_sizes) // self.num_replicas // self.batch_size


# -- GPT ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GPTItem:
    name: str
    phone_ids: tuple[int, ...]
    codes: tuple[int, ...]


class GPTData(torch.utils.data.Dataset):
    """Items for the GPT: phone ids, BERT features (zeros for non-Chinese lines) and semantic codes."""

    def __init__(
        self,
        experiment: Experiment,
        version: str = "v2",
        max_sec: int = 54,
        epoch_items: int = MIN_ITEMS_PER_EPOCH,
    ) -> None:
        experiment.require(NAME2SEMANTIC)
        self.exp = experiment
        items: list[GPTItem] = []
        self.skipped: list[str] = []
        lines = (experiment.dir / NAME2SEMANTIC).read_text(encoding="utf-8").strip("\n").split("\n")
        for line in lines[1:] if lines and lines[0] == SEMANTIC_HEADER else lines:
            name, _, codes_text = line.partition("\t")
            ids = experiment.phone_ids(name, version)
            try:
                codes = [int(c) for c in codes_text.split(" ")]
            except ValueError:
                codes = []
            if ids is None or not codes:
                self.skipped.append(name)
                continue
            phones_per_second = len(ids) / (len(codes) / SEMANTIC_HZ)
            if (
                len(codes) > max_sec * SEMANTIC_HZ
                or len(ids) > max_sec * SEMANTIC_HZ / 2.5
                or not GPT_MIN_PHONES_PER_SECOND <= phones_per_second <= GPT_MAX_PHONES_PER_SECOND
            ):
                self.skipped.append(name)
                continue
            items.append(GPTItem(name, tuple(ids), tuple(codes)))
        self.items = _repeat_small(items, epoch_items)
        if not self.items:
            raise TrainingError(
                f"{experiment.dir}: no usable clip for the GPT (each needs semantic codes, readable phones "
                f"and {GPT_MIN_PHONES_PER_SECOND}-{GPT_MAX_PHONES_PER_SECOND} phones per second)"
            )

    def __len__(self) -> int:
        return len(self.items)

    def seconds(self, index: int) -> float:
        return len(self.items[index].codes) / SEMANTIC_HZ

    def __getitem__(self, index: int) -> GPTItem:
        return self.items[index]

    def bert(self, item: GPTItem) -> torch.Tensor | None:
        path = self.exp.dir / BERT_DIR / f"{item.name}.pt"
        if not path.is_file():
            return None
        bert = torch.load(path, map_location="cpu").float()
        if bert.shape[-1] != len(item.phone_ids):
            raise TrainingError(
                f"{path.name}: BERT features for {bert.shape[-1]} phones, the text has "
                f"{len(item.phone_ids)}; "
                "run the training features step again"
            )
        return bert

    def collate(self, items: Sequence[GPTItem]) -> dict[str, torch.Tensor]:
        n_phones = max(len(i.phone_ids) for i in items)
        n_codes = max(len(i.codes) for i in items)
        phones = torch.zeros(len(items), n_phones, dtype=torch.long)
        codes = torch.full((len(items), n_codes), SEMANTIC_PAD, dtype=torch.long)
        bert = torch.zeros(len(items), BERT_DIM, n_phones)
        for row, item in enumerate(items):
            phones[row, : len(item.phone_ids)] = torch.tensor(item.phone_ids)
            codes[row, : len(item.codes)] = torch.tensor(item.codes)
            features = self.bert(item)
            if features is not None:
                bert[row, :, : features.shape[-1]] = features
        return {
            "phones": phones,
            "phone_lengths": torch.tensor([len(i.phone_ids) for i in items]),
            "codes": codes,
            "code_lengths": torch.tensor([len(i.codes) for i in items]),
            "bert": bert,
        }


class GPTOrder(torch.utils.data.Sampler[int]):
    """Item order per epoch: 2-second length buckets shuffled inside, cut into groups of
    batch_size x num_replicas, groups shuffled; padded to a multiple of num_replicas; every
    `num_replicas`-th item from `rank` (the reference's `AR/data/bucket_sampler.py`)."""

    def __init__(
        self, data: GPTData, batch_size: int, num_replicas: int = 1, rank: int = 0, seed: int = 0
    ) -> None:
        self.batch_size, self.num_replicas, self.rank, self.seed = batch_size, num_replicas, rank, seed
        self.epoch = 0
        by_length = sorted(range(len(data)), key=data.seconds)
        self.buckets: list[list[int]] = []
        current: list[int] = []
        edge = GPT_BUCKET_SECONDS
        for index in by_length:
            if data.seconds(index) < edge:
                current.append(index)
            else:
                self.buckets.append(current)
                current = [index]
                edge += GPT_BUCKET_SECONDS
        if current:
            self.buckets.append(current)
        self.per_replica = math.ceil(len(data) / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        rng = random.Random(self.epoch + self.seed)
        shuffled = []
        for bucket in self.buckets:
            bucket = bucket.copy()
            rng.shuffle(bucket)
            shuffled.append(bucket)
        flat = list(itertools.chain(*shuffled))
        group = self.batch_size * self.num_replicas
        groups = [flat[i : i + group] for i in range(0, len(flat), group)]
        rng.shuffle(groups)
        order = list(itertools.chain(*groups))
        total = self.per_replica * self.num_replicas
        order = (order * math.ceil(total / len(order)))[:total]
        return iter(order[self.rank : total : self.num_replicas])

    def __len__(self) -> int:
        return self.per_replica
