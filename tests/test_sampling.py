"""Sampling functions on logits: each is pure and does what GPT-SoVITS's sampler does."""

import math

import torch

from core.models.sampling import (
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    logits_to_probs,
    sample_exponential,
)


def test_repetition_penalty_scales_seen_tokens_towards_zero_without_touching_input() -> None:
    logits = torch.tensor([[2.0, -2.0, 1.0, -1.0, 0.5]])
    before = logits.clone()
    out = apply_repetition_penalty(logits, torch.tensor([[0, 1, 1, 4]]), 2.0)
    assert torch.equal(logits, before)
    assert torch.equal(out, torch.tensor([[1.0, -4.0, 1.0, -1.0, 0.25]]))


def test_repetition_penalty_of_one_or_no_history_is_identity() -> None:
    logits = torch.randn(2, 7)
    assert torch.equal(apply_repetition_penalty(logits, torch.tensor([[1], [2]]), 1.0), logits)
    assert torch.equal(apply_repetition_penalty(logits, torch.zeros(2, 0, dtype=torch.long), 1.35), logits)


def test_repetition_penalty_is_per_row() -> None:
    logits = torch.ones(2, 3)
    out = apply_repetition_penalty(logits, torch.tensor([[0], [2]]), 4.0)
    assert torch.equal(out, torch.tensor([[0.25, 1.0, 1.0], [1.0, 1.0, 0.25]]))


def test_top_p_keeps_smallest_prefix_within_mass_and_always_the_best() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    out = apply_top_p(logits, 0.85)
    assert torch.isfinite(out[0, :2]).all()
    assert torch.isinf(out[0, 2:]).all()
    tiny = apply_top_p(logits, 0.1)  # even the best token alone exceeds 0.1: it is kept
    assert torch.isfinite(tiny[0, 0]) and torch.isinf(tiny[0, 1:]).all()
    assert torch.equal(apply_top_p(logits, 1.0), logits)


def test_top_k_keeps_k_largest_per_row() -> None:
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0], [9.0, 0.0, 1.0, 2.0]])
    out = apply_top_k(logits, 2)
    assert torch.equal(
        torch.isfinite(out), torch.tensor([[False, True, False, True], [True, False, False, True]])
    )
    assert torch.equal(apply_top_k(logits, None), logits)
    assert torch.equal(apply_top_k(logits, 0), logits)
    assert torch.equal(apply_top_k(logits, 100), logits)


def test_temperature_divides_and_zero_is_clamped() -> None:
    logits = torch.tensor([[1.0, -2.0]])
    assert torch.equal(apply_temperature(logits, 0.5), torch.tensor([[2.0, -4.0]]))
    assert torch.isfinite(apply_temperature(logits, 0.0)).all()


def test_logits_to_probs_applies_top_p_before_temperature_and_top_k() -> None:
    logits = torch.log(torch.tensor([[0.4, 0.3, 0.2, 0.1]]))
    probs = logits_to_probs(logits, top_k=3, top_p=0.75, temperature=2.0)
    # top-p on the untempered distribution keeps 0.4 and 0.3 (0.7 <= 0.75); then temperature 2
    kept = torch.tensor([0.4, 0.3]).sqrt()
    assert torch.allclose(probs[0, :2], kept / kept.sum(), atol=1e-6) and torch.all(probs[0, 2:] == 0)
    # tempering first would have let 0.3 through at top_p=0.65; the reference filters first: only 0.4 left
    greedy = logits_to_probs(logits, top_k=3, top_p=0.65, temperature=2.0)
    assert torch.equal(greedy, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-6)


def test_top_k_one_makes_sampling_greedy_whatever_the_noise() -> None:
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(1))
    probs = logits_to_probs(logits, top_k=1, top_p=1.0, temperature=1.0)
    for seed in range(5):
        tokens = sample_exponential(probs, torch.Generator().manual_seed(seed))
        assert tokens.shape == (4, 1) and tokens.dtype == torch.int64
        assert torch.equal(tokens[:, 0], logits.argmax(-1))


def test_sampling_uses_one_exponential_draw_shaped_like_probs() -> None:
    probs = torch.softmax(torch.randn(3, 11, generator=torch.Generator().manual_seed(2)), -1)
    tokens = sample_exponential(probs, torch.Generator().manual_seed(7))
    q = torch.empty(3, 11).exponential_(1, generator=torch.Generator().manual_seed(7))
    assert torch.equal(tokens[:, 0], torch.argmax(probs / q, dim=-1))
    torch.manual_seed(3)
    first = sample_exponential(probs)
    torch.manual_seed(3)
    assert torch.equal(sample_exponential(probs), first)


def test_exponential_race_samples_the_distribution() -> None:
    probs = torch.tensor([[0.7, 0.2, 0.1]]).expand(20000, -1).contiguous()
    tokens = sample_exponential(probs, torch.Generator().manual_seed(0))[:, 0]
    freq = torch.bincount(tokens, minlength=3).float() / tokens.numel()
    assert torch.allclose(freq, torch.tensor([0.7, 0.2, 0.1]), atol=0.02)
