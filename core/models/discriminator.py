"""The SoVITS training discriminator (GPT-SoVITS `MultiPeriodDiscriminator`, v2): used by training only.

One scale discriminator over the raw waveform and five period discriminators (periods 2, 3, 5, 7, 11) that
fold the waveform into `(T / p, p)` and convolve along time. Every convolution is weight-normalised, as in the
reference (`use_spectral_norm` is false in every official config), so that the official `s2D*.pth` files
(`weight_g` / `weight_v` per layer) load into it; `core.training.weight_norm` maps the names.

    waveform (B, 1, T) -> per discriminator: score (B, n) and feature maps [(B, C, ...)] * n_layers
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from core.models.modules import LRELU_SLOPE

PERIODS = (2, 3, 5, 7, 11)
PERIOD_KERNEL = 5
PERIOD_STRIDE = 3
PERIOD_CHANNELS = (1, 32, 128, 512, 1024, 1024)
# scale discriminator: (in, out, kernel, stride, groups, padding) per layer
SCALE_LAYERS = (
    (1, 16, 15, 1, 1, 7),
    (16, 64, 41, 4, 4, 20),
    (64, 256, 41, 4, 16, 20),
    (256, 1024, 41, 4, 64, 20),
    (1024, 1024, 41, 4, 256, 20),
    (1024, 1024, 5, 1, 1, 2),
)


def _score(convs: nn.ModuleList, conv_post: nn.Module, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Run the convolution stack: (flattened score, every layer's output)."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        features.append(x)
    x = conv_post(x)
    features.append(x)
    return x.flatten(1, -1), features


class ScaleDiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(i, o, k, s, groups=g, padding=p)) for i, o, k, s, g, p in SCALE_LAYERS
        )
        self.conv_post = weight_norm(nn.Conv1d(1024, 1, 3, 1, padding=1))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        return _score(self.convs, self.conv_post, x)


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int) -> None:
        super().__init__()
        self.period = period
        pad = (PERIOD_KERNEL - 1) // 2
        pairs = list(zip(PERIOD_CHANNELS[:-1], PERIOD_CHANNELS[1:], strict=True))
        self.convs = nn.ModuleList(
            weight_norm(
                nn.Conv2d(
                    c_in,
                    c_out,
                    (PERIOD_KERNEL, 1),
                    (PERIOD_STRIDE if i < len(pairs) - 1 else 1, 1),
                    padding=(pad, 0),
                )
            )
            for i, (c_in, c_out) in enumerate(pairs)
        )
        self.conv_post = weight_norm(nn.Conv2d(PERIOD_CHANNELS[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t += n_pad
        return _score(self.convs, self.conv_post, x.view(b, c, t // self.period, self.period))


class MultiPeriodDiscriminator(nn.Module):
    """Scores real and generated waveforms `(B, 1, T)` with every sub-discriminator."""

    def __init__(self) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            [ScaleDiscriminator(), *(PeriodDiscriminator(p) for p in PERIODS)]
        )

    def forward(
        self, real: Tensor, fake: Tensor
    ) -> tuple[list[Tensor], list[Tensor], list[list[Tensor]], list[list[Tensor]]]:
        """-> scores of real, of fake, feature maps of real, of fake (one entry per sub-discriminator)."""
        real_scores, fake_scores, real_features, fake_features = [], [], [], []
        for disc in self.discriminators:
            score, features = disc(real)
            real_scores.append(score)
            real_features.append(features)
            score, features = disc(fake)
            fake_scores.append(score)
            fake_features.append(features)
        return real_scores, fake_scores, real_features, fake_features
