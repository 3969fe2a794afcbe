"""The int8 decode kernel (core/models/int8_decode.cpp): the same products and attention as the layer-by-layer
int8 path, so a decode through it stays within the quality check's thresholds against fp32."""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from core.checkpoints.s1 import load_t2s
from core.models import int8_decode
from core.models.precision import (
    MAX_LOGIT_REL_ERROR,
    MIN_TOP1_AGREEMENT,
    LowPrecisionLinear,
    convert_linears,
    convert_t2s,
    quantize_int8,
    relative_error,
    t2s_drift,
    weights_bytes,
)
from core.models.t2s import KVCache, T2SConfig, T2SModel
from core.settings import INT8

pytestmark = pytest.mark.skipif(
    not torch._C._cpu._is_avx512_vnni_supported(), reason="the kernel needs AVX512-VNNI"
)


@pytest.fixture(scope="module")
def fixture_t2s(conformance_dir: Path) -> T2SModel:
    return load_t2s(
        next((conformance_dir / "models" / "pretrained" / "gsv-v2final-pretrained").glob("*.ckpt"))
    ).model


def test_the_kernel_builds_and_runs_every_int8_layer(fixture_t2s):
    assert int8_decode.load_extension() is not None
    model = convert_t2s(copy.deepcopy(fixture_t2s), INT8)
    assert isinstance(model.int8_step, int8_decode.Int8DecodeStep)
    # every linear layer, the output head and BERT projection included, reads the kernel's one copy
    assert not any(isinstance(m, (nn.Linear, LowPrecisionLinear)) for m in model.modules())
    fbgemm = convert_linears(copy.deepcopy(fixture_t2s), INT8)  # the plain conversion: fbgemm, no kernel
    assert fbgemm.int8_step is None
    assert weights_bytes(fbgemm) < weights_bytes(model) <= 1.1 * weights_bytes(fbgemm)  # + row sums, padding


# (rows, in, out): the full-size layers; inputs and outputs that fill no whole group of 4 or block of 16;
# an odd number of 4-input groups (20 = 5 groups) and more rows than one tile of 4
@pytest.mark.parametrize("shape", [(1, 512, 1536), (3, 512, 2048), (6, 2048, 512), (5, 30, 45), (9, 20, 33)])
def test_kernel_products_match_float_products_within_int8_rounding(shape):
    rows, n_in, n_out = shape
    torch.manual_seed(0)
    linear = nn.Linear(n_in, n_out)
    kernel = int8_decode.KernelLinear(int8_decode.load_extension(), quantize_int8(linear.weight), linear.bias)
    x = torch.randn(rows, n_in)
    x[0] = x[0].abs()  # a row with no negative value: zero point 0
    expected = linear(x).detach()
    y = kernel(x)
    assert y.shape == (rows, n_out) and y.dtype == torch.float32
    assert 0 < relative_error(y, expected) < 0.015
    # each row is quantized on its own: a row's result does not depend on the rows beside it
    assert torch.equal(kernel(x[1:2]), y[1:2])
    assert kernel(x.view(1, rows, n_in).to(torch.bfloat16)).shape == (1, rows, n_out)  # any leading shape
    x[-1, 3] = float("nan")  # a NaN comes out as NaN, as from a float product, and stays in its row
    y = kernel(x)
    assert y[-1].isnan().all() and not y[:-1].isnan().any()


def test_a_decode_through_the_kernel_stays_within_the_drift_thresholds(fixture_t2s, t2s_inputs):
    kernel = convert_t2s(copy.deepcopy(fixture_t2s), INT8)
    layer_by_layer = convert_linears(copy.deepcopy(fixture_t2s), INT8)
    drift = t2s_drift(fixture_t2s, kernel, *t2s_inputs, steps=200)
    assert drift.logit_rel_error <= MAX_LOGIT_REL_ERROR and drift.top1_agreement >= MIN_TOP1_AGREEMENT, (
        drift.summary()
    )
    assert drift.logit_rel_error > 0
    # and it is close to the layer-by-layer int8 path, which quantizes activations per batch, not per row
    between = t2s_drift(layer_by_layer, kernel, *t2s_inputs, steps=200)
    assert between.logit_rel_error < 0.5 * MAX_LOGIT_REL_ERROR and between.top1_agreement >= 0.98


def _random_cache(config: T2SConfig, batch: int, length: int) -> KVCache:
    head_dim = config.hidden_dim // config.n_head
    cache = KVCache.allocate(
        config.n_layer, batch, config.n_head, length + 8, head_dim, torch.device("cpu"), torch.float32
    )
    for buffer in (*cache.keys, *cache.values):
        buffer.normal_()
    cache.length = length
    return cache


def test_a_kernel_step_equals_the_layers_step_with_padding_masked(fixture_t2s):
    torch.manual_seed(0)
    config = fixture_t2s.config
    model = convert_t2s(copy.deepcopy(fixture_t2s), INT8)
    batch, length = 3, 37
    x = torch.randn(batch, 1, config.hidden_dim)
    allowed = torch.ones(batch, 1, 1, length + 1, dtype=torch.bool)
    allowed[1, ..., :5] = False  # left padding of a shorter text
    allowed[2, ..., :12] = False
    cache = _random_cache(config, batch, length)
    for buffer in (*cache.keys, *cache.values):
        buffer[1, :, :5] = 1e4  # padding holds anything: masked, it must not count
        buffer[2, :, :12] = -1e4
    layers_cache = copy.deepcopy(cache)

    fast = model.transformer(x, allowed, cache)
    model.int8_step = None
    slow = model.transformer(x, allowed, layers_cache)
    assert cache.length == layers_cache.length == length + 1
    assert relative_error(fast, slow) < 0.03
    for mine, theirs in zip(
        (*cache.keys, *cache.values), (*layers_cache.keys, *layers_cache.values), strict=True
    ):
        assert relative_error(mine[:, :, length], theirs[:, :, length]) < 0.05  # the new key and value
        assert torch.equal(mine[:, :, :length], theirs[:, :, :length])  # the rest untouched


def test_rows_decode_the_same_alone_and_in_a_batch(fixture_t2s):
    torch.manual_seed(1)
    config = fixture_t2s.config
    model = convert_t2s(copy.deepcopy(fixture_t2s), INT8)
    batch = 6  # more than one tile of 4 rows
    x = torch.randn(batch, 1, config.hidden_dim)
    cache = _random_cache(config, batch, 20)
    allowed = torch.ones(batch, 1, 1, 21, dtype=torch.bool)
    together = model.transformer(x, allowed, copy.deepcopy(cache))
    for row in (1, 5):
        alone = KVCache(
            [k[row : row + 1].clone() for k in cache.keys],
            [v[row : row + 1].clone() for v in cache.values],
            20,
        )
        assert torch.equal(model.transformer(x[row : row + 1], allowed[:1], alone), together[row : row + 1])


def test_the_studio_can_build_the_kernel_before_its_first_request():
    thread = int8_decode.build_in_background()
    thread.join(timeout=300)
    assert not thread.is_alive() and int8_decode.load_extension() is not None


def test_a_build_lock_left_by_a_build_cut_off_is_removed(tmp_path):
    # cpp_extension waits without a limit while its lock file exists; one left by a killed build must go
    lock = tmp_path / "lock"
    lock.write_text("")
    long_ago = time.time() - 2 * int8_decode.STALE_LOCK_SECONDS
    os.utime(lock, (long_ago, long_ago))
    int8_decode._clear_stale_lock(tmp_path)
    assert not lock.exists()
    int8_decode._clear_stale_lock(tmp_path)  # no lock: returns at once
