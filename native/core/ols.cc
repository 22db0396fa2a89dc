#include "ols.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "blas.h"
#include "fixed_order_gemm.h"
#include "half.h"
#include "maxsim.h"
#include "parallel.h"
#include "topk.h"

namespace lemur {

Status ols_basis(const float* Z, int64_t s, int h, int threads, std::vector<float>* pinvT, int* rank) {
  if (s < h) {
    return Status::Error(StatusCode::kInvalidArgument, "OLS sample of " + std::to_string(s) +
                                                           " rows is smaller than the feature dimension " +
                                                           std::to_string(h) + ": the system is underdetermined");
  }
  std::vector<float> A(Z, Z + s * h);  // sgesdd overwrites its input
  std::vector<float> S(h), U(static_cast<size_t>(s) * h), VT(static_cast<size_t>(h) * h);
  const lapack_int info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', static_cast<lapack_int>(s), h, A.data(), h, S.data(),
                                         U.data(), h, VT.data(), h);
  if (info != 0) {
    return Status::Error(StatusCode::kInternal, "SVD of the OLS basis failed (LAPACKE_sgesdd info " + std::to_string(info) + ")");
  }
  const float cutoff = std::numeric_limits<float>::epsilon() * static_cast<float>(std::max<int64_t>(s, h)) * S[0];
  int r = 0;
  std::vector<float> inv(h);
  for (int i = 0; i < h; ++i) {
    inv[i] = S[i] > cutoff ? 1.0f / S[i] : 0.0f;
    r += S[i] > cutoff;
  }
  // pinv(Z)ᵀ = U Σ⁺ Vᵀ: scale U's columns, then one sgemm.
  parallel_for(s, threads, 256, [&](int64_t r0, int64_t r1, int) {
    for (int64_t i = r0; i < r1; ++i) {
      float* u = U.data() + i * h;
      for (int j = 0; j < h; ++j) u[j] *= inv[j];
    }
  });
  pinvT->assign(static_cast<size_t>(s) * h, 0.0f);
  sgemm_rm(false, false, static_cast<int>(s), h, h, 1.0f, U.data(), h, VT.data(), h, 0.0f, pinvT->data(), h);
  *rank = r;
  return Status::Ok();
}

Status ols_weights(const DocsView& docs, const float* sample, int64_t s, const float* pinvT, int h, float mean,
                   float std, const int64_t* doc_idx, int64_t ndocs, const MaxsimOptions& opt, float* W,
                   const ProgressFn& progress) {
  if (!(std > 0.0f) || !std::isfinite(mean)) {
    return Status::Error(StatusCode::kInvalidArgument, "target std must be positive and mean finite");
  }
  // Counted in target cells (s per document) as they fill: a block of 256 documents takes about
  // half a second on 2 cores, so counting whole blocks would report too rarely on small shards.
  ProgressMeter meter(progress, static_cast<uint64_t>(ndocs), static_cast<uint64_t>(s));
  ProgressMeter* pm = meter.active() ? &meter : nullptr;
  const int64_t block = std::min(kOlsBlock, ndocs);
  std::vector<float> Y(static_cast<size_t>(s) * block);
  const float inv_std = 1.0f / std;
  for (int64_t b0 = 0; b0 < ndocs; b0 += kOlsBlock) {
    const int64_t nb = std::min(kOlsBlock, ndocs - b0);
    // Y (s x nb): the block's targets, standardised in place (one rounding per op, no fusing:
    // the build compiles ISO C++, so -ffp-contract is off)
    LEMUR_RETURN_IF_ERROR(maxsim_targets(docs, sample, s, doc_idx + b0, nb, opt, Y.data(), pm));
    for (int64_t i = 0; i < s * nb; ++i) Y[i] = (Y[i] - mean) * inv_std;
    // W rows = Yᵀ · pinvT in the fixed per-element order: the same bits for a document at any
    // position of any block, on any kernel and thread count
    fixed_order_gemm_tn(Y.data(), nb, pinvT, h, s, nb, h, W + b0 * h, h, opt.threads, opt.kernel);
  }
  meter.finish();
  return Status::Ok();
}

Status standardize(float* Y, int64_t n, int threads, float* mean, float* std) {
  if (n <= 0) return Status::Error(StatusCode::kInvalidArgument, "no values to standardise");
  // Per-chunk sums in double, combined in chunk order: the result does not depend on threads.
  constexpr int64_t kChunk = 1 << 20;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> sums(chunks), sqs(chunks);
  parallel_for(chunks, threads, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t c = b; c < e; ++c) {
      double s = 0;
      const int64_t end = std::min(n, (c + 1) * kChunk);
      for (int64_t i = c * kChunk; i < end; ++i) s += Y[i];
      sums[c] = s;
    }
  });
  double total = 0;
  for (double s : sums) total += s;
  const double mu = total / static_cast<double>(n);
  parallel_for(chunks, threads, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t c = b; c < e; ++c) {
      double q = 0;
      const int64_t end = std::min(n, (c + 1) * kChunk);
      for (int64_t i = c * kChunk; i < end; ++i) q += (Y[i] - mu) * (Y[i] - mu);
      sqs[c] = q;
    }
  });
  double sq = 0;
  for (double q : sqs) sq += q;
  const double sd = std::sqrt(sq / static_cast<double>(n));
  if (!std::isfinite(mu) || !std::isfinite(sd)) return Status::Error(StatusCode::kInvalidInput, "targets contain non-finite values");
  if (sd == 0) return Status::Error(StatusCode::kInvalidInput, "targets are constant (std 0): nothing to learn");
  const float m = static_cast<float>(mu), inv = static_cast<float>(1.0 / sd);
  parallel_for(n, threads, kChunk, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) Y[i] = (Y[i] - m) * inv;
  });
  *mean = m;
  *std = static_cast<float>(sd);
  return Status::Ok();
}

// A few queries: one pass over W with the dispatched dot product, each row read once from memory
// for all of them, rows split over the threads. sgemm would compute the same products at
// matrix-vector speed on one thread (OpenBLAS does not split a 1-row product), and this scan is
// bound by reading W, so it wants every core's memory bandwidth.
constexpr int64_t kDotScanMaxQueries = 7;  // the query engine's "a few queries" (< 8)

Status ip_topk_dot_scan(const float* F, int64_t nq, const float* W, int64_t n, int h, int64_t k, int threads,
                        Kernel kernel, int64_t* labels, float* distances) {
  const KernelTable& kt = kernel_table(kernel);
  const int nt = std::max(1, threads);
  std::vector<std::vector<TopK>> local(nt);
  for (auto& l : local)
    for (int64_t q = 0; q < nq; ++q) l.emplace_back(k);
  parallel_for(n, nt, 256, [&](int64_t b, int64_t e, int t) {
    std::vector<TopK>& tops = local[t];
    for (int64_t j = b; j < e; ++j) {
      const float* w = W + j * h;
      for (int64_t q = 0; q < nq; ++q) tops[q].push(kt.dot(F + q * h, w, h), j);
    }
  });
  // the tie rule (higher score, then lower row) makes the merge independent of the split
  for (int64_t q = 0; q < nq; ++q) {
    TopK all(k);
    for (const auto& l : local)
      for (const Hit& hit : l[q].hits()) all.push(hit.score, hit.label);
    all.write(labels + q * k, distances + q * k);
  }
  return Status::Ok();
}

Status ip_topk(const float* F, int64_t nq, const float* W, int64_t n, int h, int64_t k, int threads,
               int64_t* labels, float* distances) {
  if (nq <= kDotScanMaxQueries) return ip_topk_dot_scan(F, nq, W, n, h, k, threads, default_kernel(), labels, distances);
  constexpr int64_t kBlock = 4096;
  std::vector<TopK> tops;
  tops.reserve(nq);
  for (int64_t i = 0; i < nq; ++i) tops.emplace_back(k);
  std::vector<float> S(static_cast<size_t>(nq) * kBlock);
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t nb = std::min(kBlock, n - b0);
    sgemm_rm(false, true, static_cast<int>(nq), static_cast<int>(nb), h, 1.0f, F, h, W + b0 * h, h, 0.0f, S.data(),
             static_cast<int>(nb));
    parallel_for(nq, threads, 16, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const float* row = S.data() + i * nb;
        TopK& t = tops[i];
        for (int64_t j = 0; j < nb; ++j) t.push(row[j], b0 + j);
      }
    });
  }
  for (int64_t i = 0; i < nq; ++i) tops[i].write(labels + i * k, distances + i * k);
  return Status::Ok();
}

Status gather_tokens(const DocsView& docs, const int64_t* token_idx, int64_t n, float* out) {
  const int64_t total = static_cast<int64_t>(docs.offsets[docs.n_docs]);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = token_idx[i];
    if (t < 0 || t >= total) {
      return Status::Error(StatusCode::kInvalidArgument, "tokenIndices[" + std::to_string(i) + "] = " +
                                                             std::to_string(t) + " is outside [0, " + std::to_string(total) + ")");
    }
    float* dst = out + i * docs.dim;
    if (docs.dtype == DType::kF32) {
      std::memcpy(dst, static_cast<const float*>(docs.vectors) + t * docs.dim, sizeof(float) * docs.dim);
    } else {
      const uint16_t* src = static_cast<const uint16_t*>(docs.vectors) + t * docs.dim;
      for (int k = 0; k < docs.dim; ++k) dst[k] = half_to_float(src[k]);
    }
  }
  return Status::Ok();
}

}  // namespace lemur
