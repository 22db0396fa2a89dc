#include "row_ops.h"

#include <cmath>

#include "fast_math.h"

#define LEMUR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

namespace lemur {

namespace {
constexpr int kLanes = 16;
}

LEMUR_CLONES void row_mean_var(const float* __restrict x, int n, float* mean, float* var) {
  float acc[kLanes] = {0};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[j + l];
  float s = 0;
  for (; j < n; ++j) s += x[j];
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  const float mu = s / static_cast<float>(n);
  float acc2[kLanes] = {0};
  j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc2[l] += (x[j + l] - mu) * (x[j + l] - mu);
  float ss = 0;
  for (; j < n; ++j) ss += (x[j] - mu) * (x[j] - mu);
  for (int l = 0; l < kLanes; ++l) ss += acc2[l];
  *mean = mu;
  *var = ss / static_cast<float>(n);
}

LEMUR_CLONES void gelu_layernorm_backward_row(const float* __restrict dact, const float* __restrict xhat,
                                              const float* __restrict normed, const float* __restrict cdf,
                                              const float* __restrict gamma, float rstd, int n, float* __restrict dn,
                                              float* __restrict dp) {
  float a1[kLanes] = {0}, a2[kLanes] = {0};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const int k = j + l;
      const float pdf = 0.39894228040143268f * fast_exp(-0.5f * normed[k] * normed[k]);
      const float d = dact[k] * (cdf[k] + normed[k] * pdf);
      const float dxh = d * gamma[k];
      dn[k] = d;
      dp[k] = dxh;
      a1[l] += dxh;
      a2[l] += dxh * xhat[k];
    }
  }
  float s1 = 0, s2 = 0;
  for (; j < n; ++j) {
    const float pdf = 0.39894228040143268f * fast_exp(-0.5f * normed[j] * normed[j]);
    const float d = dact[j] * (cdf[j] + normed[j] * pdf);
    const float dxh = d * gamma[j];
    dn[j] = d;
    dp[j] = dxh;
    s1 += dxh;
    s2 += dxh * xhat[j];
  }
  for (int l = 0; l < kLanes; ++l) {
    s1 += a1[l];
    s2 += a2[l];
  }
  const float m1 = s1 / static_cast<float>(n), m2 = s2 / static_cast<float>(n);
  for (int k = 0; k < n; ++k) dp[k] = rstd * (dp[k] - m1 - xhat[k] * m2);
}

LEMUR_CLONES double residual_row(float* __restrict O, const float* __restrict T, int64_t n, float scale) {
  float acc[kLanes] = {0};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const float d = O[j + l] - T[j + l];
      acc[l] += d * d;
      O[j + l] = d * scale;
    }
  }
  double s = 0;
  for (; j < n; ++j) {
    const float d = O[j] - T[j];
    s += static_cast<double>(d) * d;
    O[j] = d * scale;
  }
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

LEMUR_CLONES double sum_squares(const float* __restrict g, int64_t n) {
  float acc[kLanes] = {0};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += g[j + l] * g[j + l];
  double s = 0;
  for (; j < n; ++j) s += static_cast<double>(g[j]) * g[j];
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

LEMUR_CLONES void adam_update(float* __restrict p, const float* __restrict g, float* __restrict m,
                              float* __restrict v, int64_t n, float grad_scale, float b1, float b2, float step_size,
                              float inv_bc2_sqrt, float eps) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * grad_scale;
    m[i] = b1 * m[i] + (1.0f - b1) * gi;
    v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_bc2_sqrt + eps);
  }
}

}  // namespace lemur
