"""The SoVITS training losses (VITS / HiFi-GAN): least-squares GAN, feature matching, KL of the flow prior.

Each takes the lists the discriminator returns (one entry per sub-discriminator) and computes in float32,
as the reference does under mixed precision.
"""

from __future__ import annotations

import torch
from torch import Tensor


def discriminator_loss(real_scores: list[Tensor], fake_scores: list[Tensor]) -> Tensor:
    """Sum over sub-discriminators of mean((1 - D(real))^2) + mean(D(fake)^2)."""
    loss = torch.zeros((), device=real_scores[0].device)
    for real, fake in zip(real_scores, fake_scores, strict=True):
        loss = loss + torch.mean((1 - real.float()) ** 2) + torch.mean(fake.float() ** 2)
    return loss


def generator_loss(fake_scores: list[Tensor]) -> Tensor:
    """Sum over sub-discriminators of mean((1 - D(fake))^2)."""
    loss = torch.zeros((), device=fake_scores[0].device)
    for fake in fake_scores:
        loss = loss + torch.mean((1 - fake.float()) ** 2)
    return loss


def feature_loss(real_features: list[list[Tensor]], fake_features: list[list[Tensor]]) -> Tensor:
    """2 x the sum of mean |real - fake| over every feature map of every sub-discriminator."""
    loss = torch.zeros((), device=real_features[0][0].device)
    for reals, fakes in zip(real_features, fake_features, strict=True):
        for real, fake in zip(reals, fakes, strict=True):
            loss = loss + torch.mean(torch.abs(real.float().detach() - fake.float()))
    return loss * 2


def kl_loss(z_p: Tensor, logs_q: Tensor, m_p: Tensor, logs_p: Tensor, mask: Tensor) -> Tensor:
    """KL of the posterior sample (through the flow) against the prior, averaged over unmasked frames."""
    z_p, logs_q, m_p, logs_p, mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, mask))
    kl = logs_p - logs_q - 0.5
    kl = kl + 0.5 * ((z_p - m_p) ** 2) * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * mask) / torch.sum(mask)
