"""The T2S ("text to semantic", GPT-SoVITS "s1") model: phones + BERT features + prompt codes -> codes.

A decoder-only transformer over the concatenation [text positions | semantic positions]. Text positions
attend to all (non-padding) text; semantic positions attend to the text and causally to earlier semantic
tokens. Each layer is post-norm: x = LN(x + attn(x)); x = LN(x + mlp(x)). Semantic tokens are 25 Hz
codes of the SoVITS quantizer (0..vocab_size-2); the last id is EOS.

Reads top to bottom: constants, positional table, KV cache, attention, MLP, block, config, decode state,
model (building blocks, then inference: prefill / step / finish and the `generate` loop, then training).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import CheckpointError
from core.models.bert import BERT_DIM
from core.models.sampling import apply_repetition_penalty, logits_to_probs, sample_exponential

LAYER_NORM_EPS = 1e-5
TRANSFORMER_DROPOUT = 0.1
"""Dropout inside the transformer layers (attention weights, residual branches); active in training only."""
POSITION_DROPOUT = 0.1
"""Dropout after adding the positional encoding; active in training only."""
SINE_TABLE_POSITIONS = 4000
"""Rows of the precomputed sinusoid table; positions beyond it are computed on demand."""
MIN_STEPS_BEFORE_EOS = 11
"""EOS cannot be sampled (its logit column is dropped) for decode steps 0..10 (~0.4 s of audio)."""
MAX_DECODE_STEPS = 1500
"""Hard cap on decode steps (60 s of 25 Hz codes)."""
SEMANTIC_HZ_FOR_EARLY_STOP = 50
"""GPT-SoVITS computes early_stop_num = 50 * data.max_sec (sic: the codes are 25 Hz)."""
ACCURACY_TOP_K = 3
"""`loss` reports top-3 accuracy, like the reference's training log."""
KV_CACHE_CHUNK = 256
"""The KV cache grows by at least this many positions at a time."""


def sine_table(n_positions: int, dim: int) -> torch.Tensor:
    """The fixed sinusoidal position table: (n_positions, dim) float32, sin on even and cos on odd columns."""
    table = torch.zeros(n_positions, dim)
    position = torch.arange(0, n_positions, dtype=torch.float32).unsqueeze(1)  # (N, 1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


def left_padding_mask(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """(B,) lengths -> (B, total) bool, True on the first `total - length` (padding) positions."""
    positions = torch.arange(total, device=lengths.device).unsqueeze(0)  # (1, total)
    return positions < (total - lengths).unsqueeze(1)


def right_padding_mask(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """(B,) lengths -> (B, total) bool, True on positions >= length (padding)."""
    positions = torch.arange(total, device=lengths.device).unsqueeze(0)  # (1, total)
    return positions >= lengths.unsqueeze(1)


def text_then_causal_mask(n_text: int, n_audio: int, device: torch.device | str) -> torch.Tensor:
    """(S, S) bool, True where a query may attend (S = n_text + n_audio).

    Text rows see all text columns and no semantic column; semantic rows see all text columns and the
    semantic columns up to and including their own.
    """
    total = n_text + n_audio
    allowed = torch.zeros(total, total, dtype=torch.bool, device=device)
    allowed[:, :n_text] = True
    allowed[n_text:, n_text:] = torch.ones(n_audio, n_audio, dtype=torch.bool, device=device).tril()
    return allowed


class KVCache:
    """Keys and values of every layer for the positions decoded so far.

    `keys[i]` / `values[i]` are (B, n_head, capacity, head_dim) buffers of which the first `length`
    positions are filled. Head-major, so that one new query reads each head's keys and values as one
    contiguous block: measured on CPU, attention over a (B, capacity, C) buffer viewed per head took about
    twice as long. The decoder passes the cache in and gets it back; `select_rows` drops finished batch rows.
    """

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], length: int = 0) -> None:
        self.keys = keys
        self.values = values
        self.length = length

    @classmethod
    def allocate(
        cls,
        n_layer: int,
        batch: int,
        n_head: int,
        capacity: int,
        head_dim: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> "KVCache":
        """An empty cache able to hold `capacity` positions without growing."""
        shape = (batch, n_head, capacity, head_dim)
        keys = [torch.empty(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        values = [torch.empty(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        return cls(keys, values, 0)

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    def reserve(self, n_new: int) -> "KVCache":
        """Make room for `n_new` more positions (grows by at least `KV_CACHE_CHUNK`)."""
        needed = self.length + n_new
        if needed > self.capacity:
            capacity = max(needed, self.capacity + KV_CACHE_CHUNK)
            for buffers in (self.keys, self.values):
                for i, old in enumerate(buffers):
                    batch, n_head, _, head_dim = old.shape
                    new = old.new_empty(batch, n_head, capacity, head_dim)
                    new[:, :, : self.length] = old[:, :, : self.length]
                    buffers[i] = new
        return self

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store (B, n_head, T, head_dim) keys/values after the filled positions; return all keys/values
        (B, n_head, length + T, head_dim).

        `length` itself is advanced by `advance` once every layer has written.
        """
        end = self.length + k.shape[2]
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, n: int) -> "KVCache":
        self.length += n
        return self

    def select_rows(self, index: torch.Tensor) -> "KVCache":
        """Keep only the batch rows in `index` (1-D int64), in that order."""
        self.keys = [torch.index_select(k, 0, index) for k in self.keys]
        self.values = [torch.index_select(v, 0, index) for v in self.values]
        return self


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused q/k/v projection."""

    def __init__(self, config: "T2SConfig") -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.hidden_dim, 3 * config.hidden_dim)
        self.out = nn.Linear(config.hidden_dim, config.hidden_dim)
        self.dropout = TRANSFORMER_DROPOUT

    def forward(
        self, x: torch.Tensor, allowed: torch.Tensor | None, cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        """x (B, T, C); allowed (B, 1 or n_head, T, S): True/0 = may attend (bool, or an additive float
        mask of 0 and -inf; None = every key), S = cached + T keys."""
        batch, n_query, width = x.shape
        qkv = self.qkv(x).view(batch, n_query, 3, self.n_head, -1)  # (B, T, 3, nh, hs)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, nh, T, hs) each
        if cache is not None:
            k, v = cache.write(layer, k, v)  # (B, nh, S, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(batch, n_query, width)  # (B, T, C)
        return self.out(y)


def train_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout while training, `x` itself otherwise: `F.dropout` costs a few microseconds even when it does
    nothing, and the decode loop calls it 72 times per token."""
    return F.dropout(x, p, True) if training else x


class MLP(nn.Module):
    def __init__(self, config: "T2SConfig") -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_dim, config.ffn_dim)
        self.fc2 = nn.Linear(config.ffn_dim, config.hidden_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(train_dropout(F.relu(self.fc1(x)), TRANSFORMER_DROPOUT, self.training))  # (B, T, C)


class Block(nn.Module):
    """Post-norm transformer layer: x = LN(x + attn(x)); x = LN(x + mlp(x))."""

    def __init__(self, config: "T2SConfig") -> None:
        super().__init__()
        # registration order = the official checkpoint's key order (attention, MLP, norms)
        self.attn = SelfAttention(config)
        self.mlp = MLP(config)
        self.norm1 = nn.LayerNorm(config.hidden_dim, eps=LAYER_NORM_EPS)
        self.norm2 = nn.LayerNorm(config.hidden_dim, eps=LAYER_NORM_EPS)

    def forward(
        self, x: torch.Tensor, allowed: torch.Tensor | None, cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        # functional dropout, as in the attention: dropout modules cost 0.3 ms per decode token
        x = self.norm1(
            x + train_dropout(self.attn(x, allowed, cache, layer), TRANSFORMER_DROPOUT, self.training)
        )
        return self.norm2(x + train_dropout(self.mlp(x), TRANSFORMER_DROPOUT, self.training))  # (B, T, C)


class PositionScale(nn.Module):
    """Adds alpha * sinusoid to token embeddings (alpha is learnt, one scalar)."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1))
        self.dropout = nn.Dropout(POSITION_DROPOUT)

    def forward(self, x: torch.Tensor, table_rows: torch.Tensor) -> torch.Tensor:
        """x (B, T, C) + alpha * table_rows (T, C) -> (B, T, C)."""
        return self.dropout(x + self.alpha * table_rows)


_MODEL_KEYS_IGNORED = ("linear_units", "random_bert")
"""Keys of the checkpoint's `model` section that do not change the network (the FFN width is 4 * hidden)."""
_TOP_LEVEL_KEYS_IGNORED = (
    "train",
    "optimizer",
    "inference",
    "pretrained_s1",
    "train_semantic_path",
    "train_phoneme_path",
    "output_dir",
    "version",
)
"""Top-level sections of the stored config that only concern training or the reference's UI."""


@dataclass(frozen=True)
class T2SConfig:
    """Sizes of a T2S model, as stored in the `config["model"]` section of an official s1 `.ckpt`."""

    embedding_dim: int = 512
    hidden_dim: int = 512
    n_head: int = 16
    n_layer: int = 24
    vocab_size: int = 1025
    phoneme_vocab_size: int = 732
    eos: int = 1024
    dropout: float = 0.0
    """Dropout on the token embeddings (training only)."""
    max_sec: int = 54
    """`config["data"]["max_sec"]`: longest training clip; inference stops after 50 * max_sec tokens."""

    def __post_init__(self) -> None:
        if self.eos != self.vocab_size - 1:
            raise CheckpointError(
                f"T2S config: EOS must be vocab_size - 1 = {self.vocab_size - 1}, got {self.eos}"
            )
        if self.embedding_dim != self.hidden_dim:
            raise CheckpointError(
                f"T2S config: embedding_dim ({self.embedding_dim}) must equal hidden_dim ({self.hidden_dim})"
            )
        if self.hidden_dim % self.n_head != 0:
            raise CheckpointError(
                f"T2S config: hidden_dim ({self.hidden_dim}) is not divisible by head ({self.n_head})"
            )

    @property
    def ffn_dim(self) -> int:
        return 4 * self.hidden_dim

    @property
    def early_stop_num(self) -> int:
        """Token budget GPT-SoVITS gives one decode call: 50 * max_sec."""
        return SEMANTIC_HZ_FOR_EARLY_STOP * self.max_sec

    @classmethod
    def from_checkpoint(cls, cfg: dict[str, Any]) -> "T2SConfig":
        """Build from the whole `config` dict of an s1 `.ckpt` (sections model, data, train, ...).

        Raises CheckpointError on a missing `model` section, a missing model key, or any key not known
        to be harmless (see `_MODEL_KEYS_IGNORED`, `_TOP_LEVEL_KEYS_IGNORED`).
        """
        if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
            raise CheckpointError(
                "T2S config: expected a dict with a 'model' section (an s1 GPT .ckpt config)"
            )
        unknown = sorted(set(cfg) - {"model", "data"} - set(_TOP_LEVEL_KEYS_IGNORED))
        if unknown:
            raise CheckpointError(f"T2S config: unknown top-level keys {unknown}; is this an s1 (GPT) file?")
        model = cfg["model"]
        names = {
            "embedding_dim": "embedding_dim",
            "hidden_dim": "hidden_dim",
            "head": "n_head",
            "n_layer": "n_layer",
            "vocab_size": "vocab_size",
            "phoneme_vocab_size": "phoneme_vocab_size",
            "EOS": "eos",
            "dropout": "dropout",
        }
        unknown = sorted(set(model) - set(names) - set(_MODEL_KEYS_IGNORED))
        if unknown:
            raise CheckpointError(f"T2S config: unknown keys in 'model': {unknown}")
        missing = sorted(set(names) - set(model))
        if missing:
            raise CheckpointError(f"T2S config: 'model' section lacks {missing}")
        values: dict[str, Any] = {ours: model[theirs] for theirs, ours in names.items()}
        data = cfg.get("data") or {}
        if not isinstance(data, dict):
            raise CheckpointError(f"T2S config: 'data' should be a section, found {type(data).__name__}")
        if "max_sec" in data:
            values["max_sec"] = data["max_sec"]
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CheckpointError(f"T2S config: {key} should be a number, found {value!r}")
            if key not in ("dropout", "max_sec") and value != int(value):
                raise CheckpointError(f"T2S config: {key} should be a whole number, found {value!r}")
            values[key] = float(value) if key == "dropout" else int(value) if value == int(value) else value
        return cls(**values)

    def to_checkpoint(self, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """The stored-config dict: a copy of `base` (or a minimal one) with the model sizes written in."""
        cfg: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (base or {}).items()}
        model = dict(cfg.get("model") or {})
        model.update(
            vocab_size=self.vocab_size,
            phoneme_vocab_size=self.phoneme_vocab_size,
            embedding_dim=self.embedding_dim,
            hidden_dim=self.hidden_dim,
            head=self.n_head,
            n_layer=self.n_layer,
            dropout=self.dropout,
            EOS=self.eos,
        )
        model.setdefault("linear_units", self.ffn_dim)
        cfg["model"] = model
        cfg["data"] = {**(cfg.get("data") or {}), "max_sec": self.max_sec}
        return cfg


@dataclass
class T2SGeneration:
    """What one `generate_detailed` call produced, per input item (in input order).

    tokens: generated codes (n_i,) int64, what SoVITS decodes (the reference's `y[-idx:]`; prompt-free: `y`).
    full: prompt + generated codes, the reference's `y_list` item (one-at-a-time path: its `y`).
    stop_steps: the decode step at which each item stopped (the reference's `idx`).
    step_logits: raw logits (n_recorded, vocab_size) of the first `record_logits` steps, if asked.
    """

    tokens: list[torch.Tensor]
    full: list[torch.Tensor]
    stop_steps: list[int]
    step_logits: list[torch.Tensor] = field(default_factory=list)


@dataclass(frozen=True)
class T2SDecodeSettings:
    """How `T2SModel.step` picks tokens and when a row stops; see `T2SModel.generate_detailed` for each."""

    top_k: int | None = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    early_stop_num: float = -1
    max_steps: int = MAX_DECODE_STEPS
    record_logits: int = 0
    one_at_a_time: bool = False


@dataclass
class T2SDecodeState:
    """One decode in progress: made by `T2SModel.prefill`, advanced by `step`, read out by `finish`.

    Batch rows are the items still running (`running[row]` is the row's input index); finished rows are
    dropped from `inputs`, `allowed`, `y` and `cache`, and their results kept in `full` / `stop_steps`.
    """

    settings: T2SDecodeSettings
    generator: torch.Generator | None
    cache: KVCache
    inputs: torch.Tensor
    """(B_run, T, C) input of the next step: text + prompt at step 0, then the newest token."""
    allowed: torch.Tensor
    """(B_run, 1, T, S) bool attention mask for `inputs` (S = cached positions + T)."""
    y: torch.Tensor
    """(B_run, n_prompt + step) int64: the prompt and every token sampled so far."""
    n_prompt: int
    running: list[int]
    """Input index of each batch row still running, in input order."""
    full: list[torch.Tensor | None]
    """Per input item: prompt + generated codes once it has stopped, else None."""
    stop_steps: list[int]
    """Per input item: the step at which it stopped (0 while running)."""
    recorded_logits: list[list[torch.Tensor]]
    """Per input item: raw logits (V,) of its first `settings.record_logits` steps."""
    step: int = 0
    """Index of the next decode step."""

    @property
    def done(self) -> bool:
        return not self.running


def _check_items(phones: list[torch.Tensor], bert: list[torch.Tensor]) -> None:
    """Raise ValueError unless there is at least one item and each has BERT features (1024, T_i)."""
    if len(phones) == 0 or len(bert) != len(phones):
        raise ValueError(f"T2S decode: got {len(phones)} phone sequences and {len(bert)} BERT features")
    for i, (p, b) in enumerate(zip(phones, bert, strict=True)):
        if b.shape != (BERT_DIM, p.shape[0]):
            raise ValueError(
                f"T2S decode: item {i} has {p.shape[0]} phones but BERT features {tuple(b.shape)}"
            )


class T2SModel(nn.Module):
    """The GPT-SoVITS v1/v2 text-to-semantic decoder, built from a `T2SConfig`."""

    def __init__(self, config: T2SConfig) -> None:
        super().__init__()
        self.config = config
        self.bert_proj = nn.Linear(BERT_DIM, config.embedding_dim)
        self.text_embedding = nn.Embedding(config.phoneme_vocab_size, config.embedding_dim)
        self.text_position = PositionScale()
        self.audio_embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.audio_position = PositionScale()
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.lm_head = nn.Linear(config.hidden_dim, config.vocab_size, bias=False)
        self.register_buffer(
            "sines", sine_table(SINE_TABLE_POSITIONS, config.embedding_dim), persistent=False
        )
        self.int8_step: Callable[[torch.Tensor, KVCache, torch.Tensor | None], torch.Tensor] | None = None
        """Set by `core.models.precision.convert_t2s` on an int8-converted model: one decode step (one new
        position per row) of every layer in one kernel call; None: the layers below, one by one."""

    # ----- building blocks -------------------------------------------------------------------------

    def _sine_rows(self, start: int, n: int) -> torch.Tensor:
        """Rows start..start+n-1 of the sinusoid table: (n, C)."""
        if start + n <= self.sines.shape[0]:
            return self.sines[start : start + n]
        table = sine_table(start + n, self.config.embedding_dim).to(self.sines)
        return table[start : start + n]

    def embed_text(self, phones: torch.Tensor, bert: torch.Tensor) -> torch.Tensor:
        """phones (B, T) int64, bert (B, 1024, T) float -> (B, T, C) with text positions 0..T-1."""
        x = self.embedding_dropout(self.text_embedding(phones))  # (B, T, C)
        x = x + self.bert_proj(bert.transpose(1, 2))  # (B, T, C)
        return self.text_position(x, self._sine_rows(0, x.shape[1]))

    def embed_audio(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """tokens (B, T) int64 at semantic positions start..start+T-1 -> (B, T, C)."""
        y = self.embedding_dropout(self.audio_embedding(tokens))  # (B, T, C)
        return self.audio_position(y, self._sine_rows(start, y.shape[1]))

    def transformer(
        self, x: torch.Tensor, allowed: torch.Tensor, cache: KVCache | None = None
    ) -> torch.Tensor:
        """x (B, T, C), allowed (B, 1, T, S) bool -> (B, T, C); writes keys/values to `cache` if given."""
        if self.int8_step is not None and cache is not None and x.shape[1] == 1 and not self.training:
            key_ok = None if bool(allowed.all()) else allowed[:, 0, -1, :]  # (B, S)
            x = self.int8_step(x, cache, key_ok)
            cache.advance(1)
            return x
        # The additive mask attention builds from a bool one, built once here rather than in every layer;
        # none at all when every key is allowed (a decode step without padding), which adds the same zeros.
        mask = None
        if not bool(allowed.all()):
            mask = torch.zeros(allowed.shape, dtype=x.dtype, device=x.device)
            mask = mask.masked_fill_(~allowed, -math.inf).expand(-1, self.config.n_head, -1, -1)  # (B,nh,T,S)
        for i, block in enumerate(self.layers):
            x = block(x, mask, cache, i)
        if cache is not None:
            cache.advance(x.shape[1])
        return x

    # ----- inference -------------------------------------------------------------------------------
    #
    # One decode loop in three parts, so a caller can report progress or stop between tokens:
    # `prefill` builds a `T2SDecodeState`, `step` samples one token per running row, `finish` reads out
    # a `T2SGeneration`. `generate_detailed` is that loop; `generate` keeps only the tokens.

    @torch.inference_mode()
    def prefill(
        self,
        phones: list[torch.Tensor],
        bert: list[torch.Tensor],
        prompt: torch.Tensor | None,
        settings: T2SDecodeSettings | None = None,
        *,
        max_len: int | None = None,
        generator: torch.Generator | None = None,
    ) -> T2SDecodeState:
        """Embed and left-pad the texts, append the prompt, build the first-pass mask and allocate the cache.

        Arguments as `generate_detailed`. Batched decoding needs a prompt; prompt-free or one-at-a-time
        decoding takes one item per state. Nothing runs through the transformer yet: step 0 does that.
        """
        settings = settings or T2SDecodeSettings()
        _check_items(phones, bert)
        n_items = len(phones)
        if prompt is None and not settings.one_at_a_time:
            settings = replace(settings, one_at_a_time=True)  # prompt-free decoding is always so
        if settings.one_at_a_time and n_items > 1:
            raise ValueError(
                f"T2S decode: one-at-a-time (or prompt-free) decoding takes one item per state, got {n_items}"
            )
        if settings.max_steps < 1:
            raise ValueError(f"T2S decode: max_steps must be at least 1, got {settings.max_steps}")
        # the embedding's weight, not a linear's: a `--precision` linear keeps an int8 or bf16 weight
        device = self.audio_embedding.weight.device
        dtype = self.audio_embedding.weight.dtype
        lengths = [int(p.shape[0]) for p in phones]
        n_text = max(lengths) if max_len is None else int(max_len)
        if n_text < max(lengths):
            raise ValueError(
                f"T2S decode: max_len={n_text} is shorter than the longest item ({max(lengths)})"
            )

        # Text: embedded one item at a time (positions 0..T_i-1), then LEFT-padded with zeros.
        rows = []
        for p, b in zip(phones, bert, strict=True):
            x = self.embed_text(p.to(device).long().unsqueeze(0), b.to(device, dtype).unsqueeze(0))[
                0
            ]  # (T_i, C)
            rows.append(F.pad(x, (0, 0, n_text - x.shape[0], 0)))  # (n_text, C)
        x = torch.stack(rows)  # (B, n_text, C)
        text_pad = left_padding_mask(torch.tensor(lengths, device=device), n_text)  # (B, n_text)

        if prompt is None:
            y = torch.zeros(n_items, 0, dtype=torch.long, device=device)
        else:
            y = prompt.to(device).long()
            if y.ndim == 1:
                y = y.unsqueeze(0)
            y = y.expand(n_items, -1) if y.shape[0] == 1 else y
            if y.shape[0] != n_items:
                raise ValueError(f"T2S decode: prompt has {y.shape[0]} rows for {n_items} items")
        n_prompt = y.shape[1]
        xy = torch.cat([x, self.embed_audio(y, 0)], dim=1)  # (B, S, C), S = n_text + n_prompt

        # Who may attend to whom in the first pass: text -> text, prompt -> text + earlier prompt,
        # never to padding columns.
        allowed = text_then_causal_mask(n_text, n_prompt, device).unsqueeze(0)  # (1, S, S)
        key_ok = torch.cat([~text_pad, torch.ones_like(y, dtype=torch.bool)], dim=1)  # (B, S)
        allowed = (allowed & key_ok.unsqueeze(1)).unsqueeze(1)  # (B, 1, S, S)

        early_stop_num, max_steps = settings.early_stop_num, settings.max_steps
        budget = max_steps if early_stop_num == -1 else min(max_steps, math.floor(early_stop_num) + 1)
        cache = KVCache.allocate(
            self.config.n_layer,
            n_items,
            self.config.n_head,
            xy.shape[1] + min(budget, KV_CACHE_CHUNK),
            self.config.hidden_dim // self.config.n_head,
            device,
            dtype,
        )
        return T2SDecodeState(
            settings=settings,
            generator=generator,
            cache=cache,
            inputs=xy,
            allowed=allowed,
            y=y,
            n_prompt=n_prompt,
            running=list(range(n_items)),
            full=[None] * n_items,
            stop_steps=[0] * n_items,
            recorded_logits=[[] for _ in range(n_items)],
        )

    @torch.inference_mode()
    def step(self, state: T2SDecodeState) -> bool:
        """Sample one token for every running row (in place); return whether any row is still running.

        Draws once from `state.generator` (shape (B_run, V), V the vocab without EOS for the first
        `MIN_STEPS_BEFORE_EOS` steps). A row stops when it samples EOS, when EOS is the argmax of its
        penalised logits, or on the budget (`early_stop_num`, `max_steps`).
        """
        if state.done:
            raise ValueError("step: every row has finished; call finish")
        settings, step, eos = state.settings, state.step, self.config.eos
        state.cache.reserve(state.inputs.shape[1])
        h = self.transformer(state.inputs, state.allowed, state.cache)  # (B, T, C)
        logits = self.lm_head(h[:, -1]).float()  # (B, V)
        if step < settings.record_logits:
            for row, item in enumerate(state.running):
                state.recorded_logits[item].append(logits[row].clone())
        # From now on each query is the newest token: it sees all non-padding keys and itself.
        allowed = state.allowed[:, :, -1:, :] if step == 0 else state.allowed  # (B, 1, 1, S)
        allowed = F.pad(allowed, (0, 1), value=True)  # (B, 1, 1, S + 1)

        step_logits = logits[:, :-1] if step < MIN_STEPS_BEFORE_EOS else logits  # EOS column dropped
        step_logits = apply_repetition_penalty(step_logits, state.y, settings.repetition_penalty)
        probs = logits_to_probs(
            step_logits, top_k=settings.top_k, top_p=settings.top_p, temperature=settings.temperature
        )
        samples = sample_exponential(probs, state.generator)  # (B, 1)
        y = torch.cat([state.y, samples], dim=1)  # (B, n_prompt + step + 1)
        state.step += 1

        hit_eos = (samples[:, 0] == eos) | (step_logits.argmax(dim=-1) == eos)  # (B,)
        early_stop_num = settings.early_stop_num
        out_of_budget = (early_stop_num != -1 and step + 1 > early_stop_num) or step == settings.max_steps - 1
        finished = torch.ones_like(hit_eos) if out_of_budget else hit_eos
        if bool(finished.any()):
            for row in torch.nonzero(finished).flatten().tolist():
                # the last sampled token is dropped, except by the one-at-a-time path on the budget
                keep_last = settings.one_at_a_time and not bool(hit_eos[row])
                state.full[state.running[row]] = y[row] if keep_last else y[row, :-1]
                state.stop_steps[state.running[row]] = step
            keep = torch.nonzero(~finished).flatten()
            state.running = [state.running[row] for row in keep.tolist()]
            if state.done:
                return False
            y = y.index_select(0, keep)
            allowed = allowed.index_select(0, keep)
            state.cache.select_rows(keep)
        state.y, state.allowed = y, allowed
        state.inputs = self.embed_audio(y[:, -1:], state.n_prompt + step)  # (B, 1, C)
        return True

    @torch.inference_mode()
    def finish(self, state: T2SDecodeState) -> T2SGeneration:
        """The results of a state whose rows have all stopped, per item in input order."""
        if not state.done:
            raise ValueError(
                f"finish: {len(state.running)} rows are still running; call step until it returns False"
            )
        full = [t for t in state.full if t is not None]
        assert len(full) == len(state.full), "a stopped row has no result"
        n_prompt = state.n_prompt
        if state.settings.one_at_a_time and n_prompt:
            # TTS.run's `y[-idx:]` (with idx = 0, Python's `y[-0:]`: all of y)
            tokens = [t[-idx:] for t, idx in zip(full, state.stop_steps, strict=True)]
        else:
            tokens = [t[n_prompt:] for t in full]
        return T2SGeneration(
            tokens=[t.clone() for t in tokens],
            full=[t.clone() for t in full],
            stop_steps=list(state.stop_steps),
            step_logits=[
                torch.stack(r) if r else torch.empty(0, self.config.vocab_size) for r in state.recorded_logits
            ],
        )

    @torch.inference_mode()
    def generate_detailed(
        self,
        phones: list[torch.Tensor],
        bert: list[torch.Tensor],
        prompt: torch.Tensor | None,
        *,
        top_k: int | None = 15,
        top_p: float = 1.0,
        temperature: float = 1.0,
        repetition_penalty: float = 1.35,
        early_stop_num: float = -1,
        max_len: int | None = None,
        max_steps: int = MAX_DECODE_STEPS,
        generator: torch.Generator | None = None,
        record_logits: int = 0,
        one_at_a_time: bool = False,
        on_step: Callable[[int, int], None] | None = None,
    ) -> T2SGeneration:
        """Batched autoregressive decoding with a KV cache: `prefill`, `step` until done, `finish`.

        Args:
            phones: per item, phone ids (T_i,) int64 (prompt text phones + target text phones).
            bert: per item, BERT features (1024, T_i) float.
            prompt: (B, T_prompt) or (1, T_prompt) int64 semantic codes of the reference clip, or None
                (prompt-free: items are then decoded one at a time, as GPT-SoVITS does).
            top_k, top_p, temperature, repetition_penalty: sampling (`core.models.sampling`); top_k=1 is
                greedy. The penalty covers every earlier token, the prompt included.
            early_stop_num: stop after this many tokens (-1: no limit); GPT-SoVITS uses
                `config.early_stop_num`.
            max_len: text length to left-pad to (default: the longest item; the reference passes the
                bucket's longest phone/BERT length).
            max_steps: hard cap on decode steps.
            generator: random generator for sampling (default: torch's global one for the device).
            record_logits: keep the raw logits of this many first steps per item (for tests).
            one_at_a_time: decode the items one by one as the reference's `infer_panel_naive` (what
                `TTS.run` uses with `parallel_infer=False`, and always without a prompt). Its tokens
                differ from the batched path's when an item stops on the budget (`early_stop_num` or
                `max_steps`) rather than on EOS: the last sampled token is then kept, and `TTS.run`
                hands SoVITS the last `stop_step` tokens (with a prompt: the first generated one is
                dropped; without: all `stop_step + 1` tokens). Prompt-free decoding always works so.
            on_step: called after every step as `on_step(step, n_running)`: the step index (0, 1, ...)
                and how many rows are still running after it. When items are decoded one at a time
                the index restarts at 0 for each item. An exception it raises stops decoding and
                propagates (nothing is returned): this is how a caller cancels.

        Sampling draws in GPT-SoVITS's order (see `step`), so a seeded run reproduces its tokens. A
        stopped row drops its last sampled token (but see `one_at_a_time`).
        """
        _check_items(phones, bert)
        settings = T2SDecodeSettings(
            top_k=top_k,
            top_p=top_p,
            temperature=temperature,
            repetition_penalty=repetition_penalty,
            early_stop_num=early_stop_num,
            max_steps=max_steps,
            record_logits=record_logits,
            one_at_a_time=one_at_a_time or prompt is None,
        )
        if settings.one_at_a_time and len(phones) > 1:
            if prompt is not None and prompt.ndim == 1:
                prompt = prompt.unsqueeze(0)
            parts = [
                self.generate_detailed(
                    [p],
                    [b],
                    None if prompt is None else prompt[i : i + 1] if prompt.shape[0] > 1 else prompt,
                    top_k=top_k,
                    top_p=top_p,
                    temperature=temperature,
                    repetition_penalty=repetition_penalty,
                    early_stop_num=early_stop_num,
                    max_steps=max_steps,
                    generator=generator,
                    record_logits=record_logits,
                    one_at_a_time=True,
                    on_step=on_step,
                )
                for i, (p, b) in enumerate(zip(phones, bert, strict=True))
            ]
            return T2SGeneration(
                tokens=[t for part in parts for t in part.tokens],
                full=[t for part in parts for t in part.full],
                stop_steps=[s for part in parts for s in part.stop_steps],
                step_logits=[s for part in parts for s in part.step_logits],
            )

        state = self.prefill(phones, bert, prompt, settings, max_len=max_len, generator=generator)
        while not state.done:
            self.step(state)
            if on_step is not None:
                on_step(state.step - 1, len(state.running))
        return self.finish(state)

    @torch.inference_mode()
    def generate(
        self,
        phones: list[torch.Tensor],
        bert: list[torch.Tensor],
        prompt: torch.Tensor | None,
        *,
        top_k: int | None = 15,
        top_p: float = 1.0,
        temperature: float = 1.0,
        repetition_penalty: float = 1.35,
        early_stop_num: float = -1,
        max_len: int | None = None,
        max_steps: int = MAX_DECODE_STEPS,
        generator: torch.Generator | None = None,
        one_at_a_time: bool = False,
        on_step: Callable[[int, int], None] | None = None,
    ) -> list[torch.Tensor]:
        """Decode semantic codes for a batch of texts; see `generate_detailed` for the arguments.

        Returns, per item in input order, the generated 25 Hz codes (n_i,) int64 for SoVITS.
        """
        return self.generate_detailed(
            phones,
            bert,
            prompt,
            top_k=top_k,
            top_p=top_p,
            temperature=temperature,
            repetition_penalty=repetition_penalty,
            early_stop_num=early_stop_num,
            max_len=max_len,
            max_steps=max_steps,
            generator=generator,
            one_at_a_time=one_at_a_time,
            on_step=on_step,
        ).tokens

    # ----- training --------------------------------------------------------------------------------

    def loss(
        self,
        phones: torch.Tensor,
        phone_lens: torch.Tensor,
        codes: torch.Tensor,
        code_lens: torch.Tensor,
        bert: torch.Tensor,
    ) -> tuple[torch.Tensor, float]:
        """Teacher-forced training loss (GPT-SoVITS `forward_old`).

        Args:
            phones: (B, T_x) int64, right-padded with 0.
            phone_lens: (B,) int64.
            codes: (B, T_y) int64 semantic codes, right-padded (any value).
            code_lens: (B,) int64.
            bert: (B, 1024, T_x) float, zero-padded.

        Returns:
            (summed cross-entropy over codes + EOS targets, top-3 accuracy ignoring EOS targets).

        Note: like the reference, the text padding mask is built as LEFT padding although the batch is
        right-padded; kept so that losses match GPT-SoVITS training.
        """
        eos = self.config.eos
        n_text = int(phone_lens.max())
        n_codes = int(code_lens.max())
        phones = phones[:, :n_text]
        bert = bert[:, :, :n_text]
        codes = codes[:, :n_codes]
        x = self.embed_text(phones, bert)  # (B, T_x, C)
        text_pad = left_padding_mask(phone_lens, n_text)  # (B, T_x)
        code_pad = right_padding_mask(code_lens, n_codes)  # (B, T_y)

        codes = codes.long().masked_fill(code_pad, 0)
        # targets: the codes then EOS (EOS also fills the padding); inputs: targets shifted right by one
        targets = F.pad(codes, (0, 1), value=0) + eos * F.pad(code_pad.long(), (0, 1), value=1)  # (B, T_y+1)
        y = self.embed_audio(targets[:, :-1], 0)  # (B, T_y, C)

        allowed = text_then_causal_mask(n_text, n_codes, x.device).unsqueeze(0)  # (1, S, S)
        key_ok = ~torch.cat([text_pad, code_pad], dim=1)  # (B, S)
        allowed = (allowed & key_ok.unsqueeze(1)).unsqueeze(1)  # (B, 1, S, S)
        h = self.transformer(torch.cat([x, y], dim=1), allowed)  # (B, S, C)
        logits = self.lm_head(h[:, n_text - 1 :])  # (B, T_y+1, V): last text position predicts code 0

        loss = F.cross_entropy(logits.transpose(1, 2), targets, reduction="sum")
        with torch.no_grad():
            counted = targets != eos
            top = logits.topk(ACCURACY_TOP_K, dim=-1).indices  # (B, T_y+1, k)
            hit = (top == targets.unsqueeze(-1)).any(dim=-1) & counted
            n_counted = int(counted.sum())
            accuracy = float(hit.sum()) / n_counted if n_counted else 0.0
        return loss, accuracy

    forward = loss  # the training pass: what `DistributedDataParallel` calls
