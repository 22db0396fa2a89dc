// ψ forward: sgemm for the linear layers, a fused LayerNorm + GELU pass per row.
#include "psi.h"

#include <algorithm>
#include <cmath>

#include "blas.h"
#include "parallel.h"

namespace lemur {

float normal_cdf(float x) { return 0.5f * (1.0f + std::erf(x * 0.70710678118654752f)); }

float gelu(float x) { return x * normal_cdf(x); }

float gelu_grad(float x) {
  const float cdf = 0.5f * (1.0f + std::erf(x * 0.70710678118654752f));
  const float pdf = 0.39894228040143268f * std::exp(-0.5f * x * x);
  return cdf + x * pdf;
}

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
  for (int64_t i = 0; i < n; ++i) std::copy(L.bias.begin(), L.bias.end(), pre + i * out);
  sgemm_rm(false, true, static_cast<int>(n), out, L.in, 1.0f, X, L.in, L.weight.data(), L.in, 1.0f, pre, out);
  const bool affine = !L.gamma.empty();
  parallel_for(n, threads, 16, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> tmp(out);
    for (int64_t i = r0; i < r1; ++i) {
      const float* p = pre + i * out;
      float* y = Y + i * out;
      const float* src = p;
      if (L.gelu_before_norm) {
        for (int j = 0; j < out; ++j) tmp[j] = gelu(p[j]);
        src = tmp.data();
      }
      double s = 0, ss = 0;
      for (int j = 0; j < out; ++j) s += src[j];
      const double mu = s / out;
      for (int j = 0; j < out; ++j) ss += (src[j] - mu) * (src[j] - mu);
      const float rstd = static_cast<float>(1.0 / std::sqrt(ss / out + kLayerNormEps));
      for (int j = 0; j < out; ++j) {
        const float xh = static_cast<float>(src[j] - mu) * rstd;
        const float nv = affine ? L.gamma[j] * xh + L.beta[j] : xh;
        if (L.gelu_before_norm) {
          y[j] = nv;
        } else {
          const float cdf = normal_cdf(nv);
          y[j] = nv * cdf;
          if (c) c->cdf[i * out + j] = cdf;
        }
        if (c) {
          c->xhat[i * out + j] = xh;
          c->normed[i * out + j] = nv;
        }
      }
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

void psi_forward_blocked(const PsiWeights& w, const float* X, int64_t n, float* Z, int threads) {
  constexpr int64_t kBlock = 4096;
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t b = std::min(kBlock, n - i);
    psi_forward(w, X + i * w.dim, b, Z + i * w.hidden, nullptr, threads);
  }
}

void psi_query_features(const PsiWeights& w, const float* Q, const int32_t* counts, int64_t nq, float divisor,
                        float* F, int threads) {
  int64_t total = 0;
  for (int64_t i = 0; i < nq; ++i) total += counts[i];
  std::vector<float> Z(static_cast<size_t>(total) * w.hidden);
  psi_forward_blocked(w, Q, total, Z.data(), threads);
  const float inv = 1.0f / divisor;
  int64_t row = 0;
  for (int64_t i = 0; i < nq; ++i) {
    float* f = F + i * w.hidden;
    std::fill(f, f + w.hidden, 0.0f);
    for (int32_t t = 0; t < counts[i]; ++t, ++row) {
      const float* z = Z.data() + row * w.hidden;
      for (int j = 0; j < w.hidden; ++j) f[j] += z[j];
    }
    for (int j = 0; j < w.hidden; ++j) f[j] *= inv;
  }
}

}  // namespace lemur
