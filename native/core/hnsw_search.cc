// HNSW search over a graph view (see hnsw_search.h). The control flow follows Faiss 1.7.3's
// HNSW::search / greedy_update_nearest / search_from_candidates (impl/HNSW.cpp) as read, with
// Faiss's heap and visited-table types, so ties and the visit order are Faiss's own. What differs
// is only where the graph lives: links are read with unaligned loads from the view, and each one
// followed is range-checked, because a mapped file was never checked link by link.
#include "hnsw_search.h"

#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/HNSW.h>
#include <faiss/utils/Heap.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "parallel.h"

namespace lemur {

namespace {

using node_t = faiss::HNSW::storage_idx_t;

// One thread's searcher: a visited table over all nodes (one byte each, cleared lazily by
// Faiss's epoch counter) and the prepared query, reused from query to query.
class Searcher {
 public:
  Searcher(const HnswGraphView& g, const RowsView& rows) : g_(g), rows_(rows), visited_(static_cast<int>(g.ntotal)) {}

  // Faiss's IndexHNSW::search body for one query: results land in I / D as a max-heap on the
  // negated inner product, then sorted; the distances are turned back into inner products.
  Status run(const float* x, int64_t k, int ef_search, int64_t* I, float* D) {
    faiss::maxheap_heapify(k, D, I);
    q_.set(rows_, x);
    Status st;
    if (g_.entry_point >= 0) {
      node_t nearest = g_.entry_point;
      float d_nearest = dis(nearest);
      for (int level = g_.max_level; level >= 1 && st.ok(); --level) st = greedy(level, &nearest, &d_nearest);
      if (st.ok()) {
        // the candidate queue holds max(efSearch, k); the stopping rule compares with efSearch
        faiss::HNSW::MinimaxHeap candidates(std::max(ef_search, static_cast<int>(k)));
        candidates.push(nearest, d_nearest);
        st = beam(static_cast<int>(k), ef_search, candidates, I, D);
      }
      visited_.advance();
    }
    faiss::maxheap_reorder(k, D, I);
    for (int64_t i = 0; i < k; ++i) D[i] = I[i] >= 0 ? -D[i] : -std::numeric_limits<float>::infinity();
    return st;
  }

 private:
  // HNSW keeps the smallest distances: for inner product Faiss negates the score (its
  // NegativeDistanceComputer), and so do we.
  float dis(node_t i) const { return -q_.ip(rows_, i); }

  uint64_t begin(node_t i, int level) const { return g_.offsets[i] + g_.cum[level]; }
  uint64_t end(node_t i, int level) const { return g_.offsets[i] + g_.cum[level + 1]; }
  node_t link(uint64_t j) const {
    node_t v;
    std::memcpy(&v, g_.neighbors + 4 * j, sizeof v);  // a packed file: no alignment to rely on
    return v;
  }
  Status bad_link(node_t from, int level, node_t to) const {
    return Status::Error(StatusCode::kCorruptFile, "HNSW node " + std::to_string(from) + " links at level " + std::to_string(level) +
                                                       " to " + std::to_string(to) + ", outside [0, " + std::to_string(g_.ntotal) + ")");
  }

  // greedy_update_nearest: sweep the current node's list (fixed when the sweep starts) for a
  // strictly closer node, until a sweep moves nowhere.
  Status greedy(int level, node_t* nearest, float* d_nearest) {
    for (;;) {
      const node_t prev = *nearest;
      if (end(prev, level) > g_.offsets[prev + 1]) {
        return Status::Error(StatusCode::kCorruptFile, "HNSW descent reached node " + std::to_string(prev) + ", which has no level " + std::to_string(level));
      }
      for (uint64_t j = begin(prev, level), e = end(prev, level); j < e; ++j) {
        const node_t v = link(j);
        if (v < 0) break;
        if (v >= g_.ntotal) return bad_link(prev, level, v);
        const float d = dis(v);
        if (d < *d_nearest) {
          *nearest = v;
          *d_nearest = d;
        }
      }
      if (*nearest == prev) return Status::Ok();
    }
  }

  // The result heap's insertion rule, shared by the seeds and the expansions.
  static void keep(int k, int* nres, int64_t* I, float* D, float d, node_t v) {
    if (*nres < k) {
      faiss::maxheap_push(++*nres, D, I, d, static_cast<int64_t>(v));
    } else if (d < D[0]) {
      faiss::maxheap_replace_top(*nres, D, I, d, static_cast<int64_t>(v));
    }
  }

  // search_from_candidates on level 0 with the relative-distance stop: expand the closest
  // unexpanded candidate until efSearch queued candidates are closer than it.
  Status beam(int k, int ef_search, faiss::HNSW::MinimaxHeap& candidates, int64_t* I, float* D) {
    int nres = 0;
    for (int i = 0; i < candidates.size(); ++i) {
      keep(k, &nres, I, D, candidates.dis[i], candidates.ids[i]);
      visited_.set(candidates.ids[i]);
    }
    while (candidates.size() > 0) {
      float d0 = 0;
      const node_t v0 = candidates.pop_min(&d0);
      if (candidates.count_below(d0) >= ef_search) break;
      for (uint64_t j = begin(v0, 0), e = end(v0, 0); j < e; ++j) {
        const node_t v1 = link(j);
        if (v1 < 0) break;
        if (v1 >= g_.ntotal) return bad_link(v0, 0, v1);
        if (visited_.get(v1)) continue;
        visited_.set(v1);
        const float d = dis(v1);
        keep(k, &nres, I, D, d, v1);
        candidates.push(v1, d);
      }
    }
    return Status::Ok();
  }

  const HnswGraphView& g_;
  const RowsView& rows_;
  faiss::VisitedTable visited_;
  PreparedQuery q_;
};

}  // namespace

Status hnsw_search(const HnswGraphView& g, const RowsView& rows, const float* q, int64_t nq, int64_t k, int ef_search,
                   int threads, int64_t* labels, float* distances) {
  const int nt = std::max(1, threads);
  std::vector<std::unique_ptr<Searcher>> searchers(nt);  // made on first use: a table of ntotal bytes each
  std::vector<Status> errors(nt);
  std::atomic<bool> failed{false};
  parallel_for(nq, nt, 1, [&](int64_t b, int64_t e, int t) {
    if (!searchers[t]) searchers[t] = std::make_unique<Searcher>(g, rows);
    for (int64_t i = b; i < e && !failed.load(std::memory_order_relaxed); ++i) {
      Status st = searchers[t]->run(q + i * rows.d, k, ef_search, labels + i * k, distances + i * k);
      if (!st.ok()) {
        errors[t] = std::move(st);
        failed.store(true);
      }
    }
  });
  for (Status& st : errors)
    if (!st.ok()) return st;
  return Status::Ok();
}

}  // namespace lemur
