"""HuBERT content features (chinese-hubert-base) for SoVITS prompts and training data.

The reference calls the transformers `HubertModel` directly on the raw 16 kHz waveform: its
`Wav2Vec2FeatureExtractor` (zero-mean / unit-variance) is loaded but never applied on the inference and
data-preparation paths, so it is not applied here either.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from core.errors import CheckpointError
from core.models._hf import UNREADABLE as _UNREADABLE
from core.models._hf import load_model, require_model_dir
from core.models.precision import convert_convolutions
from core.settings import FP32

HUBERT_SR = 16000
"""Sample rate HuBERT's input must have (Hz)."""


class HubertContent:
    """SSL content encoder: 16 kHz waveform → (B, hidden_size, frames) features, 50 frames/s.

    Build with `HubertContent.from_pretrained(dir)`; the caller owns the object (no global cache).
    """

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.model = model.eval()
        self.device = device

    @classmethod
    def from_pretrained(
        cls, model_dir: str | os.PathLike, device: str | torch.device = "cpu", precision: str = FP32
    ) -> HubertContent:
        """Load a HuggingFace `HubertModel` folder (e.g. `pretrained/chinese-hubert-base`), local files only.

        Weights are loaded in float32, linear layers in `precision` (`core.models.precision`; converted as
        they load, see `load_model`), and the convolutions in bf16 too when `precision` is (the waveform
        encoder's seven and the positional one: a fifth of a 5 s clip's time). Raises
        `PretrainedMissingError` if the folder or its files are absent and `CheckpointError` if they cannot
        be read as a HuBERT model.
        """
        from transformers import HubertConfig, HubertModel  # heavy import, deferred

        model_dir = Path(model_dir)
        require_model_dir(model_dir, "HuBERT (chinese-hubert-base)")
        try:
            config = HubertConfig.from_pretrained(model_dir, local_files_only=True)
            if config.model_type != "hubert":
                raise CheckpointError(
                    f"{model_dir}: config.json describes a {config.model_type!r} model, expected 'hubert'; "
                    "point the HuBERT path at chinese-hubert-base"
                )
            # tensors the file lacks are initialised at random, as transformers does
            model, _ = load_model(HubertModel, model_dir, config, precision)
        except _UNREADABLE as exc:
            raise CheckpointError(
                f"{model_dir}: cannot load the HuBERT model ({exc}); download it again"
            ) from exc
        device = torch.device(device)
        return cls(convert_convolutions(model, precision).to(device), device)

    @property
    def hidden_size(self) -> int:
        """Feature channels (768 for chinese-hubert-base)."""
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def content(self, wav_16k: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """`wav_16k` (B, n) or (n,) float32 at 16 kHz, not normalised → (B, hidden_size, frames) float32.

        frames = n // 320 (less a few for short inputs): the conv stack's receptive field, 20 ms per frame.

        The transformers encoder draws one `torch.rand([])` per layer from torch's global CPU generator on
        every call, even in eval mode (its LayerDrop test), so the reference's seeded runs depend on it. With
        a CPU `generator`, those draws are taken from `generator` instead (and the global generator is left
        alone), so a caller's seeded generator advances exactly as the reference's global one does.
        """
        if wav_16k.dim() == 1:
            wav_16k = wav_16k.unsqueeze(0)
        if wav_16k.dim() != 2:
            raise ValueError(f"expected a waveform of shape (B, n) or (n,), got {tuple(wav_16k.shape)}")
        dtype = next(self.model.parameters()).dtype
        inputs = wav_16k.to(self.device, dtype)
        if generator is None or generator.device.type != "cpu":
            hidden = self.model(inputs)["last_hidden_state"]  # (B, frames, C)
        else:
            with torch.random.fork_rng(devices=[]):  # restores the global CPU generator afterwards
                torch.set_rng_state(generator.get_state())
                hidden = self.model(inputs)["last_hidden_state"]
                generator.set_state(torch.get_rng_state())
        return hidden.transpose(1, 2)  # (B, C, frames)

    def skip_draws(self, generator: torch.Generator | None) -> None:
        """Advance `generator` exactly as `content(..., generator)` would, without running the model.

        Lets a caller that kept a clip's features draw the same random numbers as one that computes them,
        so that a seeded result never depends on what a cache happened to hold.
        """
        if generator is None or generator.device.type != "cpu":
            return  # `content` draws from torch's global generator then, not from `generator`
        for _ in self.model.encoder.layers:
            torch.rand((), generator=generator)
