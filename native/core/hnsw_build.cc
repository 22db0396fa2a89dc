// Deterministic HNSW insertion (see hnsw_build.h). Faiss 1.7.3's own add inserts nodes
// concurrently under per-node locks, so which node sees which links depends on thread timing.
// Here nodes are inserted in batches whose boundaries depend only on the graph size:
//   1. every node of a batch searches the graph as frozen at the batch start (read-only, in
//      parallel) and writes only its own, still unreachable, neighbour lists;
//   2. reverse links are grouped by target list and each target list is updated by one thread
//      from its own contents plus its requests in batch order (disjoint writes, in parallel);
//   3. the entry point is updated sequentially in batch order.
// No step reads anything another thread of the same step writes, so the bytes are fixed. Ties
// between equal distances are broken by node id, never by heap or thread order.
// Not here: search (Faiss's), level draws (faiss::HNSW::prepare_level_tab), file I/O.
#include "hnsw_build.h"

#include <faiss/impl/HNSW.h>

#include <algorithm>
#include <cstddef>
#include <queue>
#include <vector>

#include "parallel.h"

namespace lemur {

namespace {

using node_t = faiss::HNSW::storage_idx_t;

// Batches grow with the graph, so most of the build runs in parallel. A node cannot reach the
// other new nodes of its batch through the frozen graph, so they are offered to it directly
// (link_new's `earlier`), at b/2 extra distances per node. Measured on 10k random 2048-d rows
// (recall@10, efSearch 200, 1000 queries): without those direct offers divisor 8 -> 0.761,
// 32 -> 0.763, 128 -> 0.768; with them 32 -> 0.772, 128 -> 0.771; Faiss's own add 0.776-0.778
// (other data/query seeds: 0.784-0.785 here vs Faiss 0.777-0.780, so the gap is noise).
// The cap bounds the direct offers' cost on big graphs. Changing either constant changes the
// bytes of every index built afterwards.
constexpr int64_t kBatchDivisor = 32;
constexpr int64_t kMaxBatch = 512;

int64_t batch_size(int64_t inserted) {
  return std::clamp<int64_t>(inserted / kBatchDivisor, 1, kMaxBatch);
}

// dis = -<x, y>: HNSW keeps the smallest distances, as Faiss's inner-product HNSW does.
struct Cand {
  float dis;
  node_t id;
};
inline bool closer(const Cand& a, const Cand& b) { return a.dis < b.dis || (a.dis == b.dis && a.id < b.id); }
struct FartherFirst {  // max-heap on closeness: the worst kept result on top
  bool operator()(const Cand& a, const Cand& b) const { return closer(a, b); }
};
struct CloserFirst {  // min-heap: the best unexpanded candidate on top
  bool operator()(const Cand& a, const Cand& b) const { return closer(b, a); }
};

// Per-thread state: an epoch-stamped visited table (no clearing per search), the node being
// linked as a prepared query, and the kept neighbours of a selection as prepared queries.
struct Scratch {
  std::vector<uint32_t> seen;
  uint32_t epoch = 0;
  PreparedQuery base;
  std::vector<PreparedQuery> kept;
  void next_epoch(size_t ntotal) {
    if (seen.size() < ntotal) seen.resize(ntotal, 0);
    if (++epoch == 0) {  // wrapped: stale stamps could now match
      std::fill(seen.begin(), seen.end(), 0);
      epoch = 1;
    }
  }
  bool visit(node_t v) {
    if (seen[v] == epoch) return false;
    seen[v] = epoch;
    return true;
  }
};

// One new node's links: (level, neighbour, distance), what phase 2 turns into reverse links.
struct Link {
  int level;
  node_t other;
  float dis;
};

struct ReverseLink {
  node_t target;
  int level;
  int rank;  // position of the source in the batch
  node_t source;
  float dis;
};

class Builder {
 public:
  Builder(faiss::HNSW& h, const RowsView& rows) : h_(h), rows_(rows) {}

  float dis(const PreparedQuery& q, node_t j) const { return -q.ip(rows_, j); }

  // The slice of node i's neighbour table for one level; -1 marks the end of a short list.
  node_t* begin(node_t i, int level) const { return h_.neighbors.data() + h_.offsets[i] + h_.cum_nneighbor_per_level[level]; }
  node_t* end(node_t i, int level) const { return h_.neighbors.data() + h_.offsets[i] + h_.cum_nneighbor_per_level[level + 1]; }

  // Moves `cur` downhill on one level until no neighbour is closer.
  void greedy(const PreparedQuery& q, int level, Cand* cur) const {
    for (bool moved = true; moved;) {
      moved = false;
      for (const node_t* p = begin(cur->id, level); p != end(cur->id, level) && *p >= 0; ++p) {
        const Cand c{dis(q, *p), *p};
        if (closer(c, *cur)) {
          *cur = c;
          moved = true;
        }
      }
    }
  }

  // Beam search of width ef on one level from `entry`; out = results, closest first.
  void beam(const PreparedQuery& q, int level, Cand entry, int ef, Scratch* s, std::vector<Cand>* out) const {
    s->next_epoch(h_.levels.size());
    std::priority_queue<Cand, std::vector<Cand>, CloserFirst> todo;
    std::priority_queue<Cand, std::vector<Cand>, FartherFirst> best;
    s->visit(entry.id);
    todo.push(entry);
    best.push(entry);
    while (!todo.empty()) {
      const Cand c = todo.top();
      if (static_cast<int>(best.size()) >= ef && closer(best.top(), c)) break;
      todo.pop();
      for (const node_t* p = begin(c.id, level); p != end(c.id, level) && *p >= 0; ++p) {
        if (!s->visit(*p)) continue;
        const Cand v{dis(q, *p), *p};
        if (static_cast<int>(best.size()) < ef || closer(v, best.top())) {
          todo.push(v);
          best.push(v);
          if (static_cast<int>(best.size()) > ef) best.pop();
        }
      }
    }
    out->resize(best.size());
    for (size_t i = best.size(); i-- > 0; best.pop()) (*out)[i] = best.top();
  }

  // HNSW's neighbour-selection heuristic over candidates sorted closest first: keep a candidate
  // unless it is closer to an already kept one than to the base node, up to `cap`. Lists that
  // fit are kept whole, as Faiss does. A kept node is prepared once as the query side of its
  // comparisons (for fp32 rows <kept, c> has the bits of <c, kept>: each FMA's product commutes).
  void select(std::vector<Cand>* cands, int cap, Scratch* s) const {
    if (static_cast<int>(cands->size()) <= cap) return;
    if (static_cast<int>(s->kept.size()) < cap) s->kept.resize(cap);
    std::vector<Cand> kept;
    kept.reserve(cap);
    for (const Cand& c : *cands) {
      bool good = true;
      for (size_t k = 0; k < kept.size(); ++k) {
        if (dis(s->kept[k], c.id) < c.dis) {
          good = false;
          break;
        }
      }
      if (good) {
        s->kept[kept.size()].set_row(rows_, c.id);
        kept.push_back(c);
        if (static_cast<int>(kept.size()) >= cap) break;
      }
    }
    cands->swap(kept);
  }

  void write(node_t i, int level, const std::vector<Cand>& list) const {
    node_t* p = begin(i, level);
    node_t* e = end(i, level);
    for (const Cand& c : list) *p++ = c.id;
    std::fill(p, e, node_t{-1});
  }

  // Phase 1 for one node: search the frozen graph from (entry, top), set its own lists.
  // `earlier` are the nodes before it in its batch: not in the frozen graph, so they join the
  // candidates directly (what a sequential insertion's search could have found), as plain
  // candidates only, never as search entries (their lists are being written meanwhile).
  void link_new(node_t i, node_t entry, int top, int ef, const node_t* earlier, int64_t nearlier, Scratch* s,
                std::vector<Link>* links) const {
    links->clear();
    if (entry < 0) return;
    PreparedQuery& q = s->base;
    q.set_row(rows_, i);
    const int node_top = h_.levels[i] - 1;
    Cand cur{dis(q, entry), entry};
    int level = top;
    for (; level > node_top; --level) greedy(q, level, &cur);
    std::vector<Cand> peers(static_cast<size_t>(nearlier));
    for (int64_t k = 0; k < nearlier; ++k) peers[k] = Cand{dis(q, earlier[k]), earlier[k]};
    std::vector<Cand> found;
    // Levels above the frozen graph's top (a later add drew higher levels): peers only.
    for (int l = node_top; l > top; --l) {
      found.clear();
      link_level(i, l, ef, peers, &found, s, links);
    }
    for (; level >= 0; --level) {
      beam(q, level, cur, ef, s, &found);
      cur = found.front();  // the next level down starts from the closest found here
      link_level(i, level, ef, peers, &found, s, links);
    }
  }

  // Node i's list on one level: the search's results plus the peers on that level, best ef,
  // thinned by the heuristic.
  void link_level(node_t i, int level, int ef, const std::vector<Cand>& peers, std::vector<Cand>* found, Scratch* s,
                  std::vector<Link>* links) const {
    const size_t nfound = found->size();
    for (const Cand& c : peers) {
      if (h_.levels[c.id] > level) found->push_back(c);
    }
    if (found->size() > nfound) {
      std::sort(found->begin(), found->end(), closer);
      if (static_cast<int>(found->size()) > ef) found->resize(ef);
    }
    select(found, h_.nb_neighbors(level), s);
    write(i, level, *found);
    for (const Cand& c : *found) links->push_back(Link{level, c.id, c.dis});
  }

  // Phase 2 for one target list: its current links plus the batch's requests (in batch order).
  void link_back(const ReverseLink* r, const ReverseLink* r_end, Scratch* s) const {
    const node_t t = r->target;
    const int level = r->level;
    const int cap = h_.nb_neighbors(level);
    node_t* b = begin(t, level);
    node_t* e = end(t, level);
    node_t* used = std::find(b, e, node_t{-1});
    if ((used - b) + (r_end - r) <= cap) {
      for (; r != r_end; ++r) *used++ = r->source;
      return;
    }
    PreparedQuery& x = s->base;
    x.set_row(rows_, t);
    std::vector<Cand> cands;
    cands.reserve((used - b) + (r_end - r));
    for (const node_t* p = b; p != used; ++p) cands.push_back(Cand{dis(x, *p), *p});
    for (; r != r_end; ++r) cands.push_back(Cand{r->dis, r->source});
    std::sort(cands.begin(), cands.end(), closer);
    select(&cands, cap, s);
    write(t, level, cands);
  }

 private:
  faiss::HNSW& h_;
  const RowsView& rows_;
};

}  // namespace

void hnsw_add_deterministic(faiss::HNSW& hnsw, const RowsView& rows, int64_t n0, int64_t n, int threads,
                            ProgressMeter* progress) {
  if (n <= 0) return;
  hnsw.prepare_level_tab(static_cast<size_t>(n), false);
  threads = std::max(1, threads);

  // Insertion order: highest level first (upper layers exist before the crowd arrives, as in
  // Faiss's add), ascending id within a level.
  std::vector<node_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = static_cast<node_t>(n0 + i);
  std::stable_sort(order.begin(), order.end(), [&](node_t a, node_t b) { return hnsw.levels[a] > hnsw.levels[b]; });

  Builder builder(hnsw, rows);
  std::vector<Scratch> scratch(static_cast<size_t>(threads));
  std::vector<std::vector<Link>> links;
  std::vector<ReverseLink> requests;
  std::vector<size_t> group_start;
  const int ef = hnsw.efConstruction;

  for (int64_t start = 0; start < n;) {
    const int64_t inserted = n0 + start;
    const int64_t bs = std::min(batch_size(inserted), n - start);
    const node_t entry = hnsw.entry_point;
    const int top = hnsw.max_level;
    links.resize(static_cast<size_t>(bs));

    // 1. search the frozen graph; each node writes only its own lists
    parallel_for(bs, threads, 1, [&](int64_t b, int64_t e, int t) {
      for (int64_t j = b; j < e; ++j) {
        builder.link_new(order[start + j], entry, top, ef, order.data() + start, j, &scratch[t], &links[j]);
      }
    });

    // 2. reverse links, grouped by (target, level), each group in batch order
    requests.clear();
    for (int64_t j = 0; j < bs; ++j) {
      for (const Link& l : links[j]) {
        requests.push_back(ReverseLink{l.other, l.level, static_cast<int>(j), order[start + j], l.dis});
      }
    }
    std::sort(requests.begin(), requests.end(), [](const ReverseLink& a, const ReverseLink& b) {
      if (a.target != b.target) return a.target < b.target;
      if (a.level != b.level) return a.level < b.level;
      return a.rank < b.rank;
    });
    group_start.clear();
    for (size_t k = 0; k < requests.size(); ++k) {
      if (k == 0 || requests[k].target != requests[k - 1].target || requests[k].level != requests[k - 1].level) {
        group_start.push_back(k);
      }
    }
    group_start.push_back(requests.size());
    const int64_t ngroups = static_cast<int64_t>(group_start.size()) - 1;
    parallel_for(ngroups, threads, 16, [&](int64_t b, int64_t e, int t) {
      for (int64_t g = b; g < e; ++g) {
        builder.link_back(requests.data() + group_start[g], requests.data() + group_start[g + 1], &scratch[t]);
      }
    });

    // 3. a node above the current top becomes the entry point (first such node in batch order)
    for (int64_t j = 0; j < bs; ++j) {
      const node_t i = order[start + j];
      if (hnsw.entry_point < 0 || hnsw.levels[i] - 1 > hnsw.max_level) {
        hnsw.entry_point = i;
        hnsw.max_level = hnsw.levels[i] - 1;
      }
    }
    start += bs;
    progress_add(progress, static_cast<uint64_t>(bs));
  }
}

}  // namespace lemur
