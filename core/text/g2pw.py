"""G2PW: a BERT-based polyphone classifier (ONNX) that picks the reading of each polyphonic character.

This is the GPT-SoVITS v2 `G2PWOnnxConverter` behaviour, with the model folder handed in by the caller
(`pretrained/G2PWModel`, never probed at import). The folder holds, as the reference's `G2PWModel_1.1`:

* `g2pW.onnx` (or `g2pw.onnx`): inputs `input_ids`, `token_type_ids`, `attention_mask` (int64, (B, T)),
  `phoneme_mask` (float32, (N, L)), `char_ids`, `position_ids` (int64, (N,)); first output: probabilities
  (N, L) over the L phoneme labels. B is N, or 1 when the N queries share one sentence;
* `POLYPHONIC_CHARS.txt` / `MONOPHONIC_CHARS.txt`: `char<TAB>bopomofo` lines (traditional characters);
* `bopomofo_to_pinyin_wo_tune_dict.json`, `char_bopomofo_dict.json`;
* `config.py`: read as data (`use_mask`, `use_char_phoneme`); it is never executed.

The tokenizer is the BERT tokenizer of the Chinese BERT (`pretrained/chinese-roberta-wwm-ext-large`).
Sentences are converted to traditional characters with OpenCC `s2tw` first, as the reference does.

Needs `onnxruntime` (and `opencc` for real models); both are imported only when a model is loaded.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import PretrainedMissingError, TextError
from core.text.zh_normalize import traditional_to_simplified_table

_DATA_DIR = Path(__file__).resolve().parent / "data"

# Characters in POLYPHONIC_CHARS.txt that the reference does not send to the model.
_NOT_POLYPHONIC = frozenset("一不和咋嗲剖差攢倒難奔勁拗肖瘙誒泊听噢")
# Characters in MONOPHONIC_CHARS.txt that the reference does not read from that table.
_NOT_MONOPHONIC = frozenset("似攢")
# Characters of context kept on each side of the first/last polyphone of a sentence.
CONTEXT_CHARS = 16
MAX_TOKENS = 512
_ONNX_NAMES = ("g2pW.onnx", "g2pw.onnx")


@dataclass(frozen=True)
class G2PWConfig:
    """The two settings of the model folder's `config.py` that change inference."""

    use_mask: bool = True
    use_char_phoneme: bool = False

    @classmethod
    def from_file(cls, path: Path) -> G2PWConfig:
        """Read `config.py` as literal assignments (never executed); missing settings keep their defaults."""
        values: dict[str, Any] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                try:
                    values[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
        return cls(
            use_mask=bool(values.get("use_mask", cls.use_mask)),
            use_char_phoneme=bool(values.get("use_char_phoneme", cls.use_char_phoneme)),
        )


def _read_char_table(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").strip().split("\n"):
        char, phoneme = line.split("\t")
        rows.append((char, phoneme))
    return rows


@lru_cache(maxsize=1)
def load_corrections() -> dict[str, tuple[str, ...]]:
    """Word readings the reference applies after G2PW (`polyphonic.rep` then `polyphonic-fix.rep`)."""
    table: dict[str, tuple[str, ...]] = {}
    with gzip.open(_DATA_DIR / "g2pw_corrections.tsv.gz", "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            word, readings = line.rstrip("\n").split("\t")
            table[word] = tuple(readings.split(" "))
    return table


def correct_readings(word: str, readings: Sequence[str]) -> list[str]:
    """Apply the correction table to G2PW's readings of one word: whole word, else character by character."""
    table = load_corrections()
    if word in table:
        return list(table[word])
    out = list(readings)
    for i, ch in enumerate(word):
        if ch in table:
            out[i] = table[ch][0]
    return out


# ---- tokenization with a character <-> token map -----------------------------------------------------
def _words_of(text: str) -> tuple[list[str], list[int | None], list[tuple[int, int]]]:
    """Split into runs of [a-zA-Z0-9] and single other characters; spaces map to no word."""
    words: list[str] = []
    text_to_word: list[int | None] = []
    word_to_text: list[tuple[int, int]] = []
    pos = 0
    while pos < len(text):
        space = re.match(r" +", text[pos:])
        if space:
            text_to_word += [None] * len(space.group(0))
            pos += len(space.group(0))
            continue
        latin = re.match(r"[a-zA-Z0-9]+", text[pos:])
        piece = latin.group(0) if latin else text[pos]
        word_to_text.append((pos, pos + len(piece)))
        text_to_word += [len(words)] * len(piece)
        words.append(piece)
        pos += len(piece)
    return words, text_to_word, word_to_text


def _tokenize(tokenizer: Any, text: str) -> tuple[list[str], list[int | None], list[tuple[int, int]]]:
    """BERT word pieces of `text`, the token of each character, and the character span of each token."""
    words, text_to_token, word_to_text = _words_of(text)
    tokens: list[str] = []
    token_to_text: list[tuple[int, int]] = []
    for word, (start, end) in zip(words, word_to_text, strict=True):
        pieces = tokenizer.tokenize(word)
        if not pieces or pieces == ["[UNK]"]:
            token_to_text.append((start, end))
            tokens.append("[UNK]")
            continue
        for piece in pieces:
            length = len(re.sub(r"^##", "", piece))
            token_to_text.append((start, start + length))
            start += length
            tokens.append(piece)
    for i, (start, end) in enumerate(token_to_text):
        for pos in range(start, end):
            text_to_token[pos] = i
    return tokens, text_to_token, token_to_text


def _truncate(text: str, query: int, tokens: list[str], text_to_token: list[int | None], token_to_text):
    """Cut a long text to MAX_TOKENS - 2 tokens centred on the query character."""
    keep = MAX_TOKENS - 2
    centre = text_to_token[query]
    first = centre - keep // 2
    last = first + keep
    if first < 0:
        first, last = 0, keep
    elif last > len(tokens):
        first, last = len(tokens) - keep, len(tokens)
    start, end = token_to_text[first][0], token_to_text[last - 1][1]
    return (
        text[start:end],
        query - start,
        tokens[first:last],
        [i - first if i is not None else None for i in text_to_token[start:end]],
    )


# ---- the model -----------------------------------------------------------------------------------------
class G2PW:
    """A loaded G2PW model: `predict(sentences)` gives a TONE3 reading for every character.

    Build it with `G2PW.load(model_dir, tokenizer_dir)`; the object is read-only afterwards.
    """

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        config: G2PWConfig,
        polyphonic: Sequence[tuple[str, str]],
        monophonic: Sequence[tuple[str, str]],
        bopomofo_to_pinyin: Mapping[str, str],
        char_bopomofo: Mapping[str, Any],
        to_traditional: Callable[[str], str] | None,
    ) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.config = config
        if config.use_char_phoneme:
            self.labels = sorted({f"{c} {p}" for c, p in polyphonic})
            label_of = {(c, p): self.labels.index(f"{c} {p}") for c, p in polyphonic}
        else:
            self.labels = sorted({p for _, p in polyphonic})
            label_of = {(c, p): self.labels.index(p) for c, p in polyphonic}
        self.char_labels: dict[str, list[int]] = {}
        for char, phoneme in polyphonic:
            self.char_labels.setdefault(char, []).append(label_of[(char, phoneme)])
        self.chars = sorted(self.char_labels)
        self.char_id = {c: i for i, c in enumerate(self.chars)}
        self.polyphonic = frozenset(self.chars) - _NOT_POLYPHONIC
        self.monophonic = {c: p for c, p in monophonic if c not in _NOT_MONOPHONIC}
        self.bopomofo_to_pinyin = dict(bopomofo_to_pinyin)
        self.char_bopomofo = char_bopomofo
        self.to_traditional = to_traditional

    @classmethod
    def load(
        cls,
        model_dir: Path,
        tokenizer_dir: Path,
        *,
        threads: int = 2,
        to_traditional: Callable[[str], str] | None = None,
    ) -> G2PW:
        """Load the model folder and the BERT tokenizer; `PretrainedMissingError` when files are missing.

        `to_traditional` converts simplified to traditional characters of the same length (default: OpenCC
        `s2tw`, as the reference).
        """
        model_dir, tokenizer_dir = Path(model_dir), Path(tokenizer_dir)
        needed = [
            "POLYPHONIC_CHARS.txt",
            "MONOPHONIC_CHARS.txt",
            "bopomofo_to_pinyin_wo_tune_dict.json",
            "char_bopomofo_dict.json",
        ]
        missing = [n for n in needed if not (model_dir / n).is_file()]
        onnx = next((model_dir / n for n in _ONNX_NAMES if (model_dir / n).is_file()), None)
        if onnx is None:
            missing.append("g2pW.onnx")
        if missing:
            raise PretrainedMissingError(
                f"G2PW model folder {model_dir} lacks {', '.join(missing)}; "
                "run `python -m core pretrained download --extra g2pw`, or remove the folder (no G2PW)"
            )
        try:
            import onnxruntime
        except ImportError as exc:
            raise PretrainedMissingError("G2PW needs onnxruntime: pip install onnxruntime==1.23.2") from exc
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        except (OSError, ValueError) as exc:
            raise PretrainedMissingError(
                f"no BERT tokenizer in {tokenizer_dir} for G2PW: download chinese-roberta-wwm-ext-large there"
            ) from exc
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(
            str(onnx), sess_options=options, providers=["CPUExecutionProvider"]
        )
        config_path = model_dir / "config.py"
        return cls(
            session=session,
            tokenizer=tokenizer,
            config=G2PWConfig.from_file(config_path) if config_path.is_file() else G2PWConfig(),
            polyphonic=_read_char_table(model_dir / "POLYPHONIC_CHARS.txt"),
            monophonic=_read_char_table(model_dir / "MONOPHONIC_CHARS.txt"),
            bopomofo_to_pinyin=json.loads(
                (model_dir / "bopomofo_to_pinyin_wo_tune_dict.json").read_text("utf-8")
            ),
            char_bopomofo=json.loads((model_dir / "char_bopomofo_dict.json").read_text("utf-8")),
            to_traditional=to_traditional or _opencc_s2tw(),
        )

    def _pinyin_of_bopomofo(self, bopomofo: str) -> str | None:
        base = self.bopomofo_to_pinyin.get(bopomofo[:-1])
        return base + bopomofo[-1] if base else None

    def predict(self, sentences: Sequence[str]) -> list[list[str | None]]:
        """One TONE3 reading per character of each sentence (punctuation stays as itself).

        Polyphones are read by the model, other characters by the monophonic table or pypinyin.
        """
        from pypinyin import Style, pinyin

        if self.to_traditional is not None:
            converted = [self.to_traditional(s) for s in sentences]
            for before, after in zip(sentences, converted, strict=True):
                if len(before) != len(after):
                    raise TextError(f"traditional-character conversion changed the length of {before!r}")
            sentences = converted
        t2s = traditional_to_simplified_table(compat=True)
        results: list[list[str | None]] = []
        texts: list[str] = []
        queries: list[tuple[int, int, int]] = []  # (sentence, index in text, index in sentence)
        for s_id, sent in enumerate(sentences):
            dictionary = pinyin(sent.translate(t2s), neutral_tone_with_five=True, style=Style.TONE3)
            readings: list[str | None] = [None] * len(sent)
            poly = []
            for i, ch in enumerate(sent):
                if ch in self.polyphonic:
                    poly.append(i)
                elif ch in self.monophonic:
                    readings[i] = self._pinyin_of_bopomofo(self.monophonic[ch])
                else:
                    readings[i] = dictionary[i][0]
            if poly:
                left = max(0, poly[0] - CONTEXT_CHARS)
                right = min(len(sent), poly[-1] + CONTEXT_CHARS + 1)
                for i in poly:
                    texts.append(sent[left:right])
                    queries.append((s_id, i - left, i))
            results.append(readings)
        if not texts:
            return results
        batch = self._inputs(texts, [q[1] for q in queries])
        labels = self._run_grouped(batch, texts)
        for (s_id, _, i), label in zip(queries, labels, strict=True):
            if self.config.use_char_phoneme:
                label = label.split(" ")[1]
            results[s_id][i] = self._pinyin_of_bopomofo(label)
        return results

    def _inputs(self, texts: Sequence[str], query_ids: Sequence[int]) -> dict[str, np.ndarray]:
        rows: dict[str, list] = {k: [] for k in ("input_ids", "token_type_ids", "attention_mask")}
        phoneme_masks, char_ids, position_ids = [], [], []
        for text, query in zip(texts, query_ids, strict=True):
            text = text.lower()
            tokens, text_to_token, token_to_text = _tokenize(self.tokenizer, text)
            if len(tokens) > MAX_TOKENS - 2:
                text, query, tokens, text_to_token = _truncate(
                    text, query, tokens, text_to_token, token_to_text
                )
            ids = self.tokenizer.convert_tokens_to_ids(["[CLS]", *tokens, "[SEP]"])
            rows["input_ids"].append(list(ids))
            rows["token_type_ids"].append([0] * len(ids))
            rows["attention_mask"].append([1] * len(ids))
            char = text[query]
            if self.config.use_mask:
                allowed = set(self.char_labels[char])
                phoneme_masks.append([1.0 if i in allowed else 0.0 for i in range(len(self.labels))])
            else:
                phoneme_masks.append([1.0] * len(self.labels))
            char_ids.append(self.char_id[char])
            position_ids.append(text_to_token[query] + 1)  # +1 for [CLS]
        width = max(len(r) for r in rows["input_ids"])
        batch = {
            k: np.array([r + [0] * (width - len(r)) for r in v], dtype=np.int64) for k, v in rows.items()
        }
        batch["phoneme_mask"] = np.array(phoneme_masks, dtype=np.float32)
        batch["char_ids"] = np.array(char_ids, dtype=np.int64)
        batch["position_ids"] = np.array(position_ids, dtype=np.int64)
        return batch

    def _run(self, batch: Mapping[str, np.ndarray]) -> list[str]:
        probs = self.session.run([], dict(batch))[0]  # (N, L)
        return [self.labels[i] for i in np.argmax(probs, axis=1).tolist()]

    def _run_grouped(self, batch: Mapping[str, np.ndarray], texts: Sequence[str]) -> list[str]:
        """Queries on one text share a BERT row (batch 1 for the token inputs), as the reference does."""
        groups: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            groups.setdefault(text, []).append(i)
        if len(texts) <= 1 or all(len(g) == 1 for g in groups.values()):
            return self._run(batch)
        labels = [""] * len(texts)
        for rows in groups.values():
            part = {k: v[rows] for k, v in batch.items()}
            if len(rows) > 1:
                for k in ("input_ids", "token_type_ids", "attention_mask"):
                    part[k] = part[k][:1]
            for i, label in zip(rows, self._run(part), strict=True):
                labels[i] = label
        return labels


def _opencc_s2tw() -> Callable[[str], str]:
    try:
        import opencc
    except ImportError as exc:
        raise PretrainedMissingError(
            "G2PW needs OpenCC for traditional characters: pip install opencc==1.4.2"
        ) from exc
    converter = opencc.OpenCC("s2tw")
    return converter.convert


def load_if_present(pretrained_dir: str | Path, *, threads: int = 2) -> G2PW | None:
    """The G2PW model of `pretrained_dir/G2PWModel` (tokenizer from `chinese-roberta-wwm-ext-large`), or None
    when that folder does not exist (Timbre then reads polyphones with its own rules and pypinyin)."""
    pretrained_dir = Path(pretrained_dir)
    model_dir = pretrained_dir / "G2PWModel"
    if not model_dir.is_dir():
        return None
    from core.pretrained import BERT_DIR  # the G2PW tokenizer is the Chinese BERT's

    return G2PW.load(model_dir, pretrained_dir / BERT_DIR, threads=threads)
