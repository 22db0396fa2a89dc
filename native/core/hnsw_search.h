// HNSW search over a graph held in Faiss's layout wherever it lives (a mapped file: see
// mapped_ip_index.h), scoring rows through a RowsView. It is Faiss 1.7.3's IndexHNSW::search
// for an inner-product index with default parameters (upper_beam 1, search_bounded_queue,
// check_relative_distance), step for step: greedy descent from the entry point on the upper
// levels, then the bounded beam on level 0. The candidate heap, the result heap and the visited
// table are Faiss's own (HNSW::MinimaxHeap, faiss/utils/Heap.h, VisitedTable), and a row's
// distance is -PreparedQuery::ip, what IpIndex's Faiss distance computer returns. So on the same
// file at the same efSearch the labels and distances are IpIndex::search's, bit for bit.
// Not here: building or changing a graph (hnsw_build.h), file parsing, external ids.
#pragma once
#include <cstdint>

#include "row_codec.h"
#include "status.h"

namespace lemur {

// A read-only HNSW graph. Node i's links at level l are the int32 values at neighbors +
// 4 * (offsets[i] + cum[l]) up to offsets[i] + cum[l + 1], -1 ending a short list. The caller
// guarantees the tables agree (every node's slot holds cum[its levels] entries inside the
// array, the entry point is on level max_level); link targets are checked as they are read.
struct HnswGraphView {
  int64_t ntotal = 0;
  const int* cum = nullptr;          // cum_nneighbor_per_level
  const uint64_t* offsets = nullptr; // ntotal + 1
  const uint8_t* neighbors = nullptr;  // int32 values at any alignment
  int entry_point = -1;
  int max_level = -1;
};

// k best rows per query (labels = row positions, distances = inner products, descending; -1 and
// -inf where fewer are found), queries split over `threads` threads (parallel.h); each query's
// result does not depend on the split. A link to a node outside [0, ntotal) or a descent onto a
// node without that level is kCorruptFile (the message names node and level).
Status hnsw_search(const HnswGraphView& g, const RowsView& rows, const float* q, int64_t nq, int64_t k, int ef_search,
                   int threads, int64_t* labels, float* distances);

}  // namespace lemur
