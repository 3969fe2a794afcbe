"""Building blocks of the SoVITS generator, in dependency order.

Tensors are channels-first: `(B, C, T)`. Masks are `(B, 1, T)` floats of 0/1. Every block reproduces the
reference's arithmetic order exactly (float32 results must match it to ~1e-7), so some expressions that look
simplifiable (dividing before summing, multiplying by all-ones masks) are kept as they are.

Weight-normalised convolutions of the official files (`weight_g`, `weight_v`) are plain convolutions here: the
checkpoint loader folds them once (`fold_weight_norm`), computing exactly what the reference computes on every
forward pass. Training re-attaches weight norm to the same layers (`core.training.weight_norm`).

Dropout modules (rates as in the reference) act in training mode only; in eval mode they are identities, so
inference numerics do not depend on them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

LRELU_SLOPE = 0.1  # leaky ReLU slope inside the vocoder (its final activation uses torch's default 0.01)
LAYER_NORM_EPS = 1e-5
ATTENTION_MASK_FILL = -1e4  # value written into masked attention scores before softmax


def fold_weight_norm(weight_g: Tensor, weight_v: Tensor) -> Tensor:
    """What a `torch.nn.utils.weight_norm(dim=0)` layer computes: `v * g / ||v||` (norm over dims 1..)."""
    return torch._weight_norm(weight_v, weight_g, 0)


def sequence_mask(lengths: Tensor, max_length: int) -> Tensor:
    """`(B,)` lengths -> `(B, max_length)` bool, True inside each sequence."""
    positions = torch.arange(max_length, dtype=lengths.dtype, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def gated_tanh(x: Tensor, n_channels: int) -> Tensor:
    """WaveNet gate: `tanh(first half) * sigmoid(second half)` over channels. `(B, 2C, T)` -> `(B, C, T)`."""
    return torch.tanh(x[:, :n_channels, :]) * torch.sigmoid(x[:, n_channels:, :])


def conv_padding(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding of an odd-sized dilated convolution."""
    return (kernel_size * dilation - dilation) // 2


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of `(B, C, T)` (official key names: `gamma`, `beta`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        x = x.transpose(1, -1)  # (B, T, C)
        x = F.layer_norm(x, (self.channels,), self.gamma, self.beta, LAYER_NORM_EPS)
        return x.transpose(1, -1)


# -- transformer encoder with relative positions -----------------------------------------------------------


class RelativeMultiHeadAttention(nn.Module):
    """Multi-head attention over `(B, C, T)` with 1x1 convolutions as projections.

    With `window_size` set (self-attention only), keys and values get learned relative-position embeddings
    shared by all heads (`emb_rel_k`, `emb_rel_v`: `(1, 2*window+1, C/heads)`), as in VITS.
    """

    def __init__(
        self,
        channels: int,
        out_channels: int,
        n_heads: int,
        window_size: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        if channels % n_heads != 0:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        if window_size is not None:
            n_positions = 2 * window_size + 1
            self.emb_rel_k = nn.Parameter(torch.zeros(1, n_positions, self.k_channels))
            self.emb_rel_v = nn.Parameter(torch.zeros(1, n_positions, self.k_channels))

    def forward(self, x: Tensor, context: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        """x `(B, C, T_q)`, context `(B, C, T_k)`, mask `(B, 1, T_q, T_k)` (0 = masked) -> `(B, C', T_q)`."""
        query, key, value = self.conv_q(x), self.conv_k(context), self.conv_v(context)
        b, d, t_k = key.shape
        t_q = query.size(2)
        query = query.view(b, self.n_heads, self.k_channels, t_q).transpose(2, 3)  # (B, H, T_q, Ck)
        key = key.view(b, self.n_heads, self.k_channels, t_k).transpose(2, 3)
        value = value.view(b, self.n_heads, self.k_channels, t_k).transpose(2, 3)

        query = query / math.sqrt(self.k_channels)
        scores = torch.matmul(query, key.transpose(-2, -1))  # (B, H, T_q, T_k)
        if self.window_size is not None:
            assert t_q == t_k, "relative attention is self-attention only"
            rel_k = self._relative_embeddings(self.emb_rel_k, t_k)  # (1, 2T-1, Ck)
            rel_logits = torch.matmul(query, rel_k.unsqueeze(0).transpose(-2, -1))  # (B, H, T, 2T-1)
            scores = scores + _relative_to_absolute(rel_logits)
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, ATTENTION_MASK_FILL)
        p_attn = self.drop(F.softmax(scores, dim=-1))
        output = torch.matmul(p_attn, value)  # (B, H, T_q, Ck)
        if self.window_size is not None:
            rel_v = self._relative_embeddings(self.emb_rel_v, t_k)
            output = output + torch.matmul(_absolute_to_relative(p_attn), rel_v.unsqueeze(0))
        output = output.transpose(2, 3).contiguous().view(b, d, t_q)  # (B, C, T_q)
        return self.conv_o(output)

    def _relative_embeddings(self, embeddings: Tensor, length: int) -> Tensor:
        """The `2*length-1` embeddings for offsets -(length-1)..(length-1), zero beyond the window."""
        assert self.window_size is not None
        pad = max(length - (self.window_size + 1), 0)
        start = max((self.window_size + 1) - length, 0)
        if pad > 0:
            embeddings = F.pad(embeddings, [0, 0, pad, pad])
        return embeddings[:, start : start + 2 * length - 1]


def _relative_to_absolute(x: Tensor) -> Tensor:
    """`(B, H, L, 2L-1)` logits indexed by relative offset -> `(B, H, L, L)` indexed by absolute position."""
    b, h, length, _ = x.shape
    x = F.pad(x, [0, 1])  # (B, H, L, 2L)
    x_flat = x.reshape(b, h, length * 2 * length)
    x_flat = F.pad(x_flat, [0, length - 1])
    return x_flat.view(b, h, length + 1, 2 * length - 1)[:, :, :length, length - 1 :]


def _absolute_to_relative(x: Tensor) -> Tensor:
    """`(B, H, L, L)` weights by absolute position -> `(B, H, L, 2L-1)` by relative offset."""
    b, h, length, _ = x.shape
    x = F.pad(x, [0, length - 1])  # (B, H, L, 2L-1)
    x_flat = x.reshape(b, h, length**2 + length * (length - 1))
    x_flat = F.pad(x_flat, [length, 0])
    return x_flat.view(b, h, length, 2 * length)[:, :, :, 1:]


class FeedForward(nn.Module):
    """Two 'same'-padded convolutions with ReLU between them, masked. `(B, C, T)` -> `(B, C_out, T)`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        filter_channels: int,
        kernel_size: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.pad = [(kernel_size - 1) // 2, kernel_size // 2]
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, out_channels, kernel_size)

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        x = self.conv_1(F.pad(x * x_mask, self.pad))
        x = self.drop(torch.relu(x))
        x = self.conv_2(F.pad(x * x_mask, self.pad))
        return x * x_mask


class AttentionEncoder(nn.Module):
    """Post-norm transformer encoder (relative self-attention, conv feed-forward): `(B, C, T)` -> same."""

    def __init__(
        self,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        window_size: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.drop = nn.Dropout(dropout)
        self.attn_layers = nn.ModuleList(
            RelativeMultiHeadAttention(hidden_channels, hidden_channels, n_heads, window_size, dropout)
            for _ in range(n_layers)
        )
        self.norm_layers_1 = nn.ModuleList(ChannelLayerNorm(hidden_channels) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(
            FeedForward(hidden_channels, hidden_channels, filter_channels, kernel_size, dropout)
            for _ in range(n_layers)
        )
        self.norm_layers_2 = nn.ModuleList(ChannelLayerNorm(hidden_channels) for _ in range(n_layers))

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)  # (B, 1, T, T)
        x = x * x_mask
        for attn, norm_1, ffn, norm_2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True
        ):
            x = norm_1(x + self.drop(attn(x, x, attn_mask)))
            x = norm_2(x + self.drop(ffn(x, x_mask)))
        return x * x_mask


# -- reference (style) encoder -----------------------------------------------------------------------------


class _Linear(nn.Module):
    """A linear layer stored under `<name>.fc.*` as in the official files."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x)


def mish(x: Tensor) -> Tensor:
    """`x * tanh(softplus(x))`, written out as the reference computes it."""
    return x * torch.tanh(F.softplus(x))


class _Mish(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return mish(x)


class _Conv(nn.Module):
    """A 'same'-padded convolution stored under `<name>.conv.*` as in the official files."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class _ConvGLU(nn.Module):
    """Residual gated convolution: `x + a * sigmoid(b)` with `[a, b] = conv(x)`; `(B, C, T)` -> same."""

    def __init__(self, channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.channels = channels
        self.conv1 = _Conv(channels, 2 * channels, kernel_size)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        a, b = torch.split(self.conv1(x), self.channels, dim=1)
        return x + self.drop(a * torch.sigmoid(b))


class _StyleSelfAttention(nn.Module):
    """Multi-head self-attention over `(B, T, C)` with a residual connection (the style encoder's)."""

    def __init__(self, channels: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.n_heads = n_heads
        self.head_channels = channels // n_heads
        # the reference scales by sqrt(d_model), not sqrt(d_head), computed with pow(x, 0.5)
        self.temperature = float(channels) ** 0.5
        self.w_qs = nn.Linear(channels, channels)
        self.w_ks = nn.Linear(channels, channels)
        self.w_vs = nn.Linear(channels, channels)
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: Tensor, padding: Tensor | None = None) -> Tensor:
        """`padding` `(B, T)` bool, True at padded frames: they are never attended to."""
        b, t, _ = x.shape
        h, dk = self.n_heads, self.head_channels

        def heads(y: Tensor) -> Tensor:  # (B, T, H*dk) -> (H*B, T, dk)
            return y.view(b, t, h, dk).permute(2, 0, 1, 3).contiguous().view(-1, t, dk)

        q, k, v = heads(self.w_qs(x)), heads(self.w_ks(x)), heads(self.w_vs(x))
        attn = torch.bmm(q, k.transpose(1, 2)) / self.temperature  # (H*B, T, T)
        if padding is not None:
            attn = attn.masked_fill(padding.unsqueeze(1).repeat(h, t, 1), -math.inf)
        attn = self.drop(torch.softmax(attn, dim=2))
        out = torch.bmm(attn, v)  # (H*B, T, dk)
        out = out.view(h, b, t, dk).permute(1, 2, 0, 3).contiguous().view(b, t, -1)  # (B, T, C)
        return self.drop(self.fc(out)) + x


class StyleEncoder(nn.Module):
    """Reference-spectrogram encoder (`MelStyleEncoder`): `(B, n_bins, T)` -> embedding `(B, C_out, 1)`.

    Spectral MLP (Linear-Mish x2), two residual gated convolutions, self-attention, a projection, then the
    average over time (computed as the reference does: each frame divided by T, then summed).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        kernel_size: int,
        n_heads: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.spectral = nn.Sequential(  # the dropouts keep the official indices (spectral.0, spectral.3)
            _Linear(in_channels, hidden_channels),
            _Mish(),
            nn.Dropout(dropout),
            _Linear(hidden_channels, hidden_channels),
            _Mish(),
            nn.Dropout(dropout),
        )
        self.temporal = nn.Sequential(
            _ConvGLU(hidden_channels, kernel_size, dropout),
            _ConvGLU(hidden_channels, kernel_size, dropout),
        )
        self.slf_attn = _StyleSelfAttention(hidden_channels, n_heads, dropout)
        self.fc = _Linear(hidden_channels, out_channels)

    def forward(self, spec: Tensor, mask: Tensor | None = None) -> Tensor:
        """`mask` `(B, 1, T)` (training batches of several lengths): padded frames are left out of the
        attention and of the average."""
        x = self.spectral(spec.transpose(1, 2))  # (B, T, H)
        x = self.temporal(x.transpose(1, 2)).transpose(1, 2)  # (B, T, H)
        if mask is None:
            x = self.fc(self.slf_attn(x))  # (B, T, C_out)
            n_frames = torch.full((x.size(0), 1, 1), x.size(1), dtype=torch.long, device=x.device)
            return torch.div(x, n_frames).sum(dim=1).unsqueeze(-1)  # (B, C_out, 1)
        padding = mask.squeeze(1) == 0  # (B, T)
        x = x.masked_fill(padding.unsqueeze(-1), 0)
        x = self.fc(self.slf_attn(x, padding)).masked_fill(padding.unsqueeze(-1), 0)
        n_frames = (~padding).sum(dim=1).view(-1, 1, 1)
        return torch.div(x, n_frames).sum(dim=1).unsqueeze(-1)


# -- WaveNet stack and flow --------------------------------------------------------------------------------


class WaveNet(nn.Module):
    """Non-causal WaveNet (VITS `WN`) with global conditioning. `(B, C, T)`, g `(B, G, 1)` -> `(B, C, T)`."""

    def __init__(
        self, hidden_channels: int, kernel_size: int, dilation_rate: int, n_layers: int, gin_channels: int
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"WaveNet kernel_size must be odd, got {kernel_size}")
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.cond_layer = nn.Conv1d(gin_channels, 2 * hidden_channels * n_layers, 1)
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            dilation = dilation_rate**i
            self.in_layers.append(
                nn.Conv1d(
                    hidden_channels,
                    2 * hidden_channels,
                    kernel_size,
                    dilation=dilation,
                    padding=conv_padding(kernel_size, dilation),
                )
            )
            res_skip_channels = 2 * hidden_channels if i < n_layers - 1 else hidden_channels
            self.res_skip_layers.append(nn.Conv1d(hidden_channels, res_skip_channels, 1))

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor) -> Tensor:
        hidden = self.hidden_channels
        output = torch.zeros_like(x)
        g = self.cond_layer(g)  # (B, 2*C*n_layers, 1)
        for i in range(self.n_layers):
            x_in = self.in_layers[i](x)
            g_l = g[:, i * 2 * hidden : (i + 1) * 2 * hidden, :]
            acts = gated_tanh(x_in + g_l, hidden)
            res_skip = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                x = (x + res_skip[:, :hidden, :]) * x_mask
                output = output + res_skip[:, hidden:, :]
            else:
                output = output + res_skip
        return output * x_mask


class CouplingLayer(nn.Module):
    """Mean-only affine coupling: the second half of the channels is shifted by a WaveNet of the first."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int,
    ) -> None:
        super().__init__()
        if channels % 2 != 0:
            raise ValueError(f"coupling channels must be even, got {channels}")
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = WaveNet(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden_channels, self.half_channels, 1)

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor) -> Tensor:
        """Forward pass (training: posterior latent -> prior space), `(B, C, T)` -> `(B, C, T)`."""
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        h = self.pre(x0) * x_mask
        h = self.enc(h, x_mask, g)
        m = self.post(h) * x_mask
        x1 = m + x1 * x_mask  # mean-only: the reference's exp(logs) is exp(0) = 1
        return torch.cat([x0, x1], 1)

    def reverse(self, x: Tensor, x_mask: Tensor, g: Tensor) -> Tensor:
        """Inverse pass `(B, C, T)` -> `(B, C, T)`."""
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        h = self.pre(x0) * x_mask
        h = self.enc(h, x_mask, g)
        m = self.post(h) * x_mask
        # the reference multiplies by exp(-logs) with logs = 0 (mean-only); exp(0) = 1 exactly
        x1 = (x1 - m) * x_mask
        return torch.cat([x0, x1], 1)


class Flow(nn.Module):
    """`n_flows` coupling layers, each followed by a channel flip. Inference runs it in reverse."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        n_flows: int,
        gin_channels: int,
    ) -> None:
        super().__init__()
        self.couplings = nn.ModuleList(
            CouplingLayer(channels, hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels)
            for _ in range(n_flows)
        )

    def forward(self, z: Tensor, z_mask: Tensor, g: Tensor) -> Tensor:
        """Posterior latent `(B, C, T)` -> prior space: (coupling, flip) per layer (training)."""
        for coupling in self.couplings:
            z = torch.flip(coupling(z, z_mask, g), [1])
        return z

    def reverse(self, z: Tensor, z_mask: Tensor, g: Tensor) -> Tensor:
        """Prior sample `(B, C, T)` -> latent `(B, C, T)`: (flip, inverse coupling), last layer first."""
        for coupling in reversed(self.couplings):
            z = torch.flip(z, [1])
            z = coupling.reverse(z, z_mask, g)
        return z


# -- HiFi-GAN vocoder --------------------------------------------------------------------------------------


def _first_dilations(dilations: tuple[int, ...], count: int, kind: str) -> tuple[int, ...]:
    """The dilations a residual block of type `kind` uses: the first `count` (the reference ignores more)."""
    if len(dilations) < count:
        raise ValueError(
            f"resblock {kind!r} needs {count} dilations per kernel size, got {list(dilations)} "
            "(config model.resblock_dilation_sizes)"
        )
    return tuple(dilations[:count])


class ResBlock1(nn.Module):
    """HiFi-GAN residual block type 1: per dilation, (lrelu, dilated conv, lrelu, conv) + skip.

    Like the reference, it has exactly `N_DILATIONS` = 3 stages: only the first 3 dilations are used.
    """

    N_DILATIONS = 3

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        dilations = _first_dilations(dilations, self.N_DILATIONS, "1")
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=conv_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=conv_padding(kernel_size)) for _ in dilations
        )

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            xt = c1(F.leaky_relu(x, LRELU_SLOPE))
            xt = c2(F.leaky_relu(xt, LRELU_SLOPE))
            x = xt + x
        return x


class ResBlock2(nn.Module):
    """HiFi-GAN residual block type 2: per dilation, (lrelu, dilated conv) + skip.

    Like the reference, it has exactly `N_DILATIONS` = 2 stages: only the first 2 dilations are used (so the
    default `[1, 3, 5]` of `configs/s2.json` builds convolutions with dilation 1 and 3).
    """

    N_DILATIONS = 2

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        dilations = _first_dilations(dilations, self.N_DILATIONS, "2")
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=conv_padding(kernel_size, d))
            for d in dilations
        )

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = conv(F.leaky_relu(x, LRELU_SLOPE)) + x
        return x


class HiFiGANGenerator(nn.Module):
    """Latent `(B, C, T)` + speaker `(B, G, 1)` -> waveform `(B, 1, T * prod(upsample_rates))` in [-1, 1]."""

    def __init__(
        self,
        in_channels: int,
        resblock: str,
        resblock_kernel_sizes: tuple[int, ...],
        resblock_dilation_sizes: tuple[tuple[int, ...], ...],
        upsample_rates: tuple[int, ...],
        upsample_initial_channel: int,
        upsample_kernel_sizes: tuple[int, ...],
        gin_channels: int,
    ) -> None:
        super().__init__()
        block = {"1": ResBlock1, "2": ResBlock2}[resblock]
        self.num_kernels = len(resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(in_channels, upsample_initial_channel, 7, 1, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = upsample_initial_channel
        for i, (rate, kernel) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True)):
            in_ch, channels = upsample_initial_channel // (2**i), upsample_initial_channel // (2 ** (i + 1))
            self.ups.append(nn.ConvTranspose1d(in_ch, channels, kernel, rate, padding=(kernel - rate) // 2))
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(channels, k, tuple(d)))
        self.conv_post = nn.Conv1d(channels, 1, 7, 1, padding=3, bias=False)
        self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        x = self.conv_pre(x) + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            xs = blocks[0](x)
            for block in blocks[1:]:
                xs += block(x)
            x = xs / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # torch's default slope 0.01 here, as the reference
        return torch.tanh(x)
