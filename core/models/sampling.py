"""Turning T2S logits into the next semantic token: pure functions on logits, then one random draw.

All functions take logits of shape (B, V) (V = vocab_size, or vocab_size - 1 while EOS is still masked)
and return new tensors; nothing is changed in place. The order GPT-SoVITS uses, and that
`logits_to_probs` follows, is: repetition penalty -> top-p -> temperature -> top-k -> softmax. The draw
(`sample_exponential`) is the "exponential race": argmax(probs / q) with q ~ Exponential(1), which samples
from `probs` exactly and consumes the random generator like the reference (one `exponential_` on a
tensor shaped like `probs`).
"""

import torch

MIN_TEMPERATURE = 1e-5
"""Temperatures are clamped to at least this before dividing (a temperature of 0 means greedy)."""


def apply_repetition_penalty(logits: torch.Tensor, previous: torch.Tensor, penalty: float) -> torch.Tensor:
    """Discourage tokens that already occurred.

    Args:
        logits: (B, V) float.
        previous: (B, L) integer tokens seen so far (the prompt included); every id must be < V.
        penalty: > 1 discourages repeats; 1.0 returns the logits unchanged.

    Returns:
        (B, V): at every previous token, a negative logit is multiplied by `penalty`, a non-negative one
        divided by it; other entries are unchanged.
    """
    if penalty == 1.0 or previous.shape[1] == 0:
        return logits
    index = previous.long()
    seen = torch.gather(logits, dim=1, index=index)  # (B, L)
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)
    return logits.scatter(dim=1, index=index, src=seen)


def apply_top_p(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering: keep the most likely tokens whose cumulative probability stays <= `top_p`.

    The most likely token is always kept. `top_p >= 1` keeps everything. Returns (B, V) with removed
    entries set to -inf.
    """
    if top_p >= 1.0:
        return logits
    sorted_logits, sorted_index = torch.sort(logits, descending=True)  # (B, V) each
    cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
    drop_sorted = cumulative > top_p
    drop_sorted[:, 0] = False
    drop = drop_sorted.scatter(dim=1, index=sorted_index, src=drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide by the temperature (clamped to `MIN_TEMPERATURE`). Returns (B, V)."""
    return logits / max(temperature, MIN_TEMPERATURE)


def apply_top_k(logits: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Keep the `top_k` largest logits (ties with the k-th are kept), set the rest to -inf.

    `top_k` None or <= 0 keeps everything. Returns (B, V).
    """
    if top_k is None or top_k <= 0:
        return logits
    values, _ = torch.topk(logits, min(top_k, logits.shape[-1]))  # (B, k)
    pivot = values[:, -1:]  # (B, 1)
    return torch.where(logits < pivot, float("-inf"), logits)


def logits_to_probs(
    logits: torch.Tensor,
    *,
    top_k: int | None,
    top_p: float,
    temperature: float,
) -> torch.Tensor:
    """Top-p, temperature and top-k (in the reference's order), then softmax.

    The repetition penalty is applied before this, with `apply_repetition_penalty`, because the decoder
    also tests the penalised logits for EOS. Returns probabilities (B, V).
    """
    logits = apply_top_p(logits, top_p)
    logits = apply_temperature(logits, temperature)
    logits = apply_top_k(logits, top_k)
    return torch.softmax(logits, dim=-1)


def sample_exponential(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token per row from `probs` (B, V): argmax(probs / q), q ~ Exponential(1).

    Consumes the generator (or torch's default one for `probs.device`) once, for a tensor shaped like
    `probs`. Returns (B, 1) int64 token ids.
    """
    q = torch.empty_like(probs).exponential_(1, generator=generator)
    return torch.argmax(probs / q, dim=-1, keepdim=True).long()
