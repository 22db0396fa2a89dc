// Fixed-order Aᵀ·B (see fixed_order_gemm.h): one ISA-neutral blocking driver around a register
// micro-kernel per ISA. Internal linkage and per-function target attributes, as in
// maxsim_avx512.cc: nothing here requires the build host's CPU.
#include "fixed_order_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "aligned_buffer.h"
#include "parallel.h"

#define LEMUR_AVX2 __attribute__((target("avx2,fma")))
#define LEMUR_AVX512 __attribute__((target("avx512f")))

namespace lemur {

namespace {

// A micro-kernel updates an MR x NR tile Ct (row stride NR) over kc steps:
// Ct[r][c] = fma(Ap[i][r], Bp[i][c], Ct[r][c]) for i ascending, Ct starting at +0 when `first`.
// Ap is kc x MR, Bp kc x NR, both packed contiguously.
using MicroFn = void (*)(const float* Ap, const float* Bp, int64_t kc, float* Ct, bool first);

struct Micro {
  int mr;
  int nr;
  // k-steps per block: Bp's kc x NR block stays in L1/L2 while every MR group of A passes.
  int kc;
  MicroFn fn;
};

constexpr int kScalarMr = 4, kScalarNr = 16;
void micro_scalar(const float* Ap, const float* Bp, int64_t kc, float* Ct, bool first) {
  float c[kScalarMr][kScalarNr];
  for (int r = 0; r < kScalarMr; ++r)
    for (int j = 0; j < kScalarNr; ++j) c[r][j] = first ? 0.0f : Ct[r * kScalarNr + j];
  for (int64_t i = 0; i < kc; ++i) {
    const float* a = Ap + i * kScalarMr;
    const float* b = Bp + i * kScalarNr;
    // std::fma, not a*b+c: the SIMD kernels fuse, so the portable one must too (glibc's fmaf is
    // the hardware instruction where the CPU has one, and correctly rounded where it has not).
    for (int r = 0; r < kScalarMr; ++r)
      for (int j = 0; j < kScalarNr; ++j) c[r][j] = std::fma(a[r], b[j], c[r][j]);
  }
  for (int r = 0; r < kScalarMr; ++r)
    for (int j = 0; j < kScalarNr; ++j) Ct[r * kScalarNr + j] = c[r][j];
}

// AVX2: 6 x 16 = 12 ymm accumulators + 2 for B + 1 broadcast = 15 of 16 registers.
constexpr int kAvx2Mr = 6, kAvx2V = 2;
LEMUR_AVX2 void micro_avx2(const float* Ap, const float* Bp, int64_t kc, float* Ct, bool first) {
  constexpr int NR = 8 * kAvx2V;
  __m256 c[kAvx2Mr][kAvx2V];
#pragma GCC unroll 8
  for (int r = 0; r < kAvx2Mr; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kAvx2V; ++v) c[r][v] = first ? _mm256_setzero_ps() : _mm256_load_ps(Ct + r * NR + 8 * v);
  for (int64_t i = 0; i < kc; ++i) {
    __m256 b[kAvx2V];
#pragma GCC unroll 4
    for (int v = 0; v < kAvx2V; ++v) b[v] = _mm256_load_ps(Bp + i * NR + 8 * v);
#pragma GCC unroll 8
    for (int r = 0; r < kAvx2Mr; ++r) {
      const __m256 a = _mm256_broadcast_ss(Ap + i * kAvx2Mr + r);
#pragma GCC unroll 4
      for (int v = 0; v < kAvx2V; ++v) c[r][v] = _mm256_fmadd_ps(a, b[v], c[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kAvx2Mr; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kAvx2V; ++v) _mm256_store_ps(Ct + r * NR + 8 * v, c[r][v]);
}

// AVX-512: 6 x 64 = 24 zmm accumulators + 4 for B + 1 broadcast = 29 of 32 registers.
constexpr int kAvx512Mr = 6, kAvx512V = 4;
LEMUR_AVX512 void micro_avx512(const float* Ap, const float* Bp, int64_t kc, float* Ct, bool first) {
  constexpr int NR = 16 * kAvx512V;
  __m512 c[kAvx512Mr][kAvx512V];
#pragma GCC unroll 8
  for (int r = 0; r < kAvx512Mr; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kAvx512V; ++v) c[r][v] = first ? _mm512_setzero_ps() : _mm512_load_ps(Ct + r * NR + 16 * v);
  for (int64_t i = 0; i < kc; ++i) {
    __m512 b[kAvx512V];
#pragma GCC unroll 4
    for (int v = 0; v < kAvx512V; ++v) b[v] = _mm512_load_ps(Bp + i * NR + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < kAvx512Mr; ++r) {
      const __m512 a = _mm512_set1_ps(Ap[i * kAvx512Mr + r]);
#pragma GCC unroll 4
      for (int v = 0; v < kAvx512V; ++v) c[r][v] = _mm512_fmadd_ps(a, b[v], c[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kAvx512Mr; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kAvx512V; ++v) _mm512_store_ps(Ct + r * NR + 16 * v, c[r][v]);
}

Micro micro_for(Kernel k) {
  switch (k) {
    case Kernel::kAvx512: return {kAvx512Mr, 16 * kAvx512V, 128, micro_avx512};
    case Kernel::kAvx2: return {kAvx2Mr, 8 * kAvx2V, 256, micro_avx2};
    case Kernel::kScalar: break;
  }
  return {kScalarMr, kScalarNr, 256, micro_scalar};
}

}  // namespace

void fixed_order_gemm(StridedMatrix A, StridedMatrix B, int64_t k, int64_t m, int64_t n, const float* bias, float* C,
                      int64_t ldc, int threads, Kernel kernel) {
  if (m <= 0 || n <= 0) return;
  const Micro mk = micro_for(kernel);
  const int MR = mk.mr, NR = mk.nr;
  const int64_t groups = (m + MR - 1) / MR;
  const int64_t panels = (n + NR - 1) / NR;
  if (k <= 0) {
    for (int64_t j = 0; j < m; ++j)
      for (int64_t c = 0; c < n; ++c) C[j * ldc + c] = bias ? bias[c] : 0.0f;
    return;
  }

  // A packed once per call, MR columns at a time: Ap[g][i][r] = A(i, g·MR + r), zero past m (the
  // padding rows compute zeros that are never stored).
  // Packing is split over threads only in chunks of ~1 M values: ψ's small blocks (k = 128) are
  // packed on the calling thread instead of paying a thread start per call.
  AlignedBuffer<float> Ap(static_cast<size_t>(groups) * k * MR);
  const int64_t pack_grain = std::max<int64_t>(1, (int64_t{1} << 20) / (k * MR));
  parallel_for(groups, threads, pack_grain, [&](int64_t g0, int64_t g1, int) {
    for (int64_t g = g0; g < g1; ++g) {
      float* dst = Ap.data() + g * k * MR;
      const int64_t rows = std::min<int64_t>(MR, m - g * MR);
      for (int64_t i = 0; i < k; ++i) {
        const float* src = A.p + i * A.rs + g * MR * A.cs;
        int64_t r = 0;
        for (; r < rows; ++r) dst[i * MR + r] = src[r * A.cs];
        for (; r < MR; ++r) dst[i * MR + r] = 0.0f;
      }
    }
  });

  // Each thread owns whole column panels: it packs the panel of B (k x NR, zero past n) into its
  // own buffer and keeps the panel's C (groups·MR x NR) in its own buffer across k-blocks.
  const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, panels)));
  std::vector<AlignedBuffer<float>> bbuf(nt), cbuf(nt);
  parallel_for(panels, nt, 1, [&](int64_t p0, int64_t p1, int t) {
    AlignedBuffer<float>& Bp = bbuf[t];
    AlignedBuffer<float>& Cp = cbuf[t];
    Bp.resize(static_cast<size_t>(k) * NR);
    Cp.resize(static_cast<size_t>(groups) * MR * NR);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c0 = p * NR;
      const int64_t cols = std::min<int64_t>(NR, n - c0);
      if (B.cs == 1) {
        for (int64_t i = 0; i < k; ++i) {
          float* dst = Bp.data() + i * NR;
          std::memcpy(dst, B.p + i * B.rs + c0, sizeof(float) * cols);
          std::fill(dst + cols, dst + NR, 0.0f);
        }
      } else {
        std::fill(Bp.data(), Bp.data() + k * NR, 0.0f);
        for (int64_t c = 0; c < cols; ++c) {
          const float* src = B.p + (c0 + c) * B.cs;
          for (int64_t i = 0; i < k; ++i) Bp[i * NR + c] = src[i * B.rs];
        }
      }
      for (int64_t k0 = 0; k0 < k; k0 += mk.kc) {
        const int64_t kc = std::min<int64_t>(mk.kc, k - k0);
        for (int64_t g = 0; g < groups; ++g) {
          mk.fn(Ap.data() + (g * k + k0) * MR, Bp.data() + k0 * NR, kc, Cp.data() + g * MR * NR, k0 == 0);
        }
      }
      for (int64_t j = 0; j < m; ++j) {
        float* dst = C + j * ldc + c0;
        const float* src = Cp.data() + j * NR;
        if (bias) {
          for (int64_t c = 0; c < cols; ++c) dst[c] = src[c] + bias[c0 + c];
        } else {
          std::memcpy(dst, src, sizeof(float) * cols);
        }
      }
    }
  });
}

}  // namespace lemur
