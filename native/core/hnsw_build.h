// Deterministic parallel insertion into a Faiss HNSW graph (issue 11): the graph built for the
// same vectors in the same order has the same bytes with any thread count, run after run. It
// does not replace Faiss's search, storage or file format: it only fills faiss::HNSW's public
// tables (levels, offsets, neighbors, entry_point, max_level), so plain faiss::read_index reads
// the result.
#pragma once
#include <cstdint>

#include "progress.h"
#include "row_codec.h"

namespace faiss {
struct HNSW;
}

namespace lemur {

// Inserts graph nodes [n0, n0 + n) of `hnsw`, whose vectors are rows n0.. of `rows` (rows.n =
// n0 + n stored rows, in any encoding), under the inner-product metric. Node i is scored
// against node j as a search would score it: PreparedQuery::set_row(i), then ip(j), so the
// graph is built on the stored (encoded) rows and search and build agree (for fp32 rows the
// score is KernelTable::dot, deterministic on every ISA). Levels are drawn from hnsw.rng
// exactly as Faiss's IndexHNSW::add draws them. Work runs on up to `threads` threads
// (parallel.h: plain threads, so exceptions reach the caller); the result does not depend on
// that number. `progress` (optional) is bumped by each batch's node count once the batch is
// linked; the caller calls finish(). Throws std::bad_alloc only.
void hnsw_add_deterministic(faiss::HNSW& hnsw, const RowsView& rows, int64_t n0, int64_t n, int threads,
                            ProgressMeter* progress = nullptr);

}  // namespace lemur
