"""The GPT's optimiser and learning rate, as the reference trains s1.

ScaledAdam (from icefall, used by the reference's `t2s_lightning_module.py`) is Adam whose step for each
weight tensor is proportional to that tensor's own RMS, so every layer changes by about the same relative
amount whatever its scale; it also learns each tensor's overall scale (a scalar per tensor) and clips the
whole update when the gradient norm exceeds `clipping_scale` x the median of recent norms. Written here from
that description and the reference's settings (lr 0.01 at construction, betas (0.9, 0.95), clipping scale 2,
clipping statistics renewed every 1000 steps).

Learning rate: the reference's `WarmupCosineLRSchedule` computes a warm-up and a cosine decay, then
overrides them with a fixed 0.002 on every call (`self.lr = lr = self.end_lr = 0.002`), and Lightning calls
it after each optimiser step, so the first step runs at the optimiser's 0.01 and every later one at 0.002.
`gpt_learning_rate` reproduces that by default; `warmup_steps` > 0 ramps linearly from `S1_LR_INIT` to
0.002 over that many steps instead, for users who want a warm-up.
"""

from __future__ import annotations

import torch
from torch import Tensor

S1_LR_CONSTRUCTED = 0.01  # the optimiser's lr before the schedule first runs (the reference's first step)
S1_LR = 0.002  # what the reference's schedule actually sets for every later step
S1_LR_INIT = 1e-5  # start of an optional warm-up (the reference's config `optimizer.lr_init`)
S1_BETAS = (0.9, 0.95)
S1_CLIPPING_SCALE = 2.0
S1_CLIPPING_PERIOD = 1000


def gpt_learning_rate(step: int, warmup_steps: int = 0, scale: float = 1.0) -> float:
    """The learning rate of optimiser step `step` (0-based)."""
    if warmup_steps > 0:
        rate = S1_LR_INIT + (S1_LR - S1_LR_INIT) * min(step, warmup_steps) / warmup_steps
    else:
        rate = S1_LR_CONSTRUCTED if step == 0 else S1_LR
    return rate * scale


class ScaledAdam(torch.optim.Optimizer):
    def __init__(
        self,
        params,
        lr: float = S1_LR_CONSTRUCTED,
        betas: tuple[float, float] = S1_BETAS,
        clipping_scale: float | None = S1_CLIPPING_SCALE,
        clipping_period: int = S1_CLIPPING_PERIOD,
        scalar_lr_scale: float = 0.1,
        eps: float = 1e-8,
        param_min_rms: float = 1e-5,
        param_max_rms: float = 3.0,
        scalar_max: float = 10.0,
        size_update_period: int = 4,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            scalar_lr_scale=scalar_lr_scale,
            eps=eps,
            param_min_rms=param_min_rms,
            param_max_rms=param_max_rms,
            scalar_max=scalar_max,
            size_update_period=size_update_period,
        )
        super().__init__(params, defaults)
        self.clipping_scale = clipping_scale
        self.clipping_period = clipping_period
        self.recent_norms: list[float] = []
        self.norm_threshold: float | None = None
        self.n_steps = 0

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["clipping"] = {
            "recent_norms": list(self.recent_norms),
            "norm_threshold": self.norm_threshold,
            "n_steps": self.n_steps,
        }
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        clipping = state_dict.pop("clipping", None) or {}
        super().load_state_dict(state_dict)
        self.recent_norms = list(clipping.get("recent_norms", []))
        self.norm_threshold = clipping.get("norm_threshold")
        self.n_steps = int(clipping.get("n_steps", 0))

    def _param_rms(self, p: Tensor, group: dict) -> Tensor:
        rms = (p.detach() ** 2).mean().sqrt()
        return rms.clamp(group["param_min_rms"], group["param_max_rms"])

    def _clip_factor(self) -> float:
        """Scale gradients by min(1, threshold / norm), the norm measured in units of each tensor's RMS."""
        if self.clipping_scale is None:
            return 1.0
        total = 0.0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                rms = state["param_rms"] if p.numel() > 1 and "param_rms" in state else 1.0
                total += float(((p.grad * rms) ** 2).sum())
        norm = total**0.5
        self.recent_norms = (self.recent_norms + [norm])[-self.clipping_period :]
        if self.n_steps % self.clipping_period == 0 or self.norm_threshold is None:
            median = sorted(self.recent_norms)[len(self.recent_norms) // 2]
            self.norm_threshold = self.clipping_scale * median
        return min(1.0, self.norm_threshold / (norm + 1e-20))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201 - torch.optim.Optimizer's signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        clip = self._clip_factor()
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad * clip
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["delta"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    if p.numel() > 1:
                        state["param_rms"] = self._param_rms(p, group)
                        state["scale_grads"] = torch.zeros(group["size_update_period"], device=p.device)
                        state["scale_exp_avg_sq"] = torch.zeros((), device=p.device)
                step = state["step"]
                delta = state["delta"]
                if p.numel() > 1:
                    period = group["size_update_period"]
                    state["scale_grads"][step % period] = (p * grad).sum()
                    if step % period == period - 1:
                        self._update_scale(p, state, group, step)
                        state["param_rms"] = self._param_rms(p, group)
                    rate = lr * state["param_rms"]
                else:
                    rate = lr * group["scalar_lr_scale"]
                exp_avg_sq = state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (exp_avg_sq / (1 - beta2 ** (step + 1))).sqrt().add_(eps)
                delta.mul_(beta1).add_(grad / denom * (-(1 - beta1) * rate))
                if p.numel() == 1:
                    p.clamp_(-group["scalar_max"], group["scalar_max"])
                p.add_(delta)
                state["step"] = step + 1
        self.n_steps += 1
        return loss

    def _update_scale(self, p: Tensor, state: dict, group: dict, step: int) -> None:
        """Learn the tensor's overall scale: a step along p itself, from the summed grad . p of the period."""
        period = group["size_update_period"]
        beta1, beta2 = group["betas"]
        scale_grads = state["scale_grads"]
        state["scale_exp_avg_sq"].mul_(beta2**period).add_((scale_grads**2).sum() * (1 - beta2**period))
        n_updates = step // period + 1
        correction = 1 - beta2 ** (period * n_updates)
        denom = (state["scale_exp_avg_sq"] / correction).sqrt() + group["eps"]
        size_lr = group["lr"] * group["scalar_lr_scale"]
        scale_step = -size_lr * scale_grads.sum() / denom
        rms = (p.detach() ** 2).mean().sqrt()
        if rms < group["param_min_rms"]:
            scale_step = torch.full_like(scale_step, size_lr * period)
        elif rms > group["param_max_rms"]:
            scale_step = torch.full_like(scale_step, -size_lr * period)
        state["delta"].add_(p * scale_step, alpha=1 - beta1)
