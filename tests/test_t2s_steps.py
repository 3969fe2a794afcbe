"""T2S decoding driven one step at a time: prefill / step / finish, the on_step callback, cancellation.

Uses the tiny official-format model and inputs of the conformance T2S cases.
"""

from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from core.models.t2s import T2SDecodeSettings, T2SModel
from tests.test_t2s_conformance import _Inputs, _load_case, _model


class _Cancelled(Exception):
    pass


@pytest.fixture(scope="module")
def tiny(conformance_dir: Path) -> tuple[T2SModel, _Inputs, int]:
    """The conformance T2S model, the `_t2s_inputs` texts and the model's early-stop budget."""
    case_dir = conformance_dir / "cases" / "t2s_sampling_rng"
    case, inputs = _load_case(case_dir)
    loaded = _model(case_dir, case)
    return loaded.model, inputs, loaded.config.early_stop_num


def _batch(inputs: _Inputs) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    items = [inputs.item(i) for i in range(inputs.n_texts)]
    return [p for p, _ in items], [b for _, b in items]


def test_manual_prefill_step_finish_equals_generate_detailed(tiny) -> None:
    model, inputs, early_stop = tiny
    phones, bert = _batch(inputs)
    prompt = inputs.prompt[None]
    settings = T2SDecodeSettings(
        top_k=5, top_p=0.8, temperature=0.9, early_stop_num=early_stop, record_logits=20
    )
    seed = 20251105
    expected = model.generate_detailed(
        phones, bert, prompt, generator=torch.Generator().manual_seed(seed), **asdict(settings)
    )

    state = model.prefill(phones, bert, prompt, settings, generator=torch.Generator().manual_seed(seed))
    n_steps = 0
    while model.step(state):
        n_steps += 1
    out = model.finish(state)

    assert n_steps + 1 == state.step == max(expected.stop_steps) + 1
    assert len(set(expected.stop_steps)) > 1  # rows stopped at different steps: rows were dropped mid-way
    assert out.stop_steps == expected.stop_steps
    for name in ("tokens", "full", "step_logits"):
        for got, want in zip(getattr(out, name), getattr(expected, name), strict=True):
            assert torch.equal(got, want), name


def test_on_step_is_called_once_per_step_with_running_counts_not_increasing(tiny) -> None:
    model, inputs, early_stop = tiny
    phones, bert = _batch(inputs)
    calls: list[tuple[int, int]] = []
    single = model.generate_detailed(
        phones[:1],
        bert[:1],
        inputs.prompt[None],
        top_k=1,
        early_stop_num=early_stop,
        on_step=lambda step, n_running: calls.append((step, n_running)),
    )
    assert len(calls) == single.stop_steps[0] + 1
    assert calls == [(i, 1) for i in range(len(calls) - 1)] + [(len(calls) - 1, 0)]

    calls.clear()
    batched = model.generate_detailed(
        phones,
        bert,
        inputs.prompt[None],
        top_k=1,
        early_stop_num=early_stop,
        on_step=lambda step, n_running: calls.append((step, n_running)),
    )
    counts = [n for _, n in calls]
    assert [s for s, _ in calls] == list(range(max(batched.stop_steps) + 1))
    assert counts == sorted(counts, reverse=True) and counts[0] <= len(phones) and counts[-1] == 0
    for stop in batched.stop_steps:  # a row counts as running up to its stop step
        assert sum(1 for s in batched.stop_steps if s > stop) == counts[stop]


def test_on_step_exception_stops_decoding_and_propagates(tiny) -> None:
    model, inputs, early_stop = tiny
    phones, bert = _batch(inputs)
    calls: list[int] = []

    def cancel_at_step_3(step: int, n_running: int) -> None:
        calls.append(step)
        if step == 3:
            raise _Cancelled

    with pytest.raises(_Cancelled):
        model.generate(
            phones, bert, inputs.prompt[None], top_k=1, early_stop_num=early_stop, on_step=cancel_at_step_3
        )
    assert calls == [0, 1, 2, 3]


def test_one_at_a_time_on_step_counts_steps_per_item(tiny) -> None:
    model, inputs, _ = tiny
    phones, bert = _batch(inputs)
    calls: list[int] = []
    out = model.generate_detailed(
        phones[:2],
        bert[:2],
        None,
        top_k=1,
        early_stop_num=12,
        on_step=lambda step, n_running: calls.append(step),
    )
    assert calls == [s for stop in out.stop_steps for s in range(stop + 1)]


def test_step_after_the_last_row_stopped_and_early_finish_are_rejected(tiny) -> None:
    model, inputs, _ = tiny
    phones, bert = _batch(inputs)
    state = model.prefill(phones[:1], bert[:1], inputs.prompt[None], T2SDecodeSettings(top_k=1, max_steps=3))
    assert model.step(state)
    with pytest.raises(ValueError, match="still running"):
        model.finish(state)
    while model.step(state):
        pass
    with pytest.raises(ValueError, match="every row has finished"):
        model.step(state)
    assert model.finish(state).stop_steps == [2]
    with pytest.raises(ValueError, match="one item per state"):
        model.prefill(phones, bert, None)
