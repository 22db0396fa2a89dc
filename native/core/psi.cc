// ψ forward: fixed-order GEMM for the linear layers, a fused LayerNorm + GELU pass per row.
#include "psi.h"

#include <algorithm>
#include <cmath>

#include "fixed_order_gemm.h"
#include "fast_math.h"
#include "parallel.h"
#include "row_ops.h"

namespace lemur {

namespace {

// One row of LayerNorm (+ affine) + GELU, given the row's mean and 1/std. Cloned per ISA
// (runtime-dispatched by the loader, not built for the host CPU) so the loop vectorises on AVX-512.
__attribute__((target_clones("avx512f", "avx2", "default"))) void norm_gelu_row(
    const float* __restrict src, int n, const float* __restrict gamma, const float* __restrict beta, float mu,
    float rstd, float* __restrict xhat, float* __restrict normed, float* __restrict cdf, float* __restrict y) {
  for (int j = 0; j < n; ++j) {
    const float xh = (src[j] - mu) * rstd;
    const float nv = gamma ? gamma[j] * xh + beta[j] : xh;
    const float c = 0.5f * (1.0f + fast_erf(nv * 0.70710678118654752f));
    xhat[j] = xh;
    normed[j] = nv;
    cdf[j] = c;
    y[j] = nv * c;
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void gelu_row(const float* __restrict src, int n,
                                                                           float* __restrict y) {
  for (int j = 0; j < n; ++j) y[j] = src[j] * 0.5f * (1.0f + fast_erf(src[j] * 0.70710678118654752f));
}

// LayerNorm without affine of a row (the ELM variant's order: GELU first, then this).
__attribute__((target_clones("avx512f", "avx2", "default"))) void norm_row(const float* __restrict src, int n,
                                                                           float mu, float rstd,
                                                                           float* __restrict y) {
  for (int j = 0; j < n; ++j) y[j] = (src[j] - mu) * rstd;
}

}  // namespace

namespace {

void layer_forward(const PsiLayer& L, const float* X, int64_t n, float* Y, PsiLayerCache* c, int threads) {
  const int out = L.out;
  std::vector<float> pre_local;
  float* pre;
  if (c) {
    c->pre.resize(static_cast<size_t>(n) * out);
    c->xhat.resize(static_cast<size_t>(n) * out);
    c->rstd.resize(n);
    c->normed.resize(static_cast<size_t>(n) * out);
    c->cdf.resize(static_cast<size_t>(n) * out);
    pre = c->pre.data();
  } else {
    pre_local.resize(static_cast<size_t>(n) * out);
    pre = pre_local.data();
  }
  // pre = X·Wᵀ + b in a fixed order per element (fixed_order_gemm.h), not sgemm: a token's
  // features are then the same bits whatever batch it is in and whatever BLAS kernel runs
  fixed_order_gemm({X, 1, L.in}, {L.weight.data(), 1, L.in}, L.in, n, out, L.bias.data(), pre, out, threads, default_kernel());
  const bool affine = !L.gamma.empty();
  parallel_for(n, threads, 16, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> tmp(out), xh(out), nv(out), cdf(out);
    for (int64_t i = r0; i < r1; ++i) {
      const float* p = pre + i * out;
      float* y = Y + i * out;
      const float* src = p;
      if (L.gelu_before_norm) {
        gelu_row(p, out, tmp.data());
        src = tmp.data();
      }
      float mu = 0, var = 0;
      row_mean_var(src, out, &mu, &var);
      const float rstd = 1.0f / std::sqrt(var + kLayerNormEps);
      if (L.gelu_before_norm) {
        norm_row(src, out, mu, rstd, y);
        continue;
      }
      float* xh_out = c ? c->xhat.data() + i * out : xh.data();
      float* nv_out = c ? c->normed.data() + i * out : nv.data();
      float* cdf_out = c ? c->cdf.data() + i * out : cdf.data();
      norm_gelu_row(src, out, affine ? L.gamma.data() : nullptr, affine ? L.beta.data() : nullptr,
                    mu, rstd, xh_out, nv_out, cdf_out, y);
      if (c) c->rstd[i] = rstd;
    }
  });
}

}  // namespace

void psi_forward(const PsiWeights& w, const float* X, int64_t n, float* Z, std::vector<PsiLayerCache>* cache,
                 int threads) {
  if (cache) cache->resize(w.layers.size());
  const float* in = X;
  std::vector<float> buf[2];
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const bool last = l + 1 == w.layers.size();
    float* out;
    if (cache) {
      (*cache)[l].act.resize(static_cast<size_t>(n) * w.layers[l].out);
      out = (*cache)[l].act.data();
    } else if (last) {
      out = Z;
    } else {
      buf[l % 2].resize(static_cast<size_t>(n) * w.layers[l].out);
      out = buf[l % 2].data();
    }
    layer_forward(w.layers[l], in, n, out, cache ? &(*cache)[l] : nullptr, threads);
    in = out;
  }
  if (cache) std::copy(cache->back().act.begin(), cache->back().act.end(), Z);
}

// Rows per block: a block's pre-activations (256 x 2048 floats = 2 MB) stay in cache between
// the GEMM that writes them and the LayerNorm/GELU pass that reads them (measured 3x faster
// than 4096-row blocks, which stream them through memory).
constexpr int64_t kForwardBlock = 256;

void psi_forward_blocked(const PsiWeights& w, const float* X, int64_t n, float* Z, int threads) {
  for (int64_t i = 0; i < n; i += kForwardBlock) {
    const int64_t b = std::min(kForwardBlock, n - i);
    psi_forward(w, X + i * w.dim, b, Z + i * w.hidden, nullptr, threads);
  }
}

void psi_query_features(const PsiWeights& w, const float* Q, const int32_t* counts, int64_t nq, float divisor,
                        float* F, int threads) {
  int64_t total = 0;
  for (int64_t i = 0; i < nq; ++i) total += counts[i];
  std::vector<int64_t> owner(total);  // token row -> query
  for (int64_t i = 0, r = 0; i < nq; ++i)
    for (int32_t t = 0; t < counts[i]; ++t) owner[r++] = i;
  std::fill(F, F + nq * w.hidden, 0.0f);
  // sized to the call, not to a full block: a single query must not fault in 2 MB per call
  std::vector<float> Z(static_cast<size_t>(std::min(kForwardBlock, std::max<int64_t>(total, 1))) * w.hidden);
  for (int64_t r0 = 0; r0 < total; r0 += kForwardBlock) {
    const int64_t b = std::min(kForwardBlock, total - r0);
    psi_forward(w, Q + r0 * w.dim, b, Z.data(), nullptr, threads);
    for (int64_t r = 0; r < b; ++r) {
      float* f = F + owner[r0 + r] * w.hidden;
      const float* z = Z.data() + r * w.hidden;
      for (int j = 0; j < w.hidden; ++j) f[j] += z[j];
    }
  }
  const float inv = 1.0f / divisor;
  for (int64_t i = 0; i < nq * w.hidden; ++i) F[i] *= inv;
}

}  // namespace lemur
