// Loops around the panel_max kernel: panels are built once per query (or per block of probe
// vectors), documents are visited in L2-sized chunks so each doc row is read from memory once
// per block of queries, and fp16 rows are widened once per chunk into a per-thread buffer.
#include "maxsim_ops.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "aligned_buffer.h"
#include "maxsim.h"
#include "parallel.h"
#include "topk.h"

namespace lemur {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Doc rows visited per chunk: 0.5 MB of fp32 at dim 128, a quarter of a 2 MB L2, leaving
// room for the query panels scored against it.
constexpr int64_t kChunkTokens = 1024;

// Access to one doc's rows as fp32, widening fp16 into `scratch` when needed.
class DocReader {
 public:
  DocReader(const DocsView& docs, const KernelTable& kt) : docs_(docs), kt_(kt) {}

  const float* rows(int64_t j, AlignedBuffer<float>* scratch) const {
    if (docs_.dtype == DType::kF32) return docs_.f32_rows(j);
    const size_t n = static_cast<size_t>(docs_.ntok(j)) * docs_.dim;
    scratch->resize(n);
    kt_.half_to_float(docs_.f16_rows(j), scratch->data(), n);
    return scratch->data();
  }

 private:
  const DocsView& docs_;
  const KernelTable& kt_;
};

// A chunk of docs widened to fp32 once (fp16 stores) or pointed at in place (fp32 stores).
struct Chunk {
  std::vector<int64_t> ids;
  std::vector<const float*> rows;
  std::vector<int64_t> ntok;
  AlignedBuffer<float> widened;

  void load(const DocsView& docs, const KernelTable& kt, const int64_t* doc_ids, int64_t begin,
            int64_t end) {
    ids.clear(); rows.clear(); ntok.clear();
    size_t total = 0;
    for (int64_t j = begin; j < end; ++j) {
      const int64_t id = doc_ids ? doc_ids[j] : j;
      ids.push_back(id);
      ntok.push_back(docs.ntok(id));
      total += static_cast<size_t>(docs.ntok(id)) * docs.dim;
    }
    if (docs.dtype == DType::kF16) {
      widened.resize(total);
      size_t at = 0;
      for (size_t i = 0; i < ids.size(); ++i) {
        const size_t n = static_cast<size_t>(ntok[i]) * docs.dim;
        kt.half_to_float(docs.f16_rows(ids[i]), widened.data() + at, n);
        rows.push_back(widened.data() + at);
        at += n;
      }
    } else {
      for (int64_t id : ids) rows.push_back(docs.f32_rows(id));
    }
  }
};

// Splits [0, n) into chunks of about kChunkTokens tokens (at least one doc each).
std::vector<int64_t> chunk_bounds(const DocsView& docs, const int64_t* doc_ids, int64_t n) {
  std::vector<int64_t> b{0};
  int64_t tokens = 0;
  for (int64_t j = 0; j < n; ++j) {
    tokens += docs.ntok(doc_ids ? doc_ids[j] : j);
    if (tokens >= kChunkTokens) {
      b.push_back(j + 1);
      tokens = 0;
    }
  }
  if (b.back() != n) b.push_back(n);
  return b;
}

std::vector<int64_t> query_offsets(const QueryBatch& q) {
  std::vector<int64_t> off(q.nq + 1, 0);
  for (int64_t i = 0; i < q.nq; ++i) off[i + 1] = off[i] + q.counts[i];
  return off;
}

inline void prefetch_doc_head(const DocsView& docs, int64_t j) {
  const char* p = docs.dtype == DType::kF32 ? reinterpret_cast<const char*>(docs.f32_rows(j))
                                            : reinterpret_cast<const char*>(docs.f16_rows(j));
  for (int b = 0; b < 1024; b += 64) __builtin_prefetch(p + b, 0, 3);
}

inline float lane_sum(const float* maxima, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += maxima[i];
  return s;
}

}  // namespace

namespace {

// Writes the k best distinct hits of one query (sorted by `better`), padding with -1 / -inf.
void write_top(std::vector<Hit>* hits, int64_t k, int64_t* labels, float* distances) {
  std::sort(hits->begin(), hits->end(),
            [](const Hit& a, const Hit& b) { return better(a.score, a.label, b.score, b.label); });
  hits->erase(std::unique(hits->begin(), hits->end(), [](const Hit& a, const Hit& b) { return a.label == b.label; }),
              hits->end());
  for (int64_t r = 0; r < k; ++r) {
    const bool have = r < static_cast<int64_t>(hits->size());
    labels[r] = have ? (*hits)[r].label : -1;
    distances[r] = have ? (*hits)[r].score : kNegInf;
  }
}

// One query at a time: its panel stays in L1 while its candidates stream past.
void rerank_per_query(const DocsView& docs, const QueryBatch& q, const std::vector<int64_t>& qoff,
                      const int64_t* candidates, int64_t kprime, int64_t k, const MaxsimOptions& opt,
                      const KernelTable& kt, int64_t* labels, float* distances) {
  const DocReader reader(docs, kt);
  parallel_for(q.nq, opt.threads, 1, [&](int64_t begin, int64_t end, int) {
    AlignedBuffer<float> panel, scratch, maxima;
    std::vector<Hit> hits;
    for (int64_t i = begin; i < end; ++i) {
      int lanes = 0;
      const int64_t nqt = q.counts[i];
      build_panel(q.vectors + qoff[i] * docs.dim, nqt, docs.dim, &panel, &lanes);
      maxima.resize(lanes);
      hits.clear();
      const int64_t* cand = candidates + i * kprime;
      for (int64_t c = 0; c < kprime; ++c) {
        const int64_t j = cand[c];
        if (j < 0) continue;
        // Candidates are scattered over the store: start the next one's first rows early so the
        // hardware prefetcher has a stream to follow (measured +20% on stores larger than L3).
        if (c + 1 < kprime && cand[c + 1] >= 0) prefetch_doc_head(docs, cand[c + 1]);
        kt.panel_max(panel.data(), docs.dim, lanes, reader.rows(j, &scratch), docs.ntok(j), maxima.data());
        hits.push_back({lane_sum(maxima.data(), nqt), j});
      }
      write_top(&hits, k, labels + i * k, distances + i * k);
    }
  });
}

// A batch of queries, grouped by document: every (query, candidate) pair is bucketed by its
// document, and documents are visited in store order, so each document's rows are read from
// memory once per batch however many queries share it (random candidates of one query at a
// time are memory-bound: a doc's 35 KB feed only one query's 0.57 MFLOP).
void rerank_grouped(const DocsView& docs, const QueryBatch& q, const std::vector<int64_t>& qoff,
                    const int64_t* candidates, int64_t kprime, int64_t k, const MaxsimOptions& opt,
                    const KernelTable& kt, int64_t* labels, float* distances) {
  // panels of every query, built once
  std::vector<AlignedBuffer<float>> panels(q.nq);
  std::vector<int> lanes(q.nq);
  parallel_for(q.nq, opt.threads, 16, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) build_panel(q.vectors + qoff[i] * docs.dim, q.counts[i], docs.dim, &panels[i], &lanes[i]);
  });
  // counting sort of the pairs by document
  const int64_t npairs = q.nq * kprime;
  std::vector<int64_t> start(docs.n_docs + 1, 0);
  for (int64_t p = 0; p < npairs; ++p)
    if (candidates[p] >= 0) ++start[candidates[p] + 1];
  for (int64_t j = 0; j < docs.n_docs; ++j) start[j + 1] += start[j];
  std::vector<int64_t> pairs(start[docs.n_docs]);
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t p = 0; p < npairs; ++p)
      if (candidates[p] >= 0) pairs[fill[candidates[p]]++] = p;
  }
  // docs that have pairs, so threads split real work
  std::vector<int64_t> used;
  for (int64_t j = 0; j < docs.n_docs; ++j)
    if (start[j + 1] > start[j]) used.push_back(j);
  std::vector<float> scores(npairs, kNegInf);
  const DocReader reader(docs, kt);
  parallel_for(static_cast<int64_t>(used.size()), opt.threads, 8, [&](int64_t b, int64_t e, int) {
    AlignedBuffer<float> scratch, maxima(4 * kPanelLaneAlign);
    for (int64_t u = b; u < e; ++u) {
      const int64_t j = used[u];
      if (u + 1 < e) prefetch_doc_head(docs, used[u + 1]);
      const float* rows = reader.rows(j, &scratch);
      for (int64_t at = start[j]; at < start[j + 1]; ++at) {
        const int64_t p = pairs[at];
        const int64_t i = p / kprime;
        // The next pair's panel (16 KB at 32 x 128) is somewhere in L3: fetch it into L2 while
        // this pair computes, instead of stalling on its first rows.
        if (at + 1 < static_cast<int64_t>(pairs.size())) {
          const int64_t ni = pairs[at + 1] / kprime;
          const char* np = reinterpret_cast<const char*>(panels[ni].data());
          const size_t bytes = sizeof(float) * static_cast<size_t>(lanes[ni]) * docs.dim;
          for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(np + o, 0, 2);
        }
        maxima.resize(lanes[i]);
        kt.panel_max(panels[i].data(), docs.dim, lanes[i], rows, docs.ntok(j), maxima.data());
        scores[p] = lane_sum(maxima.data(), q.counts[i]);
      }
    }
  });
  parallel_for(q.nq, opt.threads, 16, [&](int64_t b, int64_t e, int) {
    std::vector<Hit> hits;
    for (int64_t i = b; i < e; ++i) {
      hits.clear();
      for (int64_t c = 0; c < kprime; ++c) {
        const int64_t j = candidates[i * kprime + c];
        if (j >= 0) hits.push_back({scores[i * kprime + c], j});
      }
      write_top(&hits, k, labels + i * k, distances + i * k);
    }
  });
}

}  // namespace

Status maxsim_rerank(const DocsView& docs, const QueryBatch& q, const int64_t* candidates,
                     int64_t kprime, int64_t k, const MaxsimOptions& opt, int64_t* labels,
                     float* distances) {
  for (int64_t i = 0; i < q.nq * kprime; ++i) {
    if (candidates[i] < -1 || candidates[i] >= docs.n_docs) {
      return Status::Error(StatusCode::kInvalidArgument,
                           "candidates[" + std::to_string(i) + "] = " + std::to_string(candidates[i]) +
                               " is outside [0, " + std::to_string(docs.n_docs) + ")");
    }
  }
  const KernelTable& kt = kernel_table(opt.kernel);
  const std::vector<int64_t> qoff = query_offsets(q);
  // Grouping pays for its bookkeeping once several queries share the batch; a lone query keeps
  // the simpler streaming loop. Both compute every score with the same kernel call, so results
  // are identical either way.
  if (q.nq >= 8) {
    rerank_grouped(docs, q, qoff, candidates, kprime, k, opt, kt, labels, distances);
  } else {
    rerank_per_query(docs, q, qoff, candidates, kprime, k, opt, kt, labels, distances);
  }
  return Status::Ok();
}

Status maxsim_exact_topk(const DocsView& docs, const QueryBatch& q, int64_t k,
                         const MaxsimOptions& opt, int64_t* labels, float* distances) {
  const KernelTable& kt = kernel_table(opt.kernel);
  const std::vector<int64_t> qoff = query_offsets(q);
  const std::vector<int64_t> bounds = chunk_bounds(docs, nullptr, docs.n_docs);
  // Queries per task: their panels (16 KB each at 32 x 128) stay in L2 while a doc chunk is
  // scored against all of them, so each doc row comes from memory once per block.
  constexpr int64_t kQueryBlock = 16;
  parallel_for(q.nq, opt.threads, kQueryBlock, [&](int64_t begin, int64_t end, int) {
    const int64_t nb = end - begin;
    std::vector<AlignedBuffer<float>> panels(nb);
    std::vector<int> lanes(nb);
    std::vector<TopK> tops;
    int max_lanes = 0;
    for (int64_t i = 0; i < nb; ++i) {
      build_panel(q.vectors + qoff[begin + i] * docs.dim, q.counts[begin + i], docs.dim, &panels[i],
                  &lanes[i]);
      max_lanes = std::max(max_lanes, lanes[i]);
      tops.emplace_back(k);
    }
    AlignedBuffer<float> maxima(max_lanes);
    Chunk chunk;
    for (size_t c = 0; c + 1 < bounds.size(); ++c) {
      chunk.load(docs, kt, nullptr, bounds[c], bounds[c + 1]);
      for (int64_t i = 0; i < nb; ++i) {
        const int64_t nqt = q.counts[begin + i];
        for (size_t d = 0; d < chunk.ids.size(); ++d) {
          kt.panel_max(panels[i].data(), docs.dim, lanes[i], chunk.rows[d], chunk.ntok[d],
                       maxima.data());
          tops[i].push(lane_sum(maxima.data(), nqt), chunk.ids[d]);
        }
      }
    }
    for (int64_t i = 0; i < nb; ++i) tops[i].write(labels + (begin + i) * k, distances + (begin + i) * k);
  });
  return Status::Ok();
}

Status maxsim_targets(const DocsView& docs, const float* x, int64_t n, const int64_t* doc_indices,
                      int64_t ndocs, const MaxsimOptions& opt, float* Y, ProgressMeter* progress) {
  for (int64_t j = 0; j < ndocs; ++j) {
    if (doc_indices[j] < 0 || doc_indices[j] >= docs.n_docs) {
      return Status::Error(StatusCode::kInvalidArgument,
                           "docIndices[" + std::to_string(j) + "] = " + std::to_string(doc_indices[j]) +
                               " is outside [0, " + std::to_string(docs.n_docs) + ")");
    }
  }
  const KernelTable& kt = kernel_table(opt.kernel);
  const std::vector<int64_t> bounds = chunk_bounds(docs, doc_indices, ndocs);
  // 64 probe vectors per panel (four zmm of lanes, 32 KB at dim 128: L1-resident), 16 panels
  // per task so a doc chunk loaded into L2 is reused 16 times before the next one.
  constexpr int64_t kLanes = 64;
  constexpr int64_t kPanelsPerTask = 16;
  parallel_for(n, opt.threads, kLanes * kPanelsPerTask, [&](int64_t begin, int64_t end, int) {
    const int64_t np = (end - begin + kLanes - 1) / kLanes;
    std::vector<AlignedBuffer<float>> panels(np);
    std::vector<int> lanes(np);
    for (int64_t p = 0; p < np; ++p) {
      const int64_t r0 = begin + p * kLanes;
      build_panel(x + r0 * docs.dim, std::min(kLanes, end - r0), docs.dim, &panels[p], &lanes[p]);
    }
    AlignedBuffer<float> maxima(kLanes);
    Chunk chunk;
    for (size_t c = 0; c + 1 < bounds.size(); ++c) {
      chunk.load(docs, kt, doc_indices, bounds[c], bounds[c + 1]);
      for (int64_t p = 0; p < np; ++p) {
        const int64_t r0 = begin + p * kLanes;
        const int64_t nr = std::min(kLanes, end - r0);
        for (size_t d = 0; d < chunk.ids.size(); ++d) {
          kt.panel_max(panels[p].data(), docs.dim, lanes[p], chunk.rows[d], chunk.ntok[d],
                       maxima.data());
          float* col = Y + r0 * ndocs + bounds[c] + static_cast<int64_t>(d);
          for (int64_t r = 0; r < nr; ++r) col[r * ndocs] = maxima[r];
        }
      }
      // per doc chunk, not per task: a task of 1024 rows against thousands of documents can
      // take seconds, longer than a report interval
      progress_add(progress, static_cast<uint64_t>(end - begin) * chunk.ids.size());
    }
  });
  return Status::Ok();
}

}  // namespace lemur
