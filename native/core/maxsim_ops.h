// MaxSim operations over a DocsView: exact rerank of candidate lists, exact brute-force top-k,
// and LEMUR's target matrix. Inputs are trusted to be validated by the caller (the TS layer);
// the few checks here guard against out-of-bounds reads only.
#pragma once
#include <cstdint>

#include "cpu_features.h"
#include "docs_view.h"
#include "progress.h"
#include "status.h"

namespace lemur {

struct MaxsimOptions {
  Kernel kernel = Kernel::kScalar;
  int threads = 1;
};

// Queries: sum(query_counts) rows of dim floats, query i's rows following query i-1's.
struct QueryBatch {
  const float* vectors = nullptr;
  const int32_t* counts = nullptr;
  int64_t nq = 0;
};

// For each query i, candidates[i*kprime .. +kprime) are doc positions (-1 = none). Writes the
// k best by exact MaxSim, descending, ties to the lower position; duplicates count once; rows
// with fewer than k distinct candidates are padded with label -1 and score -inf.
Status maxsim_rerank(const DocsView& docs, const QueryBatch& q, const int64_t* candidates,
                     int64_t kprime, int64_t k, const MaxsimOptions& opt, int64_t* labels,
                     float* distances);

// Exact top-k over all docs. Blocked over queries and docs so memory stays O(nq*k + panels)
// whatever the corpus size.
Status maxsim_exact_topk(const DocsView& docs, const QueryBatch& q, int64_t k,
                         const MaxsimOptions& opt, int64_t* labels, float* distances);

// Y[i*ndocs + j] = max over tokens c of doc doc_indices[j] of <x_i, c>, for n vectors x.
// `progress` (optional) is bumped by the cells of Y filled (rows x documents), from the worker
// threads; the caller sizes its units and calls finish().
Status maxsim_targets(const DocsView& docs, const float* x, int64_t n, const int64_t* doc_indices,
                      int64_t ndocs, const MaxsimOptions& opt, float* Y, ProgressMeter* progress = nullptr);

}  // namespace lemur
