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
        kt.panel_max(panel.data(), docs.dim, lanes, reader.rows(j, &scratch), docs.ntok(j),
                     maxima.data());
        hits.push_back({lane_sum(maxima.data(), nqt), j});
      }
      std::sort(hits.begin(), hits.end(),
                [](const Hit& a, const Hit& b) { return better(a.score, a.label, b.score, b.label); });
      hits.erase(std::unique(hits.begin(), hits.end(),
                             [](const Hit& a, const Hit& b) { return a.label == b.label; }),
                 hits.end());
      for (int64_t r = 0; r < k; ++r) {
        const bool have = r < static_cast<int64_t>(hits.size());
        labels[i * k + r] = have ? hits[r].label : -1;
        distances[i * k + r] = have ? hits[r].score : kNegInf;
      }
    }
  });
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
                      int64_t ndocs, const MaxsimOptions& opt, float* Y) {
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
    }
  });
  return Status::Ok();
}

}  // namespace lemur
