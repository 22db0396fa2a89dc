// AVX-512F MaxSim kernel. Every function here carries the target attribute and has internal
// linkage, and the file includes no header that defines inline code after the intrinsics: a
// shared inline helper compiled for AVX-512 could be the copy the linker keeps for everyone,
// and older CPUs would then die with SIGILL.
#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "maxsim.h"

#define LEMUR_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))

namespace lemur {

namespace {

// One register tile: V query vectors (16 lanes each) x T doc tokens = V*T accumulators, each
// an independent FMA chain over k. DIM > 0 makes the token strides compile-time displacements.
// Per k: V panel loads + T broadcasts feed V*T FMAs, so the FMA ports, not loads, set the pace.
template <int V, int T, int DIM>
LEMUR_AVX512 inline void tile(const float* panel, int dim_rt, int lanes, const float* doc,
                              __m512* mx) {
  const int dim = DIM > 0 ? DIM : dim_rt;
  __m512 acc[T][V];
#pragma GCC unroll 32
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[t][v] = _mm512_setzero_ps();
  const float* q = panel;
#pragma GCC unroll 2
  for (int k = 0; k < dim; ++k, q += lanes) {
    __m512 qv[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) qv[v] = _mm512_loadu_ps(q + 16 * v);
#pragma GCC unroll 32
    for (int t = 0; t < T; ++t) {
      const __m512 b = _mm512_set1_ps(doc[t * dim + k]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[t][v] = _mm512_fmadd_ps(qv[v], b, acc[t][v]);
    }
  }
#pragma GCC unroll 32
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) mx[v] = _mm512_max_ps(mx[v], acc[t][v]);
}

// The last ntok % T tokens: a tile of exactly R tokens, R chosen at run time.
template <int V, int R, int DIM>
LEMUR_AVX512 inline void tail(int rem, const float* panel, int dim, int lanes, const float* doc,
                              __m512* mx) {
  if constexpr (R > 0) {
    if (rem == R) {
      tile<V, R, DIM>(panel, dim, lanes, doc, mx);
    } else {
      tail<V, R - 1, DIM>(rem, panel, dim, lanes, doc, mx);
    }
  }
}

template <int V, int T, int DIM>
LEMUR_AVX512 void group(const float* panel, int dim_rt, int lanes, const float* doc, int64_t ntok,
                        float* out) {
  const int dim = DIM > 0 ? DIM : dim_rt;
  __m512 mx[V];
  for (int v = 0; v < V; ++v) mx[v] = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t t = 0;
  for (; t + T <= ntok; t += T) {
    // Pull the next tile's rows into L1 while this one computes: T broadcast streams from L2
    // otherwise stall the FMAs (measured: ~200 -> ~160 GFLOP/s on L2-resident docs).
    const char* next = reinterpret_cast<const char*>(doc + (t + T) * dim);
    const int64_t bytes = std::min<int64_t>(T, ntok - t - T) * dim * 4;
    for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(next + b, _MM_HINT_T0);
    tile<V, T, DIM>(panel, dim, lanes, doc + t * dim, mx);
  }
  tail<V, T - 1, DIM>(static_cast<int>(ntok - t), panel, dim, lanes, doc + t * dim, mx);
  for (int v = 0; v < V; ++v) _mm512_storeu_ps(out + 16 * v, mx[v]);
}

// Lanes are processed in groups of up to 4 vectors (64 lanes); T keeps V*T near 24 of the 32
// zmm registers, leaving room for the V panel rows and the broadcast (4 x 6: 24 + 4 + 1 = 29).
// The running maxima do not always fit as well (4 x 6 would need 33): the compiler then keeps
// some in memory between tiles, outside the k loop. Checked in the asm: no stack access inside
// any k loop. Each (lane, token) pair is one FMA chain over k from +0, like the AVX2 and scalar
// kernels, so all three give bit-identical scores.
template <int DIM>
LEMUR_AVX512 void panel_max_dim(const float* panel, int dim, int lanes, const float* doc,
                                int64_t ntok, float* out) {
  const int nv = lanes / 16;
  for (int v0 = 0; v0 < nv; v0 += 4) {
    const float* p = panel + 16 * v0;
    float* o = out + 16 * v0;
    switch (nv - v0 >= 4 ? 4 : nv - v0) {
      case 1: group<1, 16, DIM>(p, dim, lanes, doc, ntok, o); break;
      case 2: group<2, 12, DIM>(p, dim, lanes, doc, ntok, o); break;
      case 3: group<3, 8, DIM>(p, dim, lanes, doc, ntok, o); break;
      default: group<4, 6, DIM>(p, dim, lanes, doc, ntok, o); break;
    }
  }
}

LEMUR_AVX512 void panel_max_avx512(const float* panel, int dim, int lanes, const float* doc,
                                   int64_t ntok, float* out) {
  switch (dim) {
    case 64: panel_max_dim<64>(panel, dim, lanes, doc, ntok, out); break;
    case 96: panel_max_dim<96>(panel, dim, lanes, doc, ntok, out); break;
    case 128: panel_max_dim<128>(panel, dim, lanes, doc, ntok, out); break;
    default: panel_max_dim<0>(panel, dim, lanes, doc, ntok, out); break;
  }
}

LEMUR_AVX512 void half_to_float_avx512(const uint16_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
  }
  if (i < n) {
    // Tail through a small buffer: a masked 16-bit load would need AVX512BW as well.
    alignas(32) uint16_t buf[16] = {0};
    for (size_t j = i; j < n; ++j) buf[j - i] = src[j];
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256i h = _mm256_load_si256(reinterpret_cast<const __m256i*>(buf));
    _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(h));
  }
}

// Peak probe: 24 chains plus the two constants = 26 of the 32 zmm registers (no spills), 3x the
// latency 4 x 2 FMA pipes needed to keep both pipes busy.
constexpr int kRegChains = 24;
LEMUR_AVX512 double fma_reg_avx512(int64_t iters, float* sink) {
  __m512 acc[kRegChains];
  for (int c = 0; c < kRegChains; ++c) acc[c] = _mm512_set1_ps(0.001f * static_cast<float>(c + 1));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 32
    for (int c = 0; c < kRegChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  }
  __m512 s = acc[0];
  for (int c = 1; c < kRegChains; ++c) s = _mm512_add_ps(s, acc[c]);
  *sink = _mm512_reduce_add_ps(s);
  return 2.0 * 16 * kRegChains * static_cast<double>(iters);
}

// Cross-check probe, the kernel's own shape: 16 chains acc += a * broadcast(L1 scalar), the
// broadcast folded into the FMA as an embedded {1to16} memory operand. The empty asm makes the
// pointer opaque each round, so the loads cannot be hoisted into registers.
constexpr int kMemChains = 16;
LEMUR_AVX512 double fma_mem_avx512(int64_t iters, float* sink) {
  alignas(64) float b[kMemChains];
  for (float& x : b) x = 1e-7f;
  const float* p = b;
  __m512 acc[kMemChains];
  for (int c = 0; c < kMemChains; ++c) acc[c] = _mm512_set1_ps(0.001f * static_cast<float>(c + 1));
  const __m512 a = _mm512_set1_ps(0.999999f);
  for (int64_t i = 0; i < iters; ++i) {
    asm volatile("" : "+r"(p));
#pragma GCC unroll 32
    for (int c = 0; c < kMemChains; ++c) acc[c] = _mm512_fmadd_ps(a, _mm512_set1_ps(p[c]), acc[c]);
  }
  __m512 s = acc[0];
  for (int c = 1; c < kMemChains; ++c) s = _mm512_add_ps(s, acc[c]);
  *sink = _mm512_reduce_add_ps(s);
  return 2.0 * 16 * kMemChains * static_cast<double>(iters);
}

// 16 partials -> one sum: p[l] += p[l+8], +4, +2, +1 in that order (not _mm512_reduce_add_ps,
// whose order is the compiler's). The high 256 bits through a pd extract:
// _mm512_extractf32x8_ps would need AVX512DQ.
LEMUR_AVX512 inline float tree16(__m512 p) {
  const __m256 hi8 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p), 1));
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(p), hi8);                     // p[l] + p[l+8]
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));  // + p[l+4]
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                             // + p[l+2]
  const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));                         // + p[l+1]
  return _mm_cvtss_f32(s1);
}

// The order of dot_scalar (maxsim_scalar.cc), bit for bit: one zmm of 16 partials, one FMA
// chain per lane; the tail is a masked FMA that leaves masked-off partials untouched; then the
// explicit tree p[l] += p[l+8], +4, +2, +1 (not _mm512_reduce_add_ps, whose order is the
// compiler's). One chain per lane is latency-bound, but at d = 2048 memory costs more.
LEMUR_AVX512 float dot_avx512(const float* a, const float* b, int d) {
  __m512 p = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= d; i += 16) p = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), p);
  if (i < d) {
    const __mmask16 m = static_cast<__mmask16>((1u << (d - i)) - 1);
    p = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), p, m);
  }
  return tree16(p);
}

// Compact rows (maxsim.h, dot_f16/dot_u8): 64 partials in four zmm, partial 16j + t in lane t
// of p[j], four independent FMA chains; the tail goes 16 elements at a time, the last one
// masked; then p[l] += p[l+32] (p0 + p2, p1 + p3), +16, and tree16's +8, +4, +2, +1.
struct WidenF16 {
  LEMUR_AVX512 static __m512 full(const uint16_t* h) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
  }
  // n < 16 values through a small buffer: a masked 16-bit load would need AVX512BW.
  LEMUR_AVX512 static __m512 part(const uint16_t* h, int n) {
    alignas(32) uint16_t buf[16] = {0};
    for (int j = 0; j < n; ++j) buf[j] = h[j];
    return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(buf)));
  }
};

struct WidenU8 {
  LEMUR_AVX512 static __m512 full(const uint8_t* c) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c))));
  }
  LEMUR_AVX512 static __m512 part(const uint8_t* c, int n) {
    alignas(16) uint8_t buf[16] = {0};
    for (int j = 0; j < n; ++j) buf[j] = c[j];
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(buf))));
  }
};

template <class Widen, class T>
LEMUR_AVX512 inline float dot64(const float* q, const T* x, int d) {
  __m512 p[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int i = 0;
  for (; i + 64 <= d; i += 64) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) p[j] = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16 * j), Widen::full(x + i + 16 * j), p[j]);
  }
  // (unrolled, so p[j] keeps constant indices and stays in registers)
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const int b = i + 16 * j;
    if (b >= d) break;
    if (b + 16 <= d) {
      p[j] = _mm512_fmadd_ps(_mm512_loadu_ps(q + b), Widen::full(x + b), p[j]);
    } else {
      const __mmask16 m = static_cast<__mmask16>((1u << (d - b)) - 1);
      p[j] = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m, q + b), Widen::part(x + b, d - b), p[j], m);
    }
  }
  return tree16(_mm512_add_ps(_mm512_add_ps(p[0], p[2]), _mm512_add_ps(p[1], p[3])));
}

LEMUR_AVX512 float dot_f16_avx512(const float* q, const uint16_t* h, int d) { return dot64<WidenF16>(q, h, d); }
LEMUR_AVX512 float dot_u8_avx512(const float* w, const uint8_t* c, int d) { return dot64<WidenU8>(w, c, d); }

}  // namespace

const KernelTable& avx512_kernel_table() {
  static const KernelTable t{Kernel::kAvx512, panel_max_avx512, half_to_float_avx512,
                            {{"reg", kRegChains, fma_reg_avx512}, {"mem", kMemChains, fma_mem_avx512}}, dot_avx512,
                            dot_f16_avx512, dot_u8_avx512};
  return t;
}

}  // namespace lemur
