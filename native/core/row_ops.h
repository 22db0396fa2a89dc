// Vectorisable row kernels for ψ training (cloned per ISA with target_clones, dispatched at
// load time; never built for the host CPU). Reductions use 16 independent partial sums so the compiler
// can vectorise them without reassociating (and results stay deterministic).
#pragma once
#include <cstdint>

namespace lemur {

// Mean and population variance of n floats.
void row_mean_var(const float* x, int n, float* mean, float* var);

// Backward through GELU (Φ cached) and LayerNorm for one row: dn = dact · GELU'(normed),
// dp = rstd · (dxh − mean(dxh) − xhat · mean(dxh · xhat)) with dxh = dn · gamma.
void gelu_layernorm_backward_row(const float* dact, const float* xhat, const float* normed, const float* cdf,
                                 const float* gamma, float rstd, int n, float* dn, float* dp);

// d = O − T; O ← d · scale; returns Σ d² (partial sums in float, combined in double).
double residual_row(float* O, const float* T, int64_t n, float scale);

// Σ g² over n values.
double sum_squares(const float* g, int64_t n);

// One Adam step over n parameters with gradient scale (clipping) and bias corrections.
void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float grad_scale, float b1, float b2,
                 float step_size, float inv_bc2_sqrt, float eps);

}  // namespace lemur
