// Portable kernel: the fallback for CPUs without AVX2, and the reference the SIMD kernels are
// tested against. Same arithmetic per lane as the SIMD kernels — one fused multiply-add chain
// over k ascending from +0 — so every kernel gives the same bits (scores, targets, W rows).
#include <cmath>
#include <limits>

#include "half.h"
#include "maxsim.h"

namespace lemur {

namespace {

void panel_max_scalar(const float* panel, int dim, int lanes, const float* doc, int64_t ntok,
                      float* out) {
  constexpr int kChunk = 16;
  for (int l0 = 0; l0 < lanes; l0 += kChunk) {
    const int nl = lanes - l0 < kChunk ? lanes - l0 : kChunk;
    float mx[kChunk];
    for (int l = 0; l < nl; ++l) mx[l] = -std::numeric_limits<float>::infinity();
    for (int64_t t = 0; t < ntok; ++t) {
      const float* d = doc + t * dim;
      float acc[kChunk] = {0};
      for (int k = 0; k < dim; ++k) {
        const float* q = panel + static_cast<size_t>(k) * lanes + l0;
        const float dk = d[k];
        // std::fma, as the SIMD kernels fuse: glibc's fmaf is the hardware instruction where the
        // CPU has one (through its ifunc), a slower but exact software one where it has not
        for (int l = 0; l < nl; ++l) acc[l] = std::fma(q[l], dk, acc[l]);
      }
      for (int l = 0; l < nl; ++l) mx[l] = acc[l] > mx[l] ? acc[l] : mx[l];
    }
    for (int l = 0; l < nl; ++l) out[l0 + l] = mx[l];
  }
}

void half_to_float_scalar(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = half_to_float(src[i]);
}

// Baseline x86-64 has 16 xmm registers: 12 chains plus the two constants fit, 8 cross-check.
// Multiply then add (no FMA instruction without -mfma), so this is the mul+add peak.
template <int C>
double fma_loop_scalar(int64_t iters, float* sink) {
  float acc[C];
  for (int c = 0; c < C; ++c) acc[c] = 0.001f * static_cast<float>(c + 1);
  for (int64_t i = 0; i < iters; ++i) {
    for (int c = 0; c < C; ++c) acc[c] = acc[c] * 0.999999f + 1e-7f;
  }
  float s = 0;
  for (int c = 0; c < C; ++c) s += acc[c];
  *sink = s;
  return 2.0 * C * static_cast<double>(iters);
}

// The reference order of every kernel's dot product, so an index built on any x86-64 has the
// same bytes (issue 11): partial l sums a[i]*b[i] for i = l mod 16, ascending i, each step one
// fused multiply-add (one rounding, like vfmadd); then the fixed tree p[l] += p[l+8], +4, +2, +1.
// std::fma is correctly rounded whether glibc runs the FMA instruction or its software path.
float dot_scalar(const float* a, const float* b, int d) {
  float p[16] = {0};
  int i = 0;
  for (; i + 16 <= d; i += 16) {
    for (int l = 0; l < 16; ++l) p[l] = std::fma(a[i + l], b[i + l], p[l]);
  }
  for (int l = 0; i + l < d; ++l) p[l] = std::fma(a[i + l], b[i + l], p[l]);
  for (int l = 0; l < 8; ++l) p[l] = p[l] + p[l + 8];
  for (int l = 0; l < 4; ++l) p[l] = p[l] + p[l + 4];
  for (int l = 0; l < 2; ++l) p[l] = p[l] + p[l + 2];
  return p[0] + p[1];
}

// The reference order of the compact rows' inner products (maxsim.h): 64 partials, partial l
// sums q[i] * x[i] for i = l mod 64 in ascending i with one std::fma each, then the tree
// p[l] += p[l+32], +16, +8, +4, +2, +1. x[i] is exact in fp32 (a half, or a byte 0..255).
template <class T, class Widen>
float dot64_scalar(const float* q, const T* x, int d, Widen widen) {
  float p[64] = {0};
  for (int i = 0; i < d; ++i) p[i & 63] = std::fma(q[i], widen(x[i]), p[i & 63]);
  for (int w = 32; w >= 1; w /= 2) {
    for (int l = 0; l < w; ++l) p[l] = p[l] + p[l + w];
  }
  return p[0];
}

float dot_f16_scalar(const float* q, const uint16_t* h, int d) { return dot64_scalar(q, h, d, half_to_float); }

float dot_u8_scalar(const float* w, const uint8_t* c, int d) {
  return dot64_scalar(w, c, d, [](uint8_t v) { return static_cast<float>(v); });
}

}  // namespace

const KernelTable& scalar_kernel_table() {
  static const KernelTable t{Kernel::kScalar, panel_max_scalar, half_to_float_scalar,
                            {{"reg", 12, fma_loop_scalar<12>}, {"reg", 8, fma_loop_scalar<8>}}, dot_scalar,
                            dot_f16_scalar, dot_u8_scalar};
  return t;
}

}  // namespace lemur
