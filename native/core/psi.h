// ψ, LEMUR's learned token embedding: Linear(dim -> h) + LayerNorm + GELU, then optional extra
// hidden layers Linear(h -> h) + LayerNorm + GELU. The bias-free output layer used only in
// training lives in psi_trainer. Forward runs its layers on the fixed-order GEMM
// (fixed_order_gemm.h), so a row's output never depends on its batch or the BLAS kernel;
// LayerNorm eps and the erf form of GELU follow PyTorch's defaults so models behave like the reference's (erf itself is evaluated
// branch-free to 1.5e-7 absolute, fast_math.h, below float32 rounding of its inputs).
#pragma once
#include <cstdint>
#include <vector>

#include "status.h"

namespace lemur {

constexpr float kLayerNormEps = 1e-5f;

struct PsiLayer {
  int in = 0, out = 0;
  std::vector<float> weight;  // out x in (PyTorch layout)
  std::vector<float> bias;    // out
  std::vector<float> gamma;   // out; empty = LayerNorm without affine (the ELM variant)
  std::vector<float> beta;    // out
  bool gelu_before_norm = false;  // ELM variant: GELU(Wx + b) then LayerNorm
};

struct PsiWeights {
  int dim = 0;
  int hidden = 0;
  std::vector<PsiLayer> layers;
};

// Per-layer intermediates kept for the backward pass.
struct PsiLayerCache {
  std::vector<float> pre;    // B x out: Wx + b
  std::vector<float> xhat;   // B x out: normalised
  std::vector<float> rstd;   // B: 1 / sqrt(var + eps)
  std::vector<float> normed; // B x out: gamma * xhat + beta (GELU input)
  std::vector<float> cdf;    // B x out: Φ(normed), reused by GELU's derivative
  std::vector<float> act;    // B x out: layer output
};

// Z (n x hidden) = ψ(X (n x dim)). `cache` (optional) keeps what backward needs. Row-wise
// work (LayerNorm, GELU) is split over `threads`; each row's arithmetic is the same whatever
// the split, so results do not depend on the thread count (sgemm's may).
void psi_forward(const PsiWeights& w, const float* X, int64_t n, float* Z, std::vector<PsiLayerCache>* cache,
                 int threads = 1);

// Z in blocks of rows so memory stays bounded for any n.
void psi_forward_blocked(const PsiWeights& w, const float* X, int64_t n, float* Z, int threads = 1);

// feature(Q) = Σ over the query's tokens of ψ(q) / divisor (32 in LEMUR, whatever the length).
void psi_query_features(const PsiWeights& w, const float* Q, const int32_t* counts, int64_t nq, float divisor,
                        float* F, int threads = 1);



}  // namespace lemur
