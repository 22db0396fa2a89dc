// LEMUR's per-document weights by ordinary least squares: Z = ψ(sample) (s x h) is fixed per
// model version, pinv(Z) computed once by SVD, and each document's row of W is
// pinv(Z) · ((Y_j - mean) / std) with Y_j the max-sims of the sample against document j.
// Documents are processed in fixed-shape blocks, so a document's row is bit-identical whether
// it is weighted with the whole corpus or alone, later (incremental ingestion).
#pragma once
#include <cstdint>
#include <vector>

#include "docs_view.h"
#include "maxsim_ops.h"
#include "progress.h"
#include "status.h"

namespace lemur {

// Documents per OLS block: bounds the block's targets Y (s x block floats, 16 MB at s = 16 384).
// The projection's per-element order is fixed (fixed_order_gemm.h), so rows do not depend on
// the block size or a document's place in it.
constexpr int64_t kOlsBlock = 256;

// pinvT (s x h) = pinv(Z)ᵀ for Z (s x h), with singular values below
// eps · max(s, h) · σmax dropped (numpy/torch's default cutoff). *rank gets the kept count.
// `threads` sizes our own row loops; LAPACK/BLAS run on the process-wide count (blas.h).
Status ols_basis(const float* Z, int64_t s, int h, int threads, std::vector<float>* pinvT, int* rank);

// W (ndocs x h): rows for docs[doc_idx[j]]. sample: s x dim probe vectors (the pinned OLS sample).
// `progress` (optional) gets (documents done, ndocs), counted as the blocks' targets fill, then
// (ndocs, ndocs) once every row is written.
Status ols_weights(const DocsView& docs, const float* sample, int64_t s, const float* pinvT, int h, float mean,
                   float std, const int64_t* doc_idx, int64_t ndocs, const MaxsimOptions& opt, float* W,
                   const ProgressFn& progress = {});

// In-place (Y - mean) / std over n values; returns the global mean and (population) std.
Status standardize(float* Y, int64_t n, int threads, float* mean, float* std);

// Exact inner-product top-k of nq queries F (nq x h) over n rows W (n x h): blocked sgemm plus
// per-query selection, memory O(nq · block) whatever n. `threads` sizes the selection; the
// sgemm runs on the process-wide BLAS count (blas.h).
Status ip_topk(const float* F, int64_t nq, const float* W, int64_t n, int h, int64_t k, int threads,
               int64_t* labels, float* distances);

// Rows of the store's tokens by global token index (n x dim, fp16 widened).
Status gather_tokens(const DocsView& docs, const int64_t* token_idx, int64_t n, float* out);

}  // namespace lemur
