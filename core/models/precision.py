"""Lower-precision inference weights (`--precision fp32|bf16|int8`) and the quality check that gates them.

fp32 is the exact path: nothing is converted, so `--reference-compat` stays bit-compatible with the reference.
The fast modes replace every `nn.Linear` of T2S, BERT and HuBERT (where nearly all of their bytes are: T2S
reads its 77.6M weights, 310 MB in fp32, once per generated token) by a `LowPrecisionLinear`, and run
SoVITS's vocoder (nine tenths of SoVITS's time, all of it convolutions) in bf16 (`Bfloat16Module`):

- bf16: weights stored in bfloat16 (2 bytes), input rounded to bfloat16, product accumulated in fp32.
- int8: T2S's weights in int8 with one symmetric scale per output channel (1 byte), through fbgemm's packed
  dynamic-quantized linear (`quantized::linear_dynamic`: each call quantizes its input to 8 bits per tensor,
  multiplies int8 by int8 with VNNI and rescales to fp32). Where the CPU has AVX512-VNNI, `convert_t2s`
  instead gives those weights to Timbre's own kernel (`core.models.int8_decode`: each input row quantized on
  its own, a whole decode step in one call; no fbgemm copy is made), which took a full-size decode token
  from 11.6 to 4.5 ms at two threads, prefill and sampling included (README, Speed). BERT, HuBERT and the
  vocoder run in bf16 (`ENCODER_PRECISION`). Measured per decode token of the full-size T2S (one thread, CPU
  time, this Zen 4 CPU, torch 2.9): the 96 linear layers take 27 ms in fp32, 20.5 ms in bf16, 12.0 ms
  through ATen's weight-only `_weight_int8pack_mm` (bf16 input; used before 2026-12-06) and 7.5-8 ms through
  fbgemm. For the encoders, which run 30-250 positions at once, bf16 is the better trade: int8 was faster
  still for BERT (0.08 s against 0.16 s for 30 characters) but its features drifted 5.5% from fp32, past the
  threshold below; bf16 drifts 0.8%. The vocoder in bf16: 2.7 -> 1.35 s for 5 s of audio (one thread), 48 dB
  SNR against fp32; its convolutions run channels-last (`Bfloat16Conv`): the full-size v2 SoVITS then
  decodes 5 s in 0.69 s instead of 0.84 s at two threads (same run), its SNR unchanged.

Only the matrix products, the vocoder and HuBERT's convolutions (`convert_convolutions`: 0.59 -> 0.47 s for
a 5 s clip at one thread, features 0.57% -> 0.98% off) change: biases are added in fp32, outputs are
returned in the input's dtype, and layer norms, softmax, attention and T2S's KV cache stay fp32, so the
decode loop is the same code in every mode (the int8 kernel's step computes those same operations in C++,
its softmax with a polynomial exp good to about one unit in the last place).

Memory: the fast modes load BERT and HuBERT converted layer by layer from their weights files
(`core.models._hf.load_model`; converting a loaded fp32 BERT held all 1.3 GB of it at once). Peak resident
memory of one Chinese request with full-size models (bench/memory.py, GiB, 2026-12-06, with the channels-last
vocoder): fp32 3.04, bf16 2.23, int8 2.11 (2.19 on 2026-12-07, the same model code; 2.19 with the int8
kernel, whose weights replace fbgemm's); before the
layer-by-layer loading (and the bf16 vocoder) 3.09, 2.97 and 2.93. The issue's goal for the default mode is
2.5 GB (2.33 GiB).

Quality check (`t2s_drift`), on full-size random-weight models (bench/synthesis.py) and the tiny fixture
models (tests/test_precision.py). No real weights can be downloaded here, so these thresholds bound the
*numeric drift* of a mode against fp32, not voice quality:

- logits' relative error ||l - l_fp32|| / ||l_fp32||, teacher-forced on the fp32 decode's tokens (so the
  two runs see the same inputs): ≤ `MAX_LOGIT_REL_ERROR` (5%). One bf16 rounding of an activation is a
  0.4% relative error, one int8 weight row about 0.5%; measured per linear layer: 0.8-0.9%. Through 24
  post-norm layers these add up like independent errors (√24 × 0.9% ≈ 4.4%) when nothing amplifies them; a
  mode above 5% amplifies errors somewhere and is rejected.
- teacher-forced greedy agreement: the share of decode steps whose argmax equals fp32's, ≥
  `MIN_TOP1_AGREEMENT` (0.95). A flip only happens where fp32's top two logits are closer than the drift;
  a trained model samples from its top 15 anyway (top_k=15), so a rare flip between near-equal
  candidates is within what sampling does, while more than one step in 20 would mean the mode changes
  which tokens are likely. A free-running greedy decode (`free_agreement`, the share of positions equal
  to fp32's) is reported too, but not gated: after the first flip the two runs decode different sequences,
  so one early flip between near-equal candidates scores as a total loss.
- BERT and HuBERT features' relative error against fp32: ≤ `MAX_FEATURE_REL_ERROR` (5%), the same bound
  as the logits and for the same reason (24 and 12 layers of ~1% errors each). BERT's features enter T2S
  through a projection added to the phone embedding, HuBERT's pick the prompt's nearest codebook entries.
- SoVITS's noise-free waveform against fp32's (`sovits_snr_db`): ≥ `MIN_SOVITS_SNR_DB` (25 dB). One bf16
  rounding is a 2^-9 relative error (-54 dB); the vocoder chains about 45 convolutions, whose errors add and
  which random weights amplify: measured 48 dB on the full-size v2 vocoder with random weights, 29-30 dB on
  the tiny fixture models (whose last layers have 2-4 channels, so nothing averages the rounding out). The
  bound leaves room for that while failing a mode that breaks the waveform (a wrong cast, a saturating
  kernel: well under 20 dB). It bounds drift, not voice quality: SoVITS's own prior noise (noise_scale 0.5)
  changes the waveform far more from one seed to the next.

Measured (bench/synthesis.py, bench/precision_check.py, 2026-12-06): full-size random-weight models, int8
logits 1.61% off, greedy agreement 1.000 over 200 tokens, BERT 0.81% and HuBERT 1.00% off, SoVITS 45.6 dB;
a tiny pair fine-tuned here on espeak-ng speech (`python -m core train`: GPT 12 epochs, SoVITS 4), int8
0.35% and bf16 0.20% off, agreement 1.000, and a greedy, noise-free request decoded the same tokens as fp32,
its audio at 42.3 dB SNR. With the int8 kernel (2026-12-07): full-size logits 1.59% off, agreement 1.000,
and on another fine-tuned pair (GPT 12 epochs, SoVITS 2) int8 0.56% and bf16 0.27% off, the same tokens,
37.0 dB. So `--precision auto`, the default,
is int8 where it was measured (CPUs with AVX512-BF16; `core.settings.default_precision`), fp32 elsewhere
and for reference-compat work. `bench/precision_check.py` repeats the check on a user's own weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from core.models import int8_decode
from core.settings import BF16, FP32, INT8

if TYPE_CHECKING:
    from core.models.t2s import T2SModel
    from core.synthesis import Synthesizer

MAX_LOGIT_REL_ERROR = 0.05
"""Largest teacher-forced relative logit error a fast mode may show against fp32 (see the docstring)."""
MAX_FEATURE_REL_ERROR = 0.05
"""Largest relative error of BERT or HuBERT features against fp32 (see the docstring)."""
MIN_TOP1_AGREEMENT = 0.95
"""Smallest share of teacher-forced decode steps whose greedy token must equal fp32's."""
MIN_SOVITS_SNR_DB = 25.0
"""Smallest SNR of a fast mode's SoVITS waveform against fp32's (see the docstring)."""
_INT8_MAX = 127
# Activations are quantized to 7 bits instead of 8 unless the CPU has VNNI: without it fbgemm's u8 x s8 pair
# sums can saturate int16 (the usual `reduce_range`); with it the full range halves the error (measured
# per layer: 1.6% -> 0.9% relative).
_INT8_REDUCE_RANGE = not torch._C._cpu._is_avx512_vnni_supported()
# fbgemm's dynamic int8 linear, called without `torch.ops`' Python-side check: for an op that takes a packed
# (TorchBind) argument, each `torch.ops.quantized.linear_dynamic(...)` first walks its arguments with
# pytree looking for fake script objects (only present while tracing), measured 14 us of a 36 us call on a
# 512 x 512 layer here, 1.4 ms of every T2S decode token. `_op` is the same C++ operator; the public packet
# is the fallback should a torch release drop the attribute.
_linear_dynamic_int8 = getattr(torch.ops.quantized.linear_dynamic, "_op", torch.ops.quantized.linear_dynamic)


ENCODER_PRECISION = {FP32: FP32, BF16: BF16, INT8: BF16}
"""What BERT, HuBERT and SoVITS's vocoder run in under each `--precision` (see the module docstring for why
int8 -> bf16)."""


def describe(precision: str) -> str:
    """One line for start-up output: which weights the user's numbers come from."""
    if precision == FP32:
        return "precision fp32 (exact: the reference's numbers)"
    capability = torch.backends.cpu.get_cpu_capability()
    kernel = ""
    if precision == INT8:
        kernel = (
            " (its decode steps through Timbre's VNNI kernel, compiled once on first use)"
            if int8_decode.can_run()
            else " (through fbgemm: this CPU has no AVX512-VNNI for Timbre's decode kernel)"
        )
    return (
        f"precision {precision}: T2S linear layers in {precision}{kernel}; BERT, HuBERT and SoVITS's vocoder "
        f"in {ENCODER_PRECISION[precision]} (CPU {capability}); results drift slightly from fp32"
    )


def quantize_int8(weight: torch.Tensor) -> torch.Tensor:
    """The int8 mode's weights: (out, in) float -> a qint8 tensor with one symmetric scale per output row
    (the row's largest magnitude maps to 127). Both int8 paths, fbgemm's and the kernel's, take these."""
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / _INT8_MAX  # (out,)
    zero_points = torch.zeros_like(scale, dtype=torch.long)
    return torch.quantize_per_channel(weight, scale.double(), zero_points, 0, torch.qint8)


class LowPrecisionLinear(nn.Module):
    """A frozen `nn.Linear` whose weight is bf16 or int8 (per-output-channel scale); see the module docstring.

    x (..., in_features) float -> (..., out_features) in x's dtype. Inference only: it holds buffers (bf16)
    or a packed int8 weight (int8), no parameters.
    """

    def __init__(self, linear: nn.Linear, precision: str) -> None:
        super().__init__()
        if precision not in (BF16, INT8):
            raise ValueError(f"LowPrecisionLinear: precision {precision!r}; use {BF16} or {INT8}")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.precision = precision
        weight = linear.weight.detach().float()  # (out, in)
        bias = None if linear.bias is None else linear.bias.detach().float().clone()
        if precision == INT8:
            # fbgemm's packed layout (its own copy): the weight and bias live there, not in buffers
            self.packed = torch.ops.quantized.linear_prepack(quantize_int8(weight), bias)
            self.packed_bytes = weight.numel() + (0 if bias is None else 4 * bias.numel())
            self.register_buffer("weight_q", None)
            self.register_buffer("bias", None)
        else:
            self.register_buffer("weight_q", weight.to(torch.bfloat16).contiguous())
            self.register_buffer("bias", bias)
            self.packed_bytes = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.precision == INT8 and x.dtype == torch.float32:
            # fbgemm takes any leading shape: the reshapes and casts below cost ~0.5 ms per T2S decode token
            return _linear_dynamic_int8(x, self.packed, _INT8_REDUCE_RANGE)  # + bias
        flat = x.reshape(-1, self.in_features)  # (N, in)
        if self.precision == INT8:
            y = _linear_dynamic_int8(flat.float(), self.packed, _INT8_REDUCE_RANGE)  # + bias
        else:
            y = F.linear(flat.to(torch.bfloat16), self.weight_q).float()
            if self.bias is not None:
                y = y + self.bias
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)  # (..., out)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, {self.precision}"


def convert_linears(module: nn.Module, precision: str) -> nn.Module:
    """Replace every `nn.Linear` inside `module` (in place) by a `LowPrecisionLinear`; fp32 changes nothing.

    Returns `module`, in eval mode when converted (the converted layers cannot train).
    """
    if precision == FP32:
        return module
    return _convert(module, lambda linear: LowPrecisionLinear(linear, precision))


def convert_t2s(model: T2SModel, precision: str) -> T2SModel:
    """`convert_linears` for a T2S model, except in int8 on a CPU where the kernel of
    `core.models.int8_decode` loads: there every linear layer becomes a `KernelLinear` (the same int8
    weights, `quantize_int8`, in the kernel's layout) and a decode step one kernel call. Returns `model`."""
    on_cpu = model.audio_embedding.weight.device.type == "cpu"
    extension = int8_decode.load_extension() if precision == INT8 and on_cpu else None
    if extension is None:
        return convert_linears(model, precision)
    _convert(
        model, lambda linear: int8_decode.KernelLinear(extension, quantize_int8(linear.weight), linear.bias)
    )
    model.int8_step = int8_decode.Int8DecodeStep(extension, model)
    return model


def _convert(module: nn.Module, make: Callable[[nn.Linear], nn.Module]) -> nn.Module:
    """Replace every `nn.Linear` inside `module` by `make(linear)`, in place; returns it in eval mode."""
    _replace_children(module, nn.Linear, make)
    # What stays fp32 (embeddings, norms) may still live in the weights file's memory map (transformers maps
    # safetensors): owning copies let the map, and the fp32 pages the conversion read, go.
    for child in module.modules():
        if not isinstance(child, LowPrecisionLinear):  # converted weights are new tensors already
            for tensor in (*child.parameters(recurse=False), *child.buffers(recurse=False)):
                tensor.data = tensor.data.clone()
    return module.eval()


def _replace_children(
    module: nn.Module,
    kind: type[nn.Module] | tuple[type[nn.Module], ...],
    make: Callable[[nn.Module], nn.Module],
) -> None:
    """Replace every submodule of type `kind` inside `module` (in place) by `make(submodule)`."""
    for name, child in list(module.named_children()):
        if isinstance(child, kind):
            setattr(module, name, make(child))
        else:
            _replace_children(child, kind, make)


class Bfloat16Module(nn.Module):
    """`module` with bf16 weights, run on bf16 copies of its float inputs; its output comes back float32.

    Convolutions inside run as oneDNN's bf16 kernels (AVX512-BF16 dot products, fp32 accumulation).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module.to(torch.bfloat16).eval()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.module(*(x.to(torch.bfloat16) for x in inputs)).float()


class Bfloat16Conv(nn.Module):
    """A frozen `nn.Conv1d` or `nn.ConvTranspose1d` run as oneDNN's bf16 2-D convolution on a channels-last
    (B, C, 1, T) view of its input.

    x (B, C_in, T) bf16 -> (B, C_out, T_out) bf16. oneDNN's channels-last bf16 kernels are faster here than
    its (B, C, T) ones for the vocoder's shapes (measured per convolution, 2 threads: 1.1x for 256 channels,
    1.3x for 128, 1.5-1.9x for 64-16 channels over 40-160k samples; the whole v2 vocoder 0.78 -> 0.61 s for
    5 s of audio, 1.27x), and give the same numbers up to fp32 accumulation order. The output stays in that
    layout (strides (T*C, 1, C)): elementwise operations keep it, so the next such convolution reads it
    without a copy.
    """

    def __init__(self, conv: nn.Conv1d | nn.ConvTranspose1d) -> None:
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(f"Bfloat16Conv: {conv} pads other than with explicit zeros; not supported")
        self.transposed = isinstance(conv, nn.ConvTranspose1d)
        weight = (
            conv.weight.detach().to(torch.bfloat16).unsqueeze(2)
        )  # (out, in, 1, k); transposed: (in, out, 1, k)
        self.register_buffer("weight", weight.contiguous(memory_format=torch.channels_last))
        bias = None if conv.bias is None else conv.bias.detach().to(torch.bfloat16).clone()
        self.register_buffer("bias", bias)
        self.stride, self.padding, self.dilation = (
            (1, conv.stride[0]),
            (0, conv.padding[0]),
            (1, conv.dilation[0]),
        )
        self.output_padding = (0, conv.output_padding[0]) if self.transposed else (0, 0)
        self.groups = conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(2).contiguous(
            memory_format=torch.channels_last
        )  # (B, C, 1, T): a view once in layout
        if self.transposed:
            y = F.conv_transpose2d(
                x,
                self.weight,
                self.bias,
                self.stride,
                self.padding,
                self.output_padding,
                self.groups,
                self.dilation,
            )
        else:
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return y.squeeze(2)  # (B, C_out, T_out)


def convert_vocoder(sovits: nn.Module, precision: str) -> nn.Module:
    """Put a SoVITS model's vocoder (`dec`, nine tenths of its decode time) in `ENCODER_PRECISION[precision]`,
    in place: bf16 runs its convolutions as `Bfloat16Conv`s. The rest of SoVITS stays fp32. Returns
    `sovits`."""
    if ENCODER_PRECISION[precision] == BF16 and not isinstance(sovits.dec, Bfloat16Module):
        _replace_children(sovits.dec, (nn.Conv1d, nn.ConvTranspose1d), Bfloat16Conv)
        sovits.dec = Bfloat16Module(sovits.dec)
    return sovits


def convert_convolutions(module: nn.Module, precision: str) -> nn.Module:
    """Wrap every `nn.Conv1d` inside `module` (HuBERT's waveform encoder and positional convolution) in a
    `Bfloat16Module` when `ENCODER_PRECISION[precision]` is bf16, in place. Returns `module`."""
    if ENCODER_PRECISION[precision] == BF16:
        _replace_children(module, nn.Conv1d, Bfloat16Module)
    return module


def convert_synthesizer(synth: Synthesizer, precision: str) -> Synthesizer:
    """Convert a loaded fp32 synthesizer's T2S, BERT, HuBERT and SoVITS vocoder in place; returns it. (A
    synthesizer loaded to be fast is loaded converted: `Synthesizer.from_files(precision=...)`.)"""
    convert_t2s(synth.t2s.model, precision)
    for module in (synth.bert.model, synth.hubert.model):
        convert_linears(module, ENCODER_PRECISION[precision])
    convert_convolutions(synth.hubert.model, precision)
    convert_vocoder(synth.sovits.model, precision)
    return synth


def weights_bytes(module: nn.Module) -> int:
    """Bytes of a module's parameters, buffers and packed int8 weights."""
    tensors = sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))
    return tensors + sum(getattr(m, "packed_bytes", 0) for m in module.modules())


# ----- quality check -------------------------------------------------------------------------------------


def relative_error(new: torch.Tensor, reference: torch.Tensor) -> float:
    """||new - reference|| / ||reference|| over all elements (both float, same shape)."""
    new, reference = new.detach().float(), reference.detach().float()
    return float((new - reference).norm() / reference.norm())


def sovits_snr_db(
    reference: nn.Module, converted: nn.Module, codes: torch.Tensor, phones: torch.Tensor, spec: torch.Tensor
) -> float:
    """SNR in dB of `converted`'s noise-free SoVITS decode against `reference`'s (fp32) on the same inputs.

    codes (1, 1, T) semantic codes, phones (1, N) phone ids, spec (1, spec_channels, frames).
    """
    exact = reference.decode(codes, phones, [spec], noise_scale=0.0).double()
    fast = converted.decode(codes, phones, [spec], noise_scale=0.0).double()
    return float(10 * torch.log10(exact.pow(2).sum() / (fast - exact).pow(2).sum().clamp_min(1e-30)))


@dataclass(frozen=True)
class T2SDrift:
    """How far a converted T2S decodes from fp32 (see the module docstring for what each figure means)."""

    logit_rel_error: float
    top1_agreement: float
    free_agreement: float
    steps: int

    @property
    def passes(self) -> bool:
        return self.logit_rel_error <= MAX_LOGIT_REL_ERROR and self.top1_agreement >= MIN_TOP1_AGREEMENT

    def summary(self) -> str:
        verdict = "passes" if self.passes else "FAILS"
        return (
            f"logits rel. error {self.logit_rel_error:.4f} (max {MAX_LOGIT_REL_ERROR}), greedy agreement "
            f"{self.top1_agreement:.3f} (min {MIN_TOP1_AGREEMENT}), free-running "
            f"{self.free_agreement:.3f} of {self.steps} tokens: {verdict}"
        )


@torch.inference_mode()
def _greedy_decode(
    model: nn.Module,
    phones: torch.Tensor,
    bert: torch.Tensor,
    prompt: torch.Tensor,
    steps: int,
    forced: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens (steps,) and logits (steps, V - 1) of a decode that never stops (the EOS column is dropped).

    Each step feeds back its greedy token, or `forced[i]` when `forced` (steps,) is given (teacher forcing,
    so two models see the same inputs). Uses the model's own prefill / transformer / KV cache.
    """
    from core.models.t2s import T2SDecodeSettings

    eos = model.config.eos
    state = model.prefill([phones], [bert], prompt, T2SDecodeSettings(max_steps=steps))
    tokens, rows = torch.empty(steps, dtype=torch.long), []
    for i in range(steps):
        state.cache.reserve(state.inputs.shape[1])
        h = model.transformer(state.inputs, state.allowed, state.cache)  # (1, T, C)
        rows.append(model.lm_head(h[:, -1]).float()[0, :eos])  # (V - 1,)
        tokens[i] = rows[-1].argmax() if forced is None else forced[i]
        # from now on each query is the newest token: it sees every earlier key and itself
        allowed = state.allowed[:, :, -1:, :] if i == 0 else state.allowed
        state.allowed = F.pad(allowed, (0, 1), value=True)
        state.inputs = model.embed_audio(tokens[None, i : i + 1], prompt.shape[1] + i)  # (1, 1, C)
    return tokens, torch.stack(rows)


def t2s_drift(
    reference: nn.Module,
    converted: nn.Module,
    phones: torch.Tensor,
    bert: torch.Tensor,
    prompt: torch.Tensor,
    steps: int = 200,
) -> T2SDrift:
    """Compare a converted T2S model with its fp32 original over a greedy decode of `steps` tokens.

    phones (T,) int64, bert (1024, T) float32, prompt (1, T_prompt) int64 semantic codes.
    """
    ref_tokens, ref_logits = _greedy_decode(reference, phones, bert, prompt, steps)
    free_tokens, _ = _greedy_decode(converted, phones, bert, prompt, steps)
    _, new_logits = _greedy_decode(converted, phones, bert, prompt, steps, forced=ref_tokens)
    return T2SDrift(
        logit_rel_error=relative_error(new_logits, ref_logits),
        top1_agreement=float((new_logits.argmax(dim=-1) == ref_tokens).float().mean()),
        free_agreement=float((free_tokens == ref_tokens).float().mean()),
        steps=steps,
    )
