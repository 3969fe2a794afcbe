// One T2S decode step (every layer, one new position per batch row) with int8 weights, in one call.
//
// Why: at one new position per row the 24 post-norm layers of the full-size T2S are ~250 small PyTorch
// operations per token, each with its own dispatch and thread fork, and fbgemm's int8 products reach about
// half of this CPU's memory bandwidth on matrices this small. Here each layer is: int8 q/k/v product, the
// new key/value written into the KV cache, attention over the cache, int8 output product, residual + layer
// norm, int8 fc1 + ReLU, int8 fc2, residual + layer norm; the linear layers read their weights in a layout
// made for AVX512-VNNI (`vpdpbusd`: 16 output rows x 4 inputs per 64-byte load, no horizontal sums).
//
// Numerics (core/models/int8_decode.py says how they were checked): weights are int8 with one symmetric scale
// per output row, as `core.models.precision` quantizes them; each activation row is quantized to uint8 with
// its own scale and zero point (fbgemm quantizes the whole batch with one), so a row decodes the same
// whether or not other rows share its batch. Attention, layer norms and the cache are fp32.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#ifndef __AVX512VNNI__
#error "int8_decode needs a CPU with AVX512-VNNI (built with -march=native)"
#endif

namespace {

constexpr int64_t kBlockRows = 16;  // output rows per 64-byte load
constexpr int64_t kGroup = 4;       // inputs per vpdpbusd lane
constexpr int64_t kMaxBatchTile = 4;

int64_t round_up(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// A linear layer in the VNNI layout: weight (n_pad / 16, k_pad / 4, 16, 4) int8, zero-padded.
struct Int8Linear {
  at::Tensor packed;
  at::Tensor scale;    // (n) float: weight scale per output row
  at::Tensor bias;     // (n) float
  at::Tensor row_sum;  // (n_pad) int32: sum of each row's int8 weights, for the activations' zero point
  int64_t n = 0, k = 0, n_pad = 0, k_pad = 0;

  Int8Linear(const at::Tensor& weight, const at::Tensor& weight_scale, const at::Tensor& bias_) {
    TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == at::kChar, "int8 weight (out, in) expected");
    auto w = weight.contiguous();
    n = w.size(0);
    k = w.size(1);
    // int32 sums of k products of at most 255 * 127 each
    TORCH_CHECK(k <= (int64_t{1} << 16), "int8 linear: ", k, " inputs would overflow its int32 sums");
    n_pad = round_up(n, kBlockRows);
    k_pad = round_up(k, kGroup);
    packed = at::zeros({n_pad * k_pad}, at::kChar);
    row_sum = at::zeros({n_pad}, at::kInt);
    const int8_t* src = w.data_ptr<int8_t>();
    int8_t* dst = packed.data_ptr<int8_t>();
    int32_t* sums = row_sum.data_ptr<int32_t>();
    for (int64_t row = 0; row < n; ++row) {
      const int64_t block = row / kBlockRows, lane = row % kBlockRows;
      for (int64_t col = 0; col < k; ++col) {
        const int64_t group = col / kGroup, within = col % kGroup;
        dst[((block * (k_pad / kGroup) + group) * kBlockRows + lane) * kGroup + within] = src[row * k + col];
        sums[row] += src[row * k + col];
      }
    }
    scale = weight_scale.to(at::kFloat).contiguous();
    bias = bias_.defined() ? bias_.to(at::kFloat).contiguous() : at::zeros({n}, at::kFloat);
    TORCH_CHECK(scale.numel() == n && bias.numel() == n, "int8 linear: scale/bias size mismatch");
  }
};

// Activation rows quantized to uint8: q = round(x / scale) + zero_point, per row.
struct QuantizedRows {
  std::vector<uint8_t> values;  // (rows, k_pad)
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
};

void quantize_rows(const float* x, int64_t rows, int64_t k, int64_t k_pad, QuantizedRows& out) {
  out.values.assign(rows * k_pad, 0);
  out.scale.resize(rows);
  out.zero_point.resize(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * k;
    float lo = 0.f, hi = 0.f;  // the range always holds 0, so 0 is exact
    bool finite = true;
    for (int64_t i = 0; i < k; ++i) {
      lo = std::min(lo, row[i]);
      hi = std::max(hi, row[i]);
      finite = finite && std::isfinite(row[i]);
    }
    if (!finite) {  // NaN or inf in: NaN out, as a float product would give, rather than plausible numbers
      out.scale[r] = std::numeric_limits<float>::quiet_NaN();
      out.zero_point[r] = 0;
      continue;
    }
    float scale = (hi - lo) / 255.f;
    if (!(scale > 0.f)) scale = 1.f;  // an all-zero row
    const int32_t zero_point = std::clamp(static_cast<int32_t>(std::nearbyint(-lo / scale)), 0, 255);
    const float inverse = 1.f / scale;
    uint8_t* q = out.values.data() + r * k_pad;
    for (int64_t i = 0; i < k; ++i) {
      q[i] = static_cast<uint8_t>(std::clamp(static_cast<int32_t>(std::nearbyint(row[i] * inverse)) + zero_point, 0, 255));
    }
    out.scale[r] = scale;
    out.zero_point[r] = zero_point;
  }
}

// acc[b][lane] = sum over inputs of x[b] * weight row (block * 16 + lane), for NB rows of x.
template <int NB>
inline void dot_block(const int8_t* weights, const uint8_t* x, int64_t k_pad, int32_t* acc_out) {
  __m512i even[NB], odd[NB];
  for (int b = 0; b < NB; ++b) even[b] = odd[b] = _mm512_setzero_si512();
  const int64_t groups = k_pad / kGroup;
  int64_t g = 0;
  for (; g + 1 < groups; g += 2) {  // two accumulators: the chain of vpdpbusd on one register is the bound
    const __m512i w0 = _mm512_loadu_si512(weights + g * 64);
    const __m512i w1 = _mm512_loadu_si512(weights + (g + 1) * 64);
    for (int b = 0; b < NB; ++b) {
      int32_t x0, x1;
      std::memcpy(&x0, x + b * k_pad + g * kGroup, 4);
      std::memcpy(&x1, x + b * k_pad + (g + 1) * kGroup, 4);
      even[b] = _mm512_dpbusd_epi32(even[b], _mm512_set1_epi32(x0), w0);
      odd[b] = _mm512_dpbusd_epi32(odd[b], _mm512_set1_epi32(x1), w1);
    }
  }
  for (; g < groups; ++g) {
    const __m512i w0 = _mm512_loadu_si512(weights + g * 64);
    for (int b = 0; b < NB; ++b) {
      int32_t x0;
      std::memcpy(&x0, x + b * k_pad + g * kGroup, 4);
      even[b] = _mm512_dpbusd_epi32(even[b], _mm512_set1_epi32(x0), w0);
    }
  }
  for (int b = 0; b < NB; ++b) _mm512_storeu_si512(acc_out + b * kBlockRows, _mm512_add_epi32(even[b], odd[b]));
}

// y (rows, n) = x (rows, k) @ W^T + bias, optionally followed by ReLU, from x already quantized into `q`.
// Called by every thread of a parallel region: each takes a share of the 16-row blocks (`omp for`, whose end
// is a barrier).
void int8_linear(const Int8Linear& layer, const QuantizedRows& q, int64_t rows, float* y, bool relu) {
  const int8_t* packed = layer.packed.data_ptr<int8_t>();
  const float* scale = layer.scale.data_ptr<float>();
  const float* bias = layer.bias.data_ptr<float>();
  const int32_t* row_sum = layer.row_sum.data_ptr<int32_t>();
  const int64_t n = layer.n, k_pad = layer.k_pad, blocks = layer.n_pad / kBlockRows;
  alignas(64) int32_t acc[kMaxBatchTile * kBlockRows];
#pragma omp for schedule(static)
  for (int64_t block = 0; block < blocks; ++block) {
    const int8_t* w = packed + block * kBlockRows * k_pad;
    for (int64_t b0 = 0; b0 < rows; b0 += kMaxBatchTile) {
      const int64_t tile = std::min(kMaxBatchTile, rows - b0);
      const uint8_t* xq = q.values.data() + b0 * k_pad;
      switch (tile) {
        case 1: dot_block<1>(w, xq, k_pad, acc); break;
        case 2: dot_block<2>(w, xq, k_pad, acc); break;
        case 3: dot_block<3>(w, xq, k_pad, acc); break;
        default: dot_block<4>(w, xq, k_pad, acc); break;
      }
      for (int64_t b = 0; b < tile; ++b) {
        const float x_scale = q.scale[b0 + b];
        const int32_t zero_point = q.zero_point[b0 + b];
        for (int64_t lane = 0; lane < kBlockRows; ++lane) {
          const int64_t out = block * kBlockRows + lane;
          if (out >= n) break;
          const int32_t dot = acc[b * kBlockRows + lane] - zero_point * row_sum[out];
          const float value = static_cast<float>(dot) * (x_scale * scale[out]) + bias[out];
          y[(b0 + b) * n + out] = relu ? std::max(value, 0.f) : value;
        }
      }
    }
  }
}

// x = LayerNorm(x + residual) per row, in place.
void add_layer_norm(float* x, const float* residual, int64_t rows, int64_t width, const float* weight,
                    const float* bias, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * width;
    const float* add = residual + r * width;
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < width; ++i) {
      row[i] += add[i];
      sum += row[i];
    }
    const float mean = sum / static_cast<float>(width);
    float squares = 0.f;
#pragma omp simd reduction(+ : squares)
    for (int64_t i = 0; i < width; ++i) squares += (row[i] - mean) * (row[i] - mean);
    const float inverse_std = 1.f / std::sqrt(squares / static_cast<float>(width) + eps);
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) row[i] = (row[i] - mean) * inverse_std * weight[i] + bias[i];
  }
}

// exp(x) for x <= 0, 16 lanes: Cephes' expf (x = n ln2 + r, |r| <= ln2 / 2, a degree-6 polynomial in r,
// then 2^n); about 1 ulp. Below -88 (and at -inf) exp(x) < 1e-38 is taken as 0.
inline __m512 exp_non_positive(__m512 x) {
  const __mmask16 representable = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-88.f), _CMP_GE_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-88.f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_maskz_mov_ps(representable, _mm512_scalef_ps(p, n));
}

// scores[i] = exp(scores[i] - max(scores)) in place (-inf scores give 0); returns their sum. The unnormalised
// softmax: the scalar exp here cost a third of the attention's time.
inline float exp_minus_max(float* scores, int64_t n) {
  __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 lanes = n - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (n - i)) - 1);
    best = _mm512_mask_max_ps(best, lanes, best, _mm512_maskz_loadu_ps(lanes, scores + i));
  }
  const __m512 shift = _mm512_set1_ps(_mm512_reduce_max_ps(best));
  __m512 total = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 lanes = n - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 e = exp_non_positive(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, scores + i), shift));
    _mm512_mask_storeu_ps(scores + i, lanes, e);
    total = _mm512_mask_add_ps(total, lanes, total, e);
  }
  return _mm512_reduce_add_ps(total);
}

struct Shapes {
  int64_t batch, width, n_head, head_dim, length, capacity;
};

// Attention of each row's new query over its cached keys and values (positions 0..length, the new one
// written here first), per (row, head) over the threads of the enclosing parallel region.
// qkv (B, 3 * width); keys/values (B, n_head, capacity, head_dim); ok (B, length + 1) or null;
// scores: this thread's (length + 1) floats; attended (B, width).
void attend(const Shapes& s, const float* qkv, float* keys, float* values, const bool* ok, float* scores,
            float* attended) {
  const int64_t keys_seen = s.length + 1, head_dim = s.head_dim;
  const float softmax_scale = 1.f / std::sqrt(static_cast<float>(head_dim));
#pragma omp for schedule(static)
  for (int64_t bh = 0; bh < s.batch * s.n_head; ++bh) {
    const int64_t b = bh / s.n_head, head = bh % s.n_head;
    const float* row = qkv + b * 3 * s.width;
    const float* query = row + head * head_dim;
    float* head_keys = keys + bh * s.capacity * head_dim;
    float* head_values = values + bh * s.capacity * head_dim;
    std::memcpy(head_keys + s.length * head_dim, row + s.width + head * head_dim, head_dim * sizeof(float));
    std::memcpy(head_values + s.length * head_dim, row + 2 * s.width + head * head_dim, head_dim * sizeof(float));
    const bool* row_ok = ok == nullptr ? nullptr : ok + b * keys_seen;
    for (int64_t t = 0; t < keys_seen; ++t) {
      const float* key = head_keys + t * head_dim;
      float dot = 0.f;
#pragma omp simd reduction(+ : dot)
      for (int64_t d = 0; d < head_dim; ++d) dot += query[d] * key[d];
      scores[t] = dot * softmax_scale;
    }
    if (row_ok != nullptr) {
      for (int64_t t = 0; t < keys_seen; ++t) {
        if (!row_ok[t]) scores[t] = -std::numeric_limits<float>::infinity();
      }
    }
    const float total = exp_minus_max(scores, keys_seen);
    float* out = attended + b * s.width + head * head_dim;
    std::fill(out, out + head_dim, 0.f);
    if (!(total > 0.f)) continue;  // every key masked (a row of padding only): nothing to attend, zeros
    const float normaliser = 1.f / total;
    for (int64_t t = 0; t < keys_seen; ++t) {
      const float p = scores[t] * normaliser;
      if (p == 0.f) continue;  // a masked position
      const float* value = head_values + t * head_dim;
#pragma omp simd
      for (int64_t d = 0; d < head_dim; ++d) out[d] += p * value[d];
    }
  }
}

using Linear = std::shared_ptr<Int8Linear>;  // shared with the Python module that also calls it (prefill)

struct Layer {
  Linear qkv, out, fc1, fc2;
  at::Tensor norm1_weight, norm1_bias, norm2_weight, norm2_bias;
};

// y (N, out) = x (N, in) @ W^T + bias: one product on its own (prefill, the output head), every thread.
at::Tensor linear_forward(const Int8Linear& linear, const at::Tensor& x_in) {
  at::Tensor x = x_in.to(at::kFloat).contiguous();
  TORCH_CHECK(x.is_cpu() && x.dim() == 2 && x.size(1) == linear.k, "int8 linear: x (N, ", linear.k,
              ") on the CPU expected, got ", x.sizes(), " on ", x.device());
  at::Tensor y = at::empty({x.size(0), linear.n}, at::kFloat);
  QuantizedRows q;
  quantize_rows(x.data_ptr<float>(), x.size(0), linear.k, linear.k_pad, q);
#pragma omp parallel num_threads(at::get_num_threads())
  int8_linear(linear, q, x.size(0), y.data_ptr<float>(), false);
  return y;
}

class Int8Decoder {
 public:
  Int8Decoder(int64_t n_head, double eps) : n_head_(n_head), eps_(static_cast<float>(eps)) {}

  // One layer: its four products (already packed, shared with the modules that run prefill) and norms.
  void add_layer(const Linear& qkv, const Linear& out, const Linear& fc1, const Linear& fc2,
                 const at::Tensor& norm1_weight, const at::Tensor& norm1_bias, const at::Tensor& norm2_weight,
                 const at::Tensor& norm2_bias) {
    const int64_t width = out->n;
    TORCH_CHECK(qkv->k == width && qkv->n == 3 * width && out->k == width && fc1->k == width && fc2->k == fc1->n &&
                    fc2->n == width && width % n_head_ == 0,
                "add_layer: the products' shapes do not make a transformer layer of width ", width);
    for (const at::Tensor* norm : {&norm1_weight, &norm1_bias, &norm2_weight, &norm2_bias}) {
      TORCH_CHECK(norm->numel() == width, "add_layer: a layer norm of ", norm->numel(), " for width ", width);
    }
    TORCH_CHECK(layers_.empty() || (layers_[0].out->n == width && layers_[0].fc1->n == fc1->n),
                "add_layer: every layer must have the first one's sizes");
    layers_.push_back(Layer{qkv, out, fc1, fc2, norm1_weight.to(at::kFloat).contiguous(),
                            norm1_bias.to(at::kFloat).contiguous(), norm2_weight.to(at::kFloat).contiguous(),
                            norm2_bias.to(at::kFloat).contiguous()});
  }

  // x (B, 1, C) float: the new position's input. keys/values: per layer (B, n_head, capacity, head_dim)
  // float, filled up to `length`; the new key/value go to position `length`. key_ok: (B, length + 1) bool,
  // or undefined when every key may be attended. Returns the last layer's output (B, 1, C).
  at::Tensor step(const at::Tensor& x_in, const std::vector<at::Tensor>& keys,
                  const std::vector<at::Tensor>& values, int64_t length, const c10::optional<at::Tensor>& key_ok_in) {
    const int64_t n_layer = static_cast<int64_t>(layers_.size());
    TORCH_CHECK(static_cast<int64_t>(keys.size()) == n_layer && static_cast<int64_t>(values.size()) == n_layer,
                "step: one key and one value buffer per layer expected");
    TORCH_CHECK(n_layer > 0 && x_in.is_cpu() && x_in.dim() == 3 && x_in.size(1) == 1 &&
                    x_in.scalar_type() == at::kFloat && x_in.size(2) == layers_[0].out->n,
                "step: x (B, 1, C) float on the CPU expected, C the layers' width");
    at::Tensor x = x_in.contiguous().clone();
    Shapes shapes{x.size(0), x.size(2), n_head_, x.size(2) / n_head_, length, 0};
    for (int64_t l = 0; l < n_layer; ++l) {
      for (const at::Tensor* buffer : {&keys[l], &values[l]}) {
        TORCH_CHECK(buffer->is_cpu() && buffer->is_contiguous() && buffer->scalar_type() == at::kFloat && buffer->dim() == 4 &&
                        buffer->size(0) == shapes.batch && buffer->size(1) == n_head_ && buffer->size(2) > length &&
                        buffer->size(3) == shapes.head_dim && buffer->size(2) == keys[0].size(2),
                    "step: KV cache buffers must be (B, n_head, capacity > length, head_dim) float, contiguous");
      }
    }
    shapes.capacity = keys[0].size(2);
    at::Tensor key_ok;
    if (key_ok_in.has_value() && key_ok_in->defined()) {
      key_ok = key_ok_in->to(at::kCPU, at::kBool).contiguous();
      TORCH_CHECK(key_ok.dim() == 2 && key_ok.size(0) == shapes.batch && key_ok.size(1) == length + 1,
                  "step: key_ok (B, length + 1) expected");
    }
    const bool* ok = key_ok.defined() ? key_ok.data_ptr<bool>() : nullptr;
    const int64_t batch = shapes.batch, width = shapes.width;
    std::vector<float> qkv(batch * 3 * width), attended(batch * width), branch(batch * width),
        hidden(batch * layers_[0].fc1->n);
    // Every buffer is allocated here, before the parallel region: an exception inside one would end the process.
    QuantizedRows q;
    q.values.reserve(batch * std::max(layers_[0].qkv->k_pad, layers_[0].fc2->k_pad));
    q.scale.reserve(batch);
    q.zero_point.reserve(batch);
    const int threads = at::get_num_threads();
    std::vector<float> scores(threads * (length + 1));  // each thread's attention weights
    float* h = x.data_ptr<float>();
    // One parallel region for the whole step: its threads meet at a barrier after each stage, where a fork
    // per stage (120 per token) cost more than the attention's arithmetic.
#pragma omp parallel num_threads(threads)
    {
      float* thread_scores = scores.data() + omp_get_thread_num() * (length + 1);
      for (int64_t l = 0; l < n_layer; ++l) {
        const Layer& layer = layers_[l];
#pragma omp single
        quantize_rows(h, batch, width, layer.qkv->k_pad, q);
        int8_linear(*layer.qkv, q, batch, qkv.data(), false);
        attend(shapes, qkv.data(), keys[l].data_ptr<float>(), values[l].data_ptr<float>(), ok, thread_scores,
               attended.data());
#pragma omp single
        quantize_rows(attended.data(), batch, width, layer.out->k_pad, q);
        int8_linear(*layer.out, q, batch, branch.data(), false);
#pragma omp single
        {
          add_layer_norm(h, branch.data(), batch, width, layer.norm1_weight.data_ptr<float>(),
                         layer.norm1_bias.data_ptr<float>(), eps_);
          quantize_rows(h, batch, width, layer.fc1->k_pad, q);
        }
        int8_linear(*layer.fc1, q, batch, hidden.data(), true);
#pragma omp single
        quantize_rows(hidden.data(), batch, layer.fc1->n, layer.fc2->k_pad, q);
        int8_linear(*layer.fc2, q, batch, branch.data(), false);
#pragma omp single
        add_layer_norm(h, branch.data(), batch, width, layer.norm2_weight.data_ptr<float>(),
                       layer.norm2_bias.data_ptr<float>(), eps_);
      }
    }
    return x;
  }

 private:
  int64_t n_head_;
  float eps_;
  std::vector<Layer> layers_;
};

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  pybind11::class_<Int8Linear, Linear>(m, "Int8Linear")
      .def(pybind11::init<const at::Tensor&, const at::Tensor&, const at::Tensor&>())
      .def("__call__", &linear_forward)
      .def_property_readonly("bytes", [](const Int8Linear& linear) {
        return linear.packed.numel() + 4 * (linear.scale.numel() + linear.bias.numel() + linear.row_sum.numel());
      });
  pybind11::class_<Int8Decoder>(m, "Int8Decoder")
      .def(pybind11::init<int64_t, double>())
      .def("add_layer", &Int8Decoder::add_layer)
      .def("step", &Int8Decoder::step, pybind11::call_guard<pybind11::gil_scoped_release>());
}
