// IpIndex: an inner-product candidate index over W rows with 64-bit external ids, on the real
// Faiss library: IndexIDMap2 over IndexHNSWFlat(d, M, METRIC_INNER_PRODUCT), or over IndexFlatIP
// (exact; faster for small shards). The HNSW's flat storage is replaced by a subclass whose
// distance computer uses our runtime-dispatched inner product (Debian's libfaiss is built for
// SSE only); on disk it is a plain IndexFlatIP, so files stay readable by any Faiss. The graph
// is built by hnsw_build.h's deterministic insertion, not Faiss's lock-based parallel add, so
// the same rows and ids in the same order give the same bytes with any thread count and kernel.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "progress.h"
#include "status.h"

namespace lemur {

enum class IpIndexKind { kHnsw = 1, kFlat = 2 };

struct IpIndexParams {
  IpIndexKind kind = IpIndexKind::kHnsw;
  int M = 32;
  int ef_construction = 40;
};

class IpIndex {
 public:
  static Status create(int d, const IpIndexParams& p, Kernel kernel, std::unique_ptr<IpIndex>* out);
  // Reads a serialised index (from write_file/serialize) and re-attaches the fast storage.
  static Status read_file(const std::string& path, Kernel kernel, std::unique_ptr<IpIndex>* out);
  static Status deserialize(const uint8_t* data, size_t size, Kernel kernel, std::unique_ptr<IpIndex>* out);
  ~IpIndex();

  // `progress` (optional) gets (vectors linked, n) while the HNSW graph grows, then (n, n).
  Status add(const float* x, const int64_t* ids, int64_t n, int threads, const ProgressFn& progress = {});
  // Per query the k best ids by inner product (descending); -1 / -inf where fewer exist.
  Status search(const float* q, int64_t nq, int64_t k, int ef_search, int threads, int64_t* labels,
                float* distances) const;
  Status write_file(const std::string& path) const;
  Status serialize(std::vector<uint8_t>* out) const;

  int d() const { return d_; }
  int64_t ntotal() const;
  IpIndexKind kind() const { return kind_; }
  int M() const { return M_; }
  int ef_construction() const { return ef_construction_; }

 private:
  IpIndex() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int d_ = 0;
  IpIndexKind kind_ = IpIndexKind::kHnsw;
  int M_ = 0;
  int ef_construction_ = 0;
};

}  // namespace lemur
