"""T2S (GPT s1) against the reference's outputs: greedy, batched, seeded sampling, training loss.

Cases are found through the conformance manifest by kind, and everything (model file, seeds, sampling
settings, buckets) is read from each case.json, so other cases of the same kinds run unchanged.
"""

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from core.checkpoints.s1 import LoadedT2S, load_t2s
from core.models.t2s import KV_CACHE_CHUNK, T2SConfig, T2SModel, text_then_causal_mask
from tests.conftest import manifest_entries


def _case_ids(kind: str) -> list[str]:
    return [entry["dir"] for entry in manifest_entries(kind)]


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> LoadedT2S:
    return load_t2s(path)


def _model(case_dir: Path, case: dict) -> LoadedT2S:
    return _load((case_dir / case["model"]).resolve())


def _call_arg(call: str, name: str, default: float) -> float:
    """A numeric keyword argument as written in case.json's `call` text (e.g. `top_k=5`)."""
    match = re.search(rf"\b{name}=([0-9.]+)", call)
    return float(match.group(1)) if match else default


class _Inputs:
    """`_t2s_inputs`: prompt phones/BERT/codes and the target texts, combined as TTS.to_batch does."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.prompt_phones = np.load(folder / "prompt_phones.npy").reshape(-1)
        self.prompt_bert = np.load(folder / "prompt_bert.npy").astype(np.float32)
        self.prompt = torch.from_numpy(np.load(folder / "prompt_semantic.npy")).long()
        self.n_texts = len(json.loads((folder / "inputs.json").read_text())["texts"])

    def item(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        phones = np.concatenate(
            [self.prompt_phones, np.load(self.folder / f"text{i}_phones.npy").reshape(-1)]
        )
        bert = np.concatenate(
            [self.prompt_bert, np.load(self.folder / f"text{i}_bert.npy").astype(np.float32)], 1
        )
        return torch.from_numpy(phones).long(), torch.from_numpy(bert)


def _load_case(case_dir: Path) -> tuple[dict, _Inputs]:
    case = json.loads((case_dir / "case.json").read_text())
    return case, _Inputs((case_dir / case["inputs_dir"]).resolve())


def _text_index(case: dict) -> int:
    """Which target text a single-item case used (`"all_phones": "prompt_phones + text0_phones"`)."""
    match = re.search(r"text(\d+)_phones", case.get("inputs", {}).get("all_phones", ""))
    return int(match.group(1)) if match else 0


def _sampling(case: dict, loaded: LoadedT2S) -> dict:
    call = case["call"]
    return dict(
        top_k=int(_call_arg(call, "top_k", 1)),
        top_p=_call_arg(call, "top_p", 1.0),
        temperature=_call_arg(call, "temperature", 1.0),
        repetition_penalty=_call_arg(call, "repetition_penalty", 1.35),
        early_stop_num=loaded.config.early_stop_num,
    )


@pytest.mark.parametrize("case_rel", _case_ids("t2s_greedy"))
def test_greedy_decode_matches_reference_tokens_and_logits(conformance_dir: Path, case_rel: str) -> None:
    case_dir = conformance_dir / case_rel
    case, inputs = _load_case(case_dir)
    loaded = _model(case_dir, case)
    phones, bert = inputs.item(_text_index(case))
    out = loaded.model.generate_detailed(
        [phones], [bert], inputs.prompt[None], record_logits=3, **_sampling(case, loaded)
    )
    y_full = np.load(case_dir / "y_full.npy")
    np.testing.assert_array_equal(out.full[0].numpy(), y_full)
    assert out.stop_steps[0] == int(np.load(case_dir / "idx.npy")[0])
    np.testing.assert_array_equal(out.tokens[0].numpy(), np.load(case_dir / "generated.npy"))
    ref_logits = np.load(case_dir / "logits_first3.npy")
    assert np.abs(out.step_logits[0].numpy() - ref_logits).max() <= 1e-4
    # The reference's unbatched loop (infer_panel_naive) gives the same result: so does ours with B=1.
    np.testing.assert_array_equal(out.full[0].numpy(), np.load(case_dir / "naive_y.npy"))
    assert out.stop_steps[0] == int(np.load(case_dir / "naive_idx.npy")[0])
    assert np.abs(out.step_logits[0].numpy() - np.load(case_dir / "naive_logits_first3.npy")).max() <= 1e-4


@pytest.mark.parametrize("case_rel", _case_ids("t2s_batch"))
def test_batched_decode_with_left_padding_matches_reference_per_item(
    conformance_dir: Path, case_rel: str
) -> None:
    case_dir = conformance_dir / case_rel
    case, inputs = _load_case(case_dir)
    loaded = _model(case_dir, case)
    items = [inputs.item(i) for i in range(inputs.n_texts)]
    checked = 0
    for bucket in case["batch_index_list"]:
        phones = [items[i][0] for i in bucket]
        bert = [items[i][1] for i in bucket]
        max_len = max(max(p.shape[0] for p in phones), max(b.shape[1] for b in bert))
        out = loaded.model.generate_detailed(
            phones,
            bert,
            inputs.prompt[None].expand(len(bucket), -1),
            max_len=max_len,
            **_sampling(case, loaded),
        )
        plain = loaded.model.generate(
            phones, bert, inputs.prompt[None], max_len=max_len, **_sampling(case, loaded)
        )
        for row, i in enumerate(bucket):
            np.testing.assert_array_equal(out.full[row].numpy(), np.load(case_dir / f"item{i}_y_full.npy"))
            np.testing.assert_array_equal(
                out.tokens[row].numpy(), np.load(case_dir / f"item{i}_generated.npy")
            )
            np.testing.assert_array_equal(plain[row].numpy(), out.tokens[row].numpy())
            checked += 1
    for entry in case.get("per_item", []):
        bucket = case["batch_index_list"][entry["bucket"]]
        assert entry["item"] in bucket
    assert checked == sum(len(b) for b in case["batch_index_list"])


@pytest.mark.parametrize("case_rel", _case_ids("t2s_sampling_rng"))
def test_seeded_sampling_reproduces_reference_tokens(conformance_dir: Path, case_rel: str) -> None:
    case_dir = conformance_dir / case_rel
    case, inputs = _load_case(case_dir)
    loaded = _model(case_dir, case)
    phones, bert = inputs.item(_text_index(case))
    torch.manual_seed(int(case["seed"]))
    out = loaded.model.generate_detailed([phones], [bert], inputs.prompt[None], **_sampling(case, loaded))
    np.testing.assert_array_equal(out.full[0].numpy(), np.load(case_dir / "y_full.npy"))
    assert out.stop_steps[0] == int(np.load(case_dir / "idx.npy")[0])

    # An explicit generator seeded alike gives the same tokens and leaves the global RNG alone.
    generator = torch.Generator().manual_seed(int(case["seed"]))
    torch.manual_seed(0)
    before = torch.get_rng_state()
    again = loaded.model.generate(
        [phones], [bert], inputs.prompt[None], generator=generator, **_sampling(case, loaded)
    )
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(again[0].numpy(), out.tokens[0].numpy())


def _loss_cases() -> list[str]:
    return _case_ids("t2s_loss")


@pytest.mark.parametrize("case_rel", _loss_cases())
def test_training_loss_and_top3_accuracy_match_reference(conformance_dir: Path, case_rel: str) -> None:
    case_dir = conformance_dir / case_rel
    case = json.loads((case_dir / "case.json").read_text())
    loaded = _model(case_dir, case)
    phones = torch.from_numpy(np.load(case_dir / "phoneme_ids.npy"))
    phone_lens = torch.from_numpy(np.load(case_dir / "phoneme_ids_len.npy"))
    codes = torch.from_numpy(np.load(case_dir / "semantic_ids.npy"))
    code_lens = torch.from_numpy(np.load(case_dir / "semantic_ids_len.npy"))
    inputs_dir = case_dir / "../_t2s_inputs"
    bert = torch.zeros(phones.shape[0], 1024, int(phone_lens.max()))
    for i in range(phones.shape[0]):
        item = torch.from_numpy(np.load(inputs_dir / f"text{i}_bert.npy").astype(np.float32))
        bert[i, :, : item.shape[1]] = item
    with torch.no_grad():
        loss, acc = loaded.model.loss(phones, phone_lens, codes, code_lens, bert)
    ref_loss = float(np.load(case_dir / "loss.npy"))
    assert abs(loss.item() - ref_loss) <= 1e-4 * abs(ref_loss)
    assert abs(acc - float(np.load(case_dir / "acc.npy"))) <= 1e-6


def _small_model(eos_logit_zero: bool) -> T2SModel:
    config = T2SConfig(
        embedding_dim=32, hidden_dim=32, n_head=4, n_layer=2, vocab_size=129, phoneme_vocab_size=60, eos=128
    )
    torch.manual_seed(5)
    model = T2SModel(config).eval()
    if eos_logit_zero:  # EOS logit 0 while the best other logit is positive: decoding never stops early
        with torch.no_grad():
            model.lm_head.weight[config.eos] = 0
    return model


def test_kv_cache_decode_equals_full_recompute_beyond_cache_growth() -> None:
    model = _small_model(eos_logit_zero=True)
    steps = KV_CACHE_CHUNK + 40
    phones, bert = torch.randint(0, 60, (11,)), torch.randn(1024, 11)
    prompt = torch.randint(0, 128, (1, 6))
    out = model.generate_detailed(
        [phones], [bert], prompt, top_k=1, repetition_penalty=1.0, max_steps=steps, record_logits=steps
    )
    assert out.stop_steps[0] == steps - 1 and out.tokens[0].shape == (steps - 1,)
    # Recompute every position at once, without cache, and compare the logits of each decode step.
    tokens = out.full[0][None]  # (1, 6 + steps - 1)
    with torch.no_grad():
        x = model.embed_text(phones[None], bert[None])
        y = model.embed_audio(tokens, 0)
        allowed = text_then_causal_mask(x.shape[1], y.shape[1], "cpu")[None, None]
        h = model.transformer(torch.cat([x, y], 1), allowed)
        logits = model.lm_head(h[0, x.shape[1] + prompt.shape[1] - 1 :])  # (steps, V)
    assert torch.allclose(out.step_logits[0], logits, atol=1e-4)


def test_batch_rows_stop_independently_and_keep_input_order() -> None:
    model = _small_model(eos_logit_zero=False)
    phones = [torch.randint(0, 60, (n,)) for n in (7, 12, 4)]
    bert = [torch.randn(1024, p.shape[0]) for p in phones]
    prompt = torch.randint(0, 128, (1, 5))
    batched = model.generate_detailed(phones, bert, prompt, top_k=1, early_stop_num=30)
    for i in range(3):
        single = model.generate_detailed([phones[i]], [bert[i]], prompt, top_k=1, early_stop_num=30)
        assert torch.equal(batched.tokens[i], single.tokens[0])
        assert batched.stop_steps[i] == single.stop_steps[0] <= 30
        assert torch.equal(batched.full[i][: prompt.shape[1]], prompt[0])


def test_prompt_free_decoding_returns_only_generated_tokens() -> None:
    model = _small_model(eos_logit_zero=False)
    phones = [torch.randint(0, 60, (n,)) for n in (7, 3)]
    bert = [torch.randn(1024, p.shape[0]) for p in phones]
    out = model.generate_detailed(phones, bert, None, top_k=1, early_stop_num=20)
    for i in range(2):
        # (a budget stop keeps its last sampled token here, as infer_panel_naive: up to 21 tokens)
        assert torch.equal(out.full[i], out.tokens[i]) and 0 < out.tokens[i].shape[0] <= 21


def test_one_at_a_time_budget_stop_keeps_the_reference_naive_tokens() -> None:
    """infer_panel_naive keeps the last sample on a budget stop and TTS.run takes y[-idx:] (with a prompt)
    or all of y (without): the batched path's tokens shifted by one, or one token more."""
    model = _small_model(eos_logit_zero=True)  # never stops on EOS
    phones = [torch.randint(0, 60, (9,)), torch.randint(0, 60, (5,))]
    bert = [torch.randn(1024, p.shape[0]) for p in phones]
    prompt = torch.randint(0, 128, (1, 6))
    kwargs = dict(top_k=1, repetition_penalty=1.0, early_stop_num=15)
    batched = model.generate_detailed(phones, bert, prompt, **kwargs)
    naive = model.generate_detailed(phones, bert, prompt, one_at_a_time=True, **kwargs)
    for i in range(2):
        assert batched.stop_steps[i] == naive.stop_steps[i] == 15
        assert batched.tokens[i].shape == naive.tokens[i].shape == (15,)
        assert torch.equal(naive.full[i][:-1], batched.full[i])  # same samples, the last one kept
        assert torch.equal(naive.tokens[i], naive.full[i][-15:])  # y[-idx:]: the first sample dropped
    free = model.generate_detailed(phones[:1], bert[:1], None, **kwargs)
    assert free.tokens[0].shape == (16,) and torch.equal(free.tokens[0], free.full[0])
    # On an EOS stop both paths agree.
    stopping = _small_model(eos_logit_zero=False)
    a = stopping.generate_detailed(phones, bert, prompt, top_k=1, early_stop_num=200)
    b = stopping.generate_detailed(phones, bert, prompt, top_k=1, early_stop_num=200, one_at_a_time=True)
    assert min(a.stop_steps) < 200
    for i in range(2):
        if a.stop_steps[i] < 200:
            assert torch.equal(a.tokens[i], b.tokens[i]) and torch.equal(a.full[i], b.full[i])


def test_fractional_early_stop_budget_is_accepted() -> None:
    model = _small_model(eos_logit_zero=True)
    phones, bert = [torch.randint(0, 60, (5,))], [torch.randn(1024, 5)]
    out = model.generate_detailed(phones, bert, torch.randint(0, 128, (1, 4)), top_k=1, early_stop_num=12.5)
    assert out.stop_steps == [12] and out.tokens[0].shape == (12,)
