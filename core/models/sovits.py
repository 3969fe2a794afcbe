"""SoVITS v2 generator ("s2"): semantic codes + phones + reference spectrogram -> waveform.

    HuBERT content (B, 768, T50) --ssl_proj (k=2, s=2)--> (B, 768, T25) --RVQ--> codes (n_q, B, T25)

    codes --codebook--> (1, 768, T25) --x2 nearest--> (1, 768, T50) ┐
    phones (1, N) ──────────────────────────────────────────────────┤ ContentEncoder (+ speaker ge)
    reference spec (1, 1025, F) --StyleEncoder--> ge (1, gin, 1) ───┘      │ m, logs (1, inter, T50)
                                                                           ▼
    z_p = m + noise * exp(logs) * noise_scale --Flow⁻¹--> z --HiFiGANGenerator--> audio (1, 1, T50 * 640)

Frame rates: HuBERT runs at 50 frames/s on 16 kHz audio, semantic codes at 25 Hz, the decoder at 50 Hz and
the waveform at `config.sampling_rate` (32 kHz for v2; one 50 Hz frame = `samples_per_frame` = the product of
the vocoder's upsample rates = 640 samples).
The structure and the arithmetic order follow GPT-SoVITS `module/models.py` `SynthesizerTrn` (v2) so that
float32 results match the reference to ~1e-7.

Training (`forward`) runs the VITS path: the posterior encoder `enc_q` reads the target's linear
spectrogram, the flow maps its latent into the prior's space (KL against `enc_p`), and the vocoder decodes a
random segment of the latent (reconstruction and adversarial losses, in `core.training`). `enc_q` exists
only in a model built with `posterior_encoder=True`; inference files do not store it. The quantizer stays
frozen, as in the reference's v2 training (`freeze_quantizer`): the codebook lookup passes no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from core.errors import CheckpointError, SynthesisError
from core.models.modules import (
    AttentionEncoder,
    Flow,
    HiFiGANGenerator,
    RelativeMultiHeadAttention,
    StyleEncoder,
    WaveNet,
    sequence_mask,
)

SSL_DIM = 768  # HuBERT-base hidden size
CODEBOOK_SIZE = 1024
N_QUANTIZERS = 1
REF_SPEC_BINS = 704  # v2 reads only the lowest 704 of the 1025 spectrogram bins
N_SYMBOLS = {"v1": 322, "v2": 732}  # phone vocabulary (text_embedding rows) per version
ATTENTION_WINDOW = 4  # relative-position window of the transformer encoders
MRTE_HIDDEN = 512  # multi-reference timbre encoder: width of the cross attention (fixed in the reference)
MRTE_HEADS = 4
STYLE_HIDDEN = 128  # reference (style) encoder: hidden width, conv kernel, attention heads
STYLE_KERNEL = 5
STYLE_HEADS = 2
FLOW_N_FLOWS = 4  # flow: coupling layers, WaveNet kernel, dilation rate and depth (fixed in the reference)
FLOW_KERNEL = 5
FLOW_DILATION = 1
FLOW_WN_LAYERS = 4
CODE_UPSAMPLE = 2  # 25 Hz codes -> 50 Hz decoder frames
POSTERIOR_KERNEL = 5  # posterior encoder (training only): WaveNet kernel, dilation rate and depth
POSTERIOR_DILATION = 1
POSTERIOR_WN_LAYERS = 16


# -- quantizer ---------------------------------------------------------------------------------------------


class Codebook(nn.Module):
    """One vector-quantizer codebook `embed (K, D)`: nearest row by squared Euclidean distance."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("embed", torch.zeros(size, dim))

    def encode(self, x: Tensor) -> Tensor:
        """`(B, D, T)` -> indices `(B, T)`."""
        b, d, t = x.shape
        flat = x.transpose(1, 2).reshape(b * t, d)  # (B*T, D)
        embed = self.embed.t()  # (D, K)
        # the reference's expression, term for term (argmax of the negated distance)
        dist = -(flat.pow(2).sum(1, keepdim=True) - 2 * flat @ embed + embed.pow(2).sum(0, keepdim=True))
        return dist.max(dim=-1).indices.view(b, t)

    def decode(self, indices: Tensor) -> Tensor:
        """Indices `(B, T)` -> vectors `(B, D, T)`."""
        return F.embedding(indices, self.embed).transpose(1, 2)


class ResidualVQ(nn.Module):
    """Residual vector quantizer (one codebook in GPT-SoVITS)."""

    def __init__(self, n_q: int, size: int, dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Codebook(size, dim) for _ in range(n_q))

    def encode(self, x: Tensor) -> Tensor:
        """`(B, D, T)` -> codes `(n_q, B, T)`."""
        residual = x
        codes = []
        for layer in self.layers:
            indices = layer.encode(residual)
            residual = residual - layer.decode(indices)
            codes.append(indices)
        return torch.stack(codes)

    def decode(self, codes: Tensor) -> Tensor:
        """Codes `(n_q, B, T)` -> summed vectors `(B, D, T)`."""
        out = self.layers[0].decode(codes[0])
        for layer, indices in zip(self.layers[1:], codes[1:], strict=False):
            out = out + layer.decode(indices)
        return out


# -- content encoder ---------------------------------------------------------------------------------------


class MRTE(nn.Module):
    """Multi-reference timbre encoder: content attends to phones, plus the speaker embedding.

    content `(B, C, T)`, phones `(B, C, N)`, ge `(B, MRTE_HIDDEN, 1)` -> `(B, C, T)`.
    """

    def __init__(self, channels: int, hidden: int, n_heads: int) -> None:
        super().__init__()
        self.cross_attention = RelativeMultiHeadAttention(hidden, hidden, n_heads)
        self.c_pre = nn.Conv1d(channels, hidden, 1)
        self.text_pre = nn.Conv1d(channels, hidden, 1)
        self.c_post = nn.Conv1d(hidden, channels, 1)

    def forward(self, ssl: Tensor, ssl_mask: Tensor, text: Tensor, text_mask: Tensor, ge: Tensor) -> Tensor:
        attn_mask = text_mask.unsqueeze(2) * ssl_mask.unsqueeze(-1)  # (B, 1, T, N)
        ssl_enc = self.c_pre(ssl * ssl_mask)
        text_enc = self.text_pre(text * text_mask)
        x = self.cross_attention(ssl_enc * ssl_mask, text_enc * text_mask, attn_mask) + ssl_enc + ge
        return self.c_post(x * ssl_mask)


class ContentEncoder(nn.Module):
    """Prior encoder (`enc_p`): quantized content + phones + speaker -> prior mean and log-scale.

    content `(B, 768, T)`, phones `(B, N)`, ge `(B, gin, 1)` -> m, logs `(B, inter, T')` and mask `(B, 1, T')`
    with T' = T at speed 1, else `int(T / speed) + 1`.
    """

    def __init__(self, config: SoVITSConfig) -> None:
        super().__init__()
        c = config
        self.inter_channels = c.inter_channels

        def encoder(n_layers: int) -> AttentionEncoder:
            return AttentionEncoder(
                c.hidden_channels,
                c.filter_channels,
                c.n_heads,
                n_layers,
                c.kernel_size,
                ATTENTION_WINDOW,
                c.p_dropout,
            )

        self.ssl_proj = nn.Conv1d(SSL_DIM, c.hidden_channels, 1)
        self.encoder_ssl = encoder(c.n_layers // 2)
        self.encoder_text = encoder(c.n_layers)
        self.text_embedding = nn.Embedding(c.n_symbols, c.hidden_channels)
        self.mrte = MRTE(c.hidden_channels, MRTE_HIDDEN, MRTE_HEADS)
        self.encoder2 = encoder(c.n_layers // 2)
        self.proj = nn.Conv1d(c.hidden_channels, c.inter_channels * 2, 1)

    def forward(
        self, y: Tensor, y_lengths: Tensor, text: Tensor, text_lengths: Tensor, ge: Tensor, speed: float = 1.0
    ) -> tuple[Tensor, Tensor, Tensor]:
        y_mask = sequence_mask(y_lengths, y.size(2)).unsqueeze(1).to(y.dtype)  # (B, 1, T)
        y = self.ssl_proj(y * y_mask) * y_mask  # (B, H, T)
        y = self.encoder_ssl(y * y_mask, y_mask)

        text_mask = sequence_mask(text_lengths, text.size(1)).unsqueeze(1).to(y.dtype)  # (B, 1, N)
        text = self.text_embedding(text).transpose(1, 2)  # (B, H, N)
        text = self.encoder_text(text * text_mask, text_mask)

        y = self.mrte(y, y_mask, text, text_mask, ge)
        y = self.encoder2(y * y_mask, y_mask)
        if speed != 1:
            y = F.interpolate(y, size=int(y.shape[-1] / speed) + 1, mode="linear")
            y_mask = F.interpolate(y_mask, size=y.shape[-1], mode="nearest")
        stats = self.proj(y) * y_mask  # (B, 2*inter, T')
        m, logs = torch.split(stats, self.inter_channels, dim=1)
        return m, logs, y_mask


class PosteriorEncoder(nn.Module):
    """`enc_q` (training only): target linear spectrogram `(B, spec_channels, T)` -> latent z and its
    Gaussian (m, logs), `(B, inter, T)` each, plus the mask `(B, 1, T)`. z is sampled with `torch.randn_like`
    (the global generator, as the reference)."""

    def __init__(self, config: SoVITSConfig) -> None:
        super().__init__()
        c = config
        self.inter_channels = c.inter_channels
        self.pre = nn.Conv1d(c.spec_channels, c.hidden_channels, 1)
        self.enc = WaveNet(
            c.hidden_channels, POSTERIOR_KERNEL, POSTERIOR_DILATION, POSTERIOR_WN_LAYERS, c.gin_channels
        )
        self.proj = nn.Conv1d(c.hidden_channels, c.inter_channels * 2, 1)

    def forward(self, spec: Tensor, lengths: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        mask = sequence_mask(lengths, spec.size(2)).unsqueeze(1).to(spec.dtype)
        x = self.enc(self.pre(spec) * mask, mask, g.detach())  # the speaker encoder learns from enc_p only
        m, logs = torch.split(self.proj(x) * mask, self.inter_channels, dim=1)
        z = (m + torch.randn_like(m) * torch.exp(logs)) * mask
        return z, m, logs, mask


@dataclass
class SoVITSTrainingOutput:
    """What one training forward pass gives the losses (shapes for a batch of B, T frames, S segment frames).

    audio: `(B, 1, S * samples_per_frame)` decoded from the latent segments starting at `segment_starts`
    `(B,)` (frames); z_p `(B, inter, T)`: the posterior latent through the flow; m_p, logs_p: the prior;
    logs_q: the posterior's log-scale; mask `(B, 1, T)`; commitment: the quantizer's commitment loss (0: the
    quantizer is frozen, as in the reference's v2 training).
    """

    audio: Tensor
    segment_starts: Tensor
    z_p: Tensor
    m_p: Tensor
    logs_p: Tensor
    logs_q: Tensor
    mask: Tensor
    commitment: Tensor


def random_segments(x: Tensor, lengths: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """A random `size`-frame window inside each sequence of `x` `(B, C, T)`: `(B, C, size)`, starts `(B,)`.

    Starts are drawn with `torch.rand` (the global generator), as the reference's `rand_slice_segments`."""
    starts = (torch.rand([x.size(0)], device=x.device) * (lengths - size + 1)).to(torch.long)
    return slice_segments(x, starts, size), starts


def slice_segments(x: Tensor, starts: Tensor, size: int) -> Tensor:
    """`x[b, :, starts[b] : starts[b] + size]` for every row b: `(B, C, size)`."""
    out = torch.zeros_like(x[:, :, :size])
    for row, start in enumerate(starts.tolist()):
        out[row] = x[row, :, start : start + size]
    return out


# -- config ------------------------------------------------------------------------------------------------

# config keys read by SoVITSConfig, per section of the stored config
_MODEL_KEYS = (
    "inter_channels",
    "hidden_channels",
    "filter_channels",
    "n_heads",
    "n_layers",
    "kernel_size",
    "p_dropout",
    "resblock",
    "resblock_kernel_sizes",
    "resblock_dilation_sizes",
    "upsample_rates",
    "upsample_initial_channel",
    "upsample_kernel_sizes",
    "gin_channels",
)
_DATA_KEYS = ("sampling_rate", "filter_length", "hop_length", "win_length")
# keys of the stored config that only matter for training or the reference's bookkeeping
_IGNORED_MODEL_KEYS = (
    "n_layers_q",
    "use_spectral_norm",
    "freeze_quantizer",
    "semantic_frame_rate",
    "version",
)
_IGNORED_DATA_KEYS = (
    "max_wav_value",
    "n_mel_channels",
    "mel_fmin",
    "mel_fmax",
    "add_blank",
    "n_speakers",
    "cleaned_text",
    "exp_dir",
    "training_files",
    "validation_files",
)
_IGNORED_TOP_KEYS = (
    "train",
    "s2_ckpt_dir",
    "content_module",
    "save_weight_dir",
    "name",
    "version",
    "pretrain",
    "resume_step",
    "model_dir",
)


@dataclass(frozen=True)
class SoVITSConfig:
    """Sizes of a SoVITS v2 generator, read from the `config` stored in the official `.pth` file.

    Defaults are the official `configs/s2.json` (full-size v2).
    """

    version: str = "v2"
    sampling_rate: int = 32000
    filter_length: int = 2048
    hop_length: int = 640
    win_length: int = 2048
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    p_dropout: float = 0.1
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (10, 8, 2, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 2, 2)
    gin_channels: int = 512

    def __post_init__(self) -> None:
        if self.version not in N_SYMBOLS:
            raise CheckpointError(
                f"SoVITS version {self.version!r} is not supported yet (supported: {', '.join(N_SYMBOLS)})"
            )
        if self.resblock not in ("1", "2"):
            raise CheckpointError(f"config model.resblock must be '1' or '2', found {self.resblock!r}")
        needed = 3 if self.resblock == "1" else 2  # a type-1 block uses 3 dilations, a type-2 block 2
        if len(self.resblock_dilation_sizes) != len(self.resblock_kernel_sizes) or any(
            len(d) < needed for d in self.resblock_dilation_sizes
        ):
            raise CheckpointError(
                f"config model.resblock_dilation_sizes must give at least {needed} dilations for each of the "
                f"{len(self.resblock_kernel_sizes)} resblock kernel sizes (resblock {self.resblock!r}), "
                f"found {[list(d) for d in self.resblock_dilation_sizes]}"
            )
        if self.gin_channels != MRTE_HIDDEN:
            raise CheckpointError(
                f"config model.gin_channels must be {MRTE_HIDDEN} for SoVITS {self.version} "
                f"(the speaker embedding is added inside the {MRTE_HIDDEN}-wide MRTE), "
                f"found {self.gin_channels}"
            )

    @property
    def spec_channels(self) -> int:
        """Bins of the linear reference spectrogram (`filter_length // 2 + 1`)."""
        return self.filter_length // 2 + 1

    @property
    def samples_per_frame(self) -> int:
        """Waveform samples per decoder frame: the product of the vocoder's upsample rates (640 for v2)."""
        return math.prod(self.upsample_rates)

    @property
    def n_symbols(self) -> int:
        """Rows of the phone embedding."""
        return N_SYMBOLS[self.version]

    @property
    def ref_bins(self) -> int:
        """Spectrogram bins the reference encoder reads (v1: all, v2: the lowest 704)."""
        return self.spec_channels if self.version == "v1" else REF_SPEC_BINS

    @classmethod
    def from_checkpoint(cls, cfg: Mapping[str, Any] | Any, *, version: str | None = None) -> SoVITSConfig:
        """Build from the stored config (a dict, or the unpickled `utils.HParams` stand-in).

        `version` overrides `model.version` (the reference decides it from the weights). Unknown keys raise
        `CheckpointError`; training-only keys are ignored by name.
        """
        top = _as_mapping(cfg, "config")
        _reject_unknown(top, ("model", "data", *_IGNORED_TOP_KEYS), "config")
        model = _as_mapping(top.get("model"), "config.model")
        data = _as_mapping(top.get("data"), "config.data")
        _reject_unknown(model, (*_MODEL_KEYS, *_IGNORED_MODEL_KEYS), "config.model")
        _reject_unknown(data, (*_DATA_KEYS, *_IGNORED_DATA_KEYS), "config.data")
        values: dict[str, Any] = {}
        for key in _MODEL_KEYS:
            if key in model:
                values[key] = model[key]
        for key in _DATA_KEYS:
            if key in data:
                values[key] = data[key]
        values["version"] = version or model.get("version") or "v2"
        for name in ("resblock_kernel_sizes", "upsample_rates", "upsample_kernel_sizes"):
            if name in values:
                values[name] = tuple(int(v) for v in values[name])
        if "resblock_dilation_sizes" in values:
            values["resblock_dilation_sizes"] = tuple(
                tuple(int(v) for v in d) for d in values["resblock_dilation_sizes"]
            )
        known = {f.name for f in fields(cls)}
        assert set(values) <= known
        return cls(**values)


def _as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        raise CheckpointError(f"the stored SoVITS config has no '{where}' section; the file is incomplete")
    if isinstance(value, Mapping):
        return value
    if hasattr(value, "keys") and hasattr(value, "__getitem__"):
        return {key: value[key] for key in value.keys()}
    raise CheckpointError(f"{where} must be a mapping, found {type(value).__name__}")


def _reject_unknown(section: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise CheckpointError(
            f"unknown key(s) in {where}: {', '.join(unknown)}; this file may come from a newer GPT-SoVITS "
            "version that Timbre does not support yet"
        )


# -- the generator -----------------------------------------------------------------------------------------


class SoVITS(nn.Module):
    """The SoVITS v2 generator (`SynthesizerTrn`); `posterior_encoder=True` adds `enc_q` for training."""

    def __init__(self, config: SoVITSConfig, *, posterior_encoder: bool = False) -> None:
        super().__init__()
        self.config = config
        c = config
        self.ssl_proj = nn.Conv1d(SSL_DIM, SSL_DIM, CODE_UPSAMPLE, stride=CODE_UPSAMPLE)
        self.quantizer = ResidualVQ(N_QUANTIZERS, CODEBOOK_SIZE, SSL_DIM)
        self.ref_enc = StyleEncoder(c.ref_bins, c.gin_channels, STYLE_HIDDEN, STYLE_KERNEL, STYLE_HEADS)
        self.enc_p = ContentEncoder(c)
        self.flow = Flow(
            c.inter_channels,
            c.hidden_channels,
            FLOW_KERNEL,
            FLOW_DILATION,
            FLOW_WN_LAYERS,
            FLOW_N_FLOWS,
            c.gin_channels,
        )
        self.dec = HiFiGANGenerator(
            c.inter_channels,
            c.resblock,
            c.resblock_kernel_sizes,
            c.resblock_dilation_sizes,
            c.upsample_rates,
            c.upsample_initial_channel,
            c.upsample_kernel_sizes,
            c.gin_channels,
        )
        self.enc_q = PosteriorEncoder(c) if posterior_encoder else None

    def forward(
        self,
        ssl: Tensor,
        spec: Tensor,
        spec_lengths: Tensor,
        phones: Tensor,
        phone_lengths: Tensor,
        segment: int,
    ) -> SoVITSTrainingOutput:
        """Training pass over a batch: HuBERT content `(B, 768, T)` (T = spectrogram frames, even), linear
        spectrograms `(B, spec_channels, T)` with their lengths, phone ids `(B, N)` with their lengths;
        `segment`: decoder frames to vocode per item (the reference: `segment_size // hop_length` = 32)."""
        if self.enc_q is None:
            raise SynthesisError(
                "this SoVITS model was built for inference; training needs posterior_encoder=True"
            )
        mask = sequence_mask(spec_lengths, spec.size(2)).unsqueeze(1).to(spec.dtype)
        ge = self.ref_enc(spec[:, : self.config.ref_bins] * mask, mask)  # (B, gin, 1)
        with torch.no_grad():  # frozen quantizer: the codebook lookup has no gradient in the reference either
            codes = self.quantizer.encode(self.ssl_proj(ssl))
            content = self.quantizer.decode(codes)
        content = F.interpolate(content, size=int(content.shape[-1] * CODE_UPSAMPLE), mode="nearest")
        m_p, logs_p, _ = self.enc_p(content, spec_lengths, phones, phone_lengths, ge)
        z, _, logs_q, mask = self.enc_q(spec, spec_lengths, ge)
        z_p = self.flow(z, mask, ge)
        z_segment, starts = random_segments(z, spec_lengths, segment)
        audio = self.dec(z_segment, ge)
        commitment = torch.zeros((), device=ssl.device)
        return SoVITSTrainingOutput(audio, starts, z_p, m_p, logs_p, logs_q, mask, commitment)

    @torch.no_grad()
    def extract_latent(self, ssl: Tensor) -> Tensor:
        """HuBERT content `(B, 768, T)` at 50 frames/s -> semantic codes `(n_q, B, T // 2)` int64 at 25 Hz.

        (The reference returns `(B, n_q, T // 2)`; with its single quantizer and B = 1 the two agree.)
        """
        return self.quantizer.encode(self.ssl_proj(ssl))

    @torch.no_grad()
    def speaker_embedding(self, spec: Tensor) -> Tensor:
        """Reference spectrogram `(1, spec_channels, frames)` (linear magnitude) -> `(1, gin, 1)`."""
        if spec.dim() != 3 or spec.size(1) != self.config.spec_channels:
            raise SynthesisError(
                f"reference spectrogram must be (1, {self.config.spec_channels}, frames), "
                f"found {tuple(spec.shape)}"
            )
        return self.ref_enc(spec[:, : self.config.ref_bins])

    @torch.no_grad()
    def decode(
        self,
        codes: Tensor,
        phones: Tensor,
        refer_specs: Sequence[Tensor] | Tensor,
        noise_scale: float = 0.5,
        speed: float = 1.0,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Semantic codes `(n_q, 1, T)` at 25 Hz + phone ids `(1, N)` + reference spectrograms -> audio.

        `refer_specs`: one or more `(1, spec_channels, frames)` spectrograms of the reference voice; their
        speaker embeddings are averaged. `noise_scale` scales the prior's noise (0 = deterministic),
        `speed` > 1 speaks faster. The noise is drawn once, with `torch.randn_like` from the global
        generator (as the reference does, so seeded runs match) unless `generator` is given.
        Returns audio `(1, 1, T' * samples_per_frame)` float in [-1, 1] at `config.sampling_rate`, with
        T' = 2T at speed 1, else `int(2T / speed) + 1`.
        """
        m_p, logs_p, y_mask, ge = self._prior(codes, phones, refer_specs, speed)
        z_p = m_p + _noise(m_p, generator) * torch.exp(logs_p) * noise_scale
        z = self.flow.reverse(z_p, y_mask, ge)
        return self.dec(z * y_mask, ge)

    @torch.no_grad()
    def decode_tail(
        self,
        codes: Tensor,
        phones: Tensor,
        refer_specs: Sequence[Tensor] | Tensor,
        start: int,
        noise_scale: float = 0.5,
        *,
        flow_context: int,
        vocoder_context: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The audio of tokens `start:` of `codes` (at speed 1), for streaming a fragment chunk by chunk.

        The prior sees every token so far, as in `decode`; the flow, whose convolutions reach back about 16
        tokens, runs from `flow_context` tokens before `start`, and the vocoder, which dominates the cost and
        reaches back less, from `vocoder_context` tokens before it. Noise is drawn (once) only for the frames
        the flow runs on. Returns `(1, 1, (T - start) * 2 * samples_per_frame)`.
        """
        m_p, logs_p, y_mask, ge = self._prior(codes, phones, refer_specs, 1.0)
        flow_from = max(0, start - flow_context) * CODE_UPSAMPLE
        vocoder_from = max(0, start - vocoder_context) * CODE_UPSAMPLE
        m_p, logs_p, y_mask = m_p[:, :, flow_from:], logs_p[:, :, flow_from:], y_mask[:, :, flow_from:]
        z_p = m_p + _noise(m_p, generator) * torch.exp(logs_p) * noise_scale
        z = (self.flow.reverse(z_p, y_mask, ge) * y_mask)[:, :, vocoder_from - flow_from :]
        audio = self.dec(z, ge)
        return audio[:, :, (start * CODE_UPSAMPLE - vocoder_from) * self.config.samples_per_frame :]

    def _prior(
        self, codes: Tensor, phones: Tensor, refer_specs: Sequence[Tensor] | Tensor, speed: float
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The prior's mean and log-scale, its mask (each `(1, C, T')`) and the speaker embedding."""
        specs = [refer_specs] if isinstance(refer_specs, Tensor) else list(refer_specs)
        if not specs:
            raise SynthesisError("SoVITS decode needs at least one reference spectrogram")
        if codes.dim() != 3 or phones.dim() != 2:
            raise SynthesisError(
                f"expected codes (n_q, 1, T) and phones (1, N), "
                f"found {tuple(codes.shape)} and {tuple(phones.shape)}"
            )
        ge = torch.stack([self.speaker_embedding(spec) for spec in specs], 0).mean(0)  # (1, gin, 1)

        y_lengths = torch.tensor([codes.size(2) * CODE_UPSAMPLE], dtype=torch.long, device=codes.device)
        text_lengths = torch.tensor([phones.size(-1)], dtype=torch.long, device=phones.device)
        content = self.quantizer.decode(codes)  # (1, 768, T)
        content = F.interpolate(content, size=int(content.shape[-1] * CODE_UPSAMPLE), mode="nearest")
        m_p, logs_p, y_mask = self.enc_p(content, y_lengths, phones, text_lengths, ge, speed)
        return m_p, logs_p, y_mask, ge


def _noise(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like `like`: from `generator`, else torch's global one (`randn_like`, as
    the reference draws it)."""
    if generator is None:
        return torch.randn_like(like)
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
