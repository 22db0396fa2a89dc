// AVX2 + FMA MaxSim kernel: the register-tile scheme of maxsim_avx512.cc with 8 lanes per ymm,
// re-shaped for 16 registers. Internal linkage and target attributes only (see maxsim_avx512.cc).
#include <immintrin.h>

#include <limits>

#include "maxsim.h"

#define LEMUR_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace lemur {

namespace {

// One register tile: V query vectors (8 lanes each) x T doc tokens = V*T accumulators, each an
// independent FMA chain over k = 0..dim-1 from +0 (one chain per (lane, token), never split
// over k: the order of a std::fma scalar loop, so every kernel gives the same bits). Sized for AVX2's 16 ymm registers: 2 x 6 =
// 12 accumulators + 2 query vectors + 1 broadcast = 15, and the running maxima live in `mx`
// (memory, L1), folded once per tile. Keeping them in registers too (the old 4 x 3 tile: 12 + 4
// + 4 + 1 = 21) spilled inside the k loop and ran at ~49 GFLOP/s where this one runs at ~100.
// Per k: 2 loads + 6 broadcasts feed 12 FMAs (6 cycles at 2 FMA/cycle), so the FMA ports, not
// the load ports, set the pace; 12 chains cover the 4-cycle FMA latency on 2 pipes with slack.
template <int V, int T, int DIM>
LEMUR_AVX2 inline void tile(const float* panel, int dim_rt, int lanes, const float* doc, float* mx) {
  const int dim = DIM > 0 ? DIM : dim_rt;
  __m256 acc[T][V];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[t][v] = _mm256_setzero_ps();
  const float* q = panel;
#pragma GCC unroll 2
  for (int k = 0; k < dim; ++k, q += lanes) {
    __m256 qv[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) qv[v] = _mm256_loadu_ps(q + 8 * v);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m256 b = _mm256_broadcast_ss(doc + t * dim + k);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[t][v] = _mm256_fmadd_ps(qv[v], b, acc[t][v]);
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < V; ++v) {
    __m256 m = _mm256_loadu_ps(mx + 8 * v);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) m = _mm256_max_ps(m, acc[t][v]);
    _mm256_storeu_ps(mx + 8 * v, m);
  }
}

// The last ntok % T tokens: a tile of exactly R tokens, R chosen at run time.
template <int V, int R, int DIM>
LEMUR_AVX2 inline void tail(int rem, const float* panel, int dim, int lanes, const float* doc, float* mx) {
  if constexpr (R > 0) {
    if (rem == R) {
      tile<V, R, DIM>(panel, dim, lanes, doc, mx);
    } else {
      tail<V, R - 1, DIM>(rem, panel, dim, lanes, doc, mx);
    }
  }
}

constexpr int kTileVectors = 2;
constexpr int kTileTokens = 6;
static_assert(kPanelLaneAlign % (8 * kTileVectors) == 0, "panels must split into whole 2-ymm tiles");

// Token tiles outside, lane groups inside: a tile's 6 doc rows (3 KB at dim 128) stay in L1
// while every lane group of the panel passes over them, so the doc is read from L2/memory once
// whatever the query length (a doc of ~70 tokens is 35 KB, more than L1).
template <int DIM>
LEMUR_AVX2 void panel_max_dim(const float* panel, int dim_rt, int lanes, const float* doc,
                              int64_t ntok, float* out) {
  constexpr int V = kTileVectors, T = kTileTokens;
  const int dim = DIM > 0 ? DIM : dim_rt;
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int l = 0; l < lanes; l += 8) _mm256_storeu_ps(out + l, neg_inf);
  int64_t t = 0;
  for (; t + T <= ntok; t += T) {
    for (int l = 0; l < lanes; l += 8 * V) tile<V, T, DIM>(panel + l, dim, lanes, doc + t * dim, out + l);
  }
  const int rem = static_cast<int>(ntok - t);
  if (rem == 0) return;
  for (int l = 0; l < lanes; l += 8 * V) tail<V, T - 1, DIM>(rem, panel + l, dim, lanes, doc + t * dim, out + l);
}

LEMUR_AVX2 void panel_max_avx2(const float* panel, int dim, int lanes, const float* doc,
                               int64_t ntok, float* out) {
  switch (dim) {
    case 64: panel_max_dim<64>(panel, dim, lanes, doc, ntok, out); break;
    case 96: panel_max_dim<96>(panel, dim, lanes, doc, ntok, out); break;
    case 128: panel_max_dim<128>(panel, dim, lanes, doc, ntok, out); break;
    default: panel_max_dim<0>(panel, dim, lanes, doc, ntok, out); break;
  }
}

LEMUR_AVX2 void half_to_float_avx2(const uint16_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) {
    alignas(16) uint16_t one[8] = {src[i]};
    alignas(32) float f[8];
    _mm256_store_ps(f, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(one))));
    dst[i] = f[0];
  }
}

// Peak probe: 12 chains plus the two constants = 14 of the 16 ymm registers, so nothing spills
// (16 chains did, and under-reported the peak by ~40 %). 12 > latency 4 x 2 FMA pipes, with slack.
constexpr int kRegChains = 12;
LEMUR_AVX2 double fma_reg_avx2(int64_t iters, float* sink) {
  __m256 acc[kRegChains];
  for (int c = 0; c < kRegChains; ++c) acc[c] = _mm256_set1_ps(0.001f * static_cast<float>(c + 1));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kRegChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  __m256 s = acc[0];
  for (int c = 1; c < kRegChains; ++c) s = _mm256_add_ps(s, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  *sink = lanes[0] + lanes[7];
  return 2.0 * 8 * kRegChains * static_cast<double>(iters);
}

// Cross-check probe, another shape: 10 chains whose addend is an L1 memory operand, one load per
// FMA like the kernel's operand traffic. The empty asm makes the pointer opaque each round, so
// the loads cannot be hoisted into registers.
constexpr int kMemChains = 10;
LEMUR_AVX2 double fma_mem_avx2(int64_t iters, float* sink) {
  alignas(32) float addend[kMemChains * 8];
  for (float& x : addend) x = 1e-7f;
  const float* p = addend;
  __m256 acc[kMemChains];
  for (int c = 0; c < kMemChains; ++c) acc[c] = _mm256_set1_ps(0.001f * static_cast<float>(c + 1));
  const __m256 a = _mm256_set1_ps(0.999999f);
  for (int64_t i = 0; i < iters; ++i) {
    asm volatile("" : "+r"(p));
#pragma GCC unroll 16
    for (int c = 0; c < kMemChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, _mm256_load_ps(p + 8 * c));
  }
  __m256 s = acc[0];
  for (int c = 1; c < kMemChains; ++c) s = _mm256_add_ps(s, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  *sink = lanes[0] + lanes[7];
  return 2.0 * 8 * kMemChains * static_cast<double>(iters);
}

// 8 partials -> one sum: p[l] += p[l+4], +2, +1 in that order.
LEMUR_AVX2 inline float tree8(__m256 s8) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));  // p[l] + p[l+4]
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                             // + p[l+2]
  const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));                         // + p[l+1]
  return _mm_cvtss_f32(s1);
}

// The order of dot_scalar (maxsim_scalar.cc), bit for bit: lo holds partials 0-7, hi 8-15, one
// FMA chain per lane; the tail updates only the lanes it covers; then p[l] += p[l+8], +4, +2, +1.
// One chain per lane is latency-bound (d/16 FMAs deep), but at d = 2048 the 16 KB of operands
// from memory cost more than the chain.
LEMUR_AVX2 float dot_avx2(const float* a, const float* b, int d) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= d; i += 16) {
    lo = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), lo);
    hi = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), hi);
  }
  if (i < d) {
    // Masked-off lanes keep their partial exactly (a blend, not an FMA with zeros: 0*0 + -0.0
    // would turn -0.0 into +0.0, which the scalar order never does).
    alignas(32) int32_t idx[16];
    for (int l = 0; l < 16; ++l) idx[l] = i + l < d ? -1 : 0;
    const __m256i m0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
    const __m256i m1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(idx + 8));
    const __m256 f0 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m0), _mm256_maskload_ps(b + i, m0), lo);
    const __m256 f1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i + 8, m1), _mm256_maskload_ps(b + i + 8, m1), hi);
    lo = _mm256_blendv_ps(lo, f0, _mm256_castsi256_ps(m0));
    hi = _mm256_blendv_ps(hi, f1, _mm256_castsi256_ps(m1));
  }
  return tree8(_mm256_add_ps(lo, hi));  // p[l] + p[l+8], then the rest of the tree
}

// Compact rows (maxsim.h, dot_f16/dot_u8): 64 partials in eight ymm, partial 8j + t in lane t
// of p[j], eight independent FMA chains; the tail goes 8 elements at a time, the last one
// through a buffer, masked and blended (as dot_avx2); then p[l] += p[l+32] (p[j] + p[j+4]),
// +16 (+ p[j+2]), +8 (p[0] + p[1]) and tree8's +4, +2, +1.
struct WidenF16 {
  LEMUR_AVX2 static __m256 full(const uint16_t* h) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
  }
  LEMUR_AVX2 static __m256 part(const uint16_t* h, int n) {
    alignas(16) uint16_t buf[8] = {0};
    for (int j = 0; j < n; ++j) buf[j] = h[j];
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(buf)));
  }
};

struct WidenU8 {
  LEMUR_AVX2 static __m256 full(const uint8_t* c) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c))));
  }
  LEMUR_AVX2 static __m256 part(const uint8_t* c, int n) {
    alignas(16) uint8_t buf[16] = {0};
    for (int j = 0; j < n; ++j) buf[j] = c[j];
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(buf))));
  }
};

template <class Widen, class T>
LEMUR_AVX2 inline float dot64(const float* q, const T* x, int d) {
  __m256 p[8];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) p[j] = _mm256_setzero_ps();
  int i = 0;
  for (; i + 64 <= d; i += 64) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) p[j] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8 * j), Widen::full(x + i + 8 * j), p[j]);
  }
  // (unrolled, so p[j] keeps constant indices and stays in registers)
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    const int b = i + 8 * j;
    if (b >= d) break;
    if (b + 8 <= d) {
      p[j] = _mm256_fmadd_ps(_mm256_loadu_ps(q + b), Widen::full(x + b), p[j]);
    } else {
      alignas(32) int32_t idx[8];
      for (int l = 0; l < 8; ++l) idx[l] = b + l < d ? -1 : 0;
      const __m256i m = _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
      const __m256 f = _mm256_fmadd_ps(_mm256_maskload_ps(q + b, m), Widen::part(x + b, d - b), p[j]);
      p[j] = _mm256_blendv_ps(p[j], f, _mm256_castsi256_ps(m));
    }
  }
  const __m256 s32a = _mm256_add_ps(p[0], p[4]), s32b = _mm256_add_ps(p[1], p[5]);
  const __m256 s32c = _mm256_add_ps(p[2], p[6]), s32d = _mm256_add_ps(p[3], p[7]);
  const __m256 s16a = _mm256_add_ps(s32a, s32c), s16b = _mm256_add_ps(s32b, s32d);
  return tree8(_mm256_add_ps(s16a, s16b));
}

LEMUR_AVX2 float dot_f16_avx2(const float* q, const uint16_t* h, int d) { return dot64<WidenF16>(q, h, d); }
LEMUR_AVX2 float dot_u8_avx2(const float* w, const uint8_t* c, int d) { return dot64<WidenU8>(w, c, d); }

}  // namespace

const KernelTable& avx2_kernel_table() {
  static const KernelTable t{Kernel::kAvx2, panel_max_avx2, half_to_float_avx2,
                            {{"reg", kRegChains, fma_reg_avx2}, {"mem", kMemChains, fma_mem_avx2}}, dot_avx2,
                            dot_f16_avx2, dot_u8_avx2};
  return t;
}

}  // namespace lemur
