"""Per-phone BERT features (chinese-roberta-wwm-ext-large) for the T2S model's text side.

The reference takes `hidden_states[-3]` of the BERT stack for the normalised text (one token per character),
drops [CLS]/[SEP] and repeats each character's row once per phone of that character. Since only the output
of layer L-2 is used, the last two transformer layers are never run here (they cannot change the result).
Non-Chinese segments get zeros instead (that choice belongs to the caller, see `zero_features`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from core.errors import CheckpointError, TextError
from core.kept import KeptResults
from core.models._hf import UNREADABLE as _UNREADABLE
from core.models._hf import load_model, require_model_dir
from core.settings import FP32

BERT_DIM = 1024
"""Width of the BERT phone features (chinese-roberta-wwm-ext-large hidden size), the T2S text input."""
# GPT-SoVITS reads hidden_states[-3]: the output of the third-to-last entry (embeddings count as entry 0).
_HIDDEN_STATE_FROM_END = 3
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
KEPT_TEXTS = 64
"""How many texts' BERT outputs a `BertPhoneFeatures` keeps (a 100-character text: 0.4 MB)."""


def zero_features(n_phones: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """The features the reference uses for non-Chinese text: zeros (1024, n_phones) float32."""
    return torch.zeros(BERT_DIM, n_phones, dtype=torch.float32, device=device)


class BertPhoneFeatures:
    """Normalised text + word2ph → (1024, n_phones) features. Build with `from_pretrained(dir)`."""

    def __init__(self, tokenizer, model: torch.nn.Module, device: torch.device) -> None:
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.device = device
        self._kept: KeptResults[str, torch.Tensor] = KeptResults(KEPT_TEXTS)  # norm_text -> BERT rows

    @classmethod
    def from_pretrained(
        cls, model_dir: str | os.PathLike, device: str | torch.device = "cpu", precision: str = FP32
    ) -> BertPhoneFeatures:
        """Load a HuggingFace BERT folder (tokenizer + weights), local files only, in float32 with its linear
        layers in `precision` (`core.models.precision`; converted as they load, see `load_model`).

        Raises `PretrainedMissingError` if the folder or its files are absent, `CheckpointError` if the
        weights do not fit the config (missing tensors) or the model has fewer than 2 layers.
        """
        from transformers import AutoTokenizer, BertConfig, BertModel  # heavy import, deferred

        model_dir = Path(model_dir)
        require_model_dir(model_dir, "BERT (chinese-roberta-wwm-ext-large)", [_TOKENIZER_FILES])
        try:
            config = BertConfig.from_pretrained(model_dir, local_files_only=True)
            if config.model_type != "bert":
                raise CheckpointError(
                    f"{model_dir}: config.json describes a {config.model_type!r} model, expected 'bert'; "
                    "point the BERT path at chinese-roberta-wwm-ext-large"
                )
            tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            # The MLM head (cls.*) in the file is unused; the pooler is not part of the file.
            model, missing = load_model(BertModel, model_dir, config, precision, add_pooling_layer=False)
        except _UNREADABLE as exc:
            raise CheckpointError(
                f"{model_dir}: cannot load the BERT model ({exc}); download it again"
            ) from exc
        if missing:
            raise CheckpointError(
                f"{model_dir}: the weights lack {len(missing)} tensors the config needs "
                f"(e.g. {missing[0]}); the file is incomplete or for another model, "
                "download it again"
            )
        n_layers = len(model.encoder.layer)
        keep = n_layers + 1 - _HIDDEN_STATE_FROM_END
        if keep < 0:
            raise CheckpointError(
                f"{model_dir}: BERT has {n_layers} layers; GPT-SoVITS features need at least 2"
            )
        model.encoder.layer = model.encoder.layer[:keep]
        device = torch.device(device)
        return cls(tokenizer, model.to(device), device)

    def token_ids(self, norm_text: str) -> list[int]:
        """Tokenizer ids of `norm_text`, [CLS] and [SEP] included (one id per character in between)."""
        return list(self.tokenizer(norm_text)["input_ids"])

    @torch.inference_mode()
    def features(self, norm_text: str, word2ph: list[int]) -> torch.Tensor:
        """`norm_text` (the text normaliser's output), `word2ph[i]` phones for character i → (1024, Σword2ph).

        Row i of the BERT output (after [CLS]) is repeated `word2ph[i]` times; float32 on `self.device`.
        Raises `TextError` if word2ph does not have one entry per character.
        """
        if len(word2ph) != len(norm_text):
            raise TextError(
                f"word2ph has {len(word2ph)} entries but the text {norm_text!r} has {len(norm_text)} "
                "characters; "
                "pass the norm_text and word2ph produced together by core.text"
            )
        hidden = self._hidden(norm_text)  # (tokens, 1024)
        if hidden.shape[0] < len(word2ph):
            raise TextError(
                f"the BERT tokenizer split {norm_text!r} into {hidden.shape[0]} tokens, fewer than its "
                f"{len(word2ph)} characters; remove characters the tokenizer drops (e.g. spaces)"
            )
        repeats = torch.tensor(word2ph, dtype=torch.long, device=hidden.device)
        per_phone = torch.repeat_interleave(hidden[: len(word2ph)], repeats, dim=0)  # (Σword2ph, 1024)
        return per_phone.T.float()

    def forget_texts(self) -> None:
        """Drop the kept BERT outputs (the next texts run BERT afresh)."""
        self._kept.clear()

    def _hidden(self, norm_text: str) -> torch.Tensor:
        """BERT's output rows for the characters of `norm_text` (CLS/SEP dropped), kept for the last
        `KEPT_TEXTS` texts: a creator re-reading the same line with another seed or speed, and the prompt
        text of every request with the same clip, skip BERT (0.1-0.4 s on a CPU)."""
        hidden = self._kept.get(norm_text)
        if hidden is None:
            inputs = self.tokenizer(norm_text, return_tensors="pt")
            inputs = {name: value.to(self.device) for name, value in inputs.items()}
            hidden = self.model(**inputs)["last_hidden_state"][0, 1:-1].clone()  # (tokens, 1024)
            self._kept.put(norm_text, hidden)
        return hidden
