// IpIndex: an inner-product candidate index over W rows with 64-bit external ids, on the real
// Faiss library: IndexIDMap2 over an HNSW graph (IndexHNSWFlat, or IndexHNSWSQ for compact
// rows), or over the bare storage (exact; faster for small shards). The rows are stored as
// fp32 (IndexFlatIP), fp16 or sq8 (IndexScalarQuantizer QT_fp16 / QT_8bit, row_codec.h); on
// disk these are Faiss's own types, so files stay readable by any Faiss. In memory the storage
// is replaced by a subclass whose distance computer uses our runtime-dispatched inner products
// (Debian's libfaiss is built for SSE only). The graph is built by hnsw_build.h's deterministic
// insertion over the stored rows, not Faiss's lock-based parallel add, so the same rows and
// ids in the same order give the same bytes with any thread count and kernel.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "progress.h"
#include "row_codec.h"
#include "status.h"

namespace lemur {

enum class IpIndexKind { kHnsw = 1, kFlat = 2 };

struct IpIndexParams {
  IpIndexKind kind = IpIndexKind::kHnsw;
  int M = 32;
  int ef_construction = 40;
  // How rows are stored. sq8 trains its per-dimension range on the first add's rows; later
  // adds are clamped to that range (Faiss's ScalarQuantizer semantics).
  RowEncoding storage = RowEncoding::kFp32;
};

// What every IpIndex can do, whether Faiss holds it in memory (IpIndex, below) or its file is
// mapped (MappedIpIndex, mapped_ip_index.h): search, the exact scan, the rows back, the file.
// The binding serves both through this; scan and reconstruct live here, over rows() and ids().
class IpIndexBase {
 public:
  virtual ~IpIndexBase() = default;

  // Per query the k best ids by inner product (descending); -1 / -inf where fewer exist.
  virtual Status search(const float* q, int64_t nq, int64_t k, int ef_search, int threads, int64_t* labels,
                        float* distances) const = 0;
  // The stored rows of n external ids, decoded to fp32 (n x d): what the index scores against.
  // An id the index does not hold is kInvalidArgument, naming it.
  Status reconstruct(const int64_t* ids, int64_t n, int threads, float* out) const;
  // The stored rows at positions [i0, i0 + n) (the order of add), decoded to fp32.
  Status reconstruct_range(int64_t i0, int64_t n, int threads, float* out) const;
  // Exact top-k over every stored row by the index's own inner product (scan_topk): external
  // ids, descending; -1 / -inf where fewer exist. Up to kScanPassMaxQueries queries the scores
  // are the bits HNSW search reports for the same rows, on every kernel and thread count.
  Status scan(const float* q, int64_t nq, int64_t k, int threads, int64_t* labels, float* distances) const;
  virtual Status write_file(const std::string& path) const = 0;
  virtual Status serialize(std::vector<uint8_t>* out) const = 0;

  int d() const { return d_; }
  virtual int64_t ntotal() const = 0;
  IpIndexKind kind() const { return kind_; }
  int M() const { return M_; }
  int ef_construction() const { return ef_construction_; }
  RowEncoding storage() const { return storage_; }
  // Bytes of one stored row (code_size): 4d, 2d or d.
  size_t bytes_per_vector() const { return row_code_size(storage_, d_); }

 protected:
  // The stored rows, positions 0 .. ntotal - 1.
  virtual RowsView rows() const = 0;
  // The external id of each position (ntotal of them).
  virtual const int64_t* ids() const = 0;
  // The position holding external id `id`; false when there is none.
  virtual bool position_of(int64_t id, int64_t* pos) const = 0;
  // Row positions -> external ids in place; -inf where a label is -1 (no result).
  void to_external(int64_t count, int64_t* labels, float* distances) const;

  int d_ = 0;
  IpIndexKind kind_ = IpIndexKind::kHnsw;
  int M_ = 0;
  int ef_construction_ = 0;
  RowEncoding storage_ = RowEncoding::kFp32;
};

class IpIndex : public IpIndexBase {
 public:
  static Status create(int d, const IpIndexParams& p, Kernel kernel, std::unique_ptr<IpIndex>* out);
  // Reads a serialised index (from write_file/serialize) and re-attaches the fast storage.
  static Status read_file(const std::string& path, Kernel kernel, std::unique_ptr<IpIndex>* out);
  static Status deserialize(const uint8_t* data, size_t size, Kernel kernel, std::unique_ptr<IpIndex>* out);
  ~IpIndex() override;

  // `progress` (optional) gets (vectors linked, n) while the HNSW graph grows, then (n, n).
  Status add(const float* x, const int64_t* ids, int64_t n, int threads, const ProgressFn& progress = {});
  Status search(const float* q, int64_t nq, int64_t k, int ef_search, int threads, int64_t* labels,
                float* distances) const override;
  Status write_file(const std::string& path) const override;
  Status serialize(std::vector<uint8_t>* out) const override;
  int64_t ntotal() const override;

 protected:
  RowsView rows() const override;
  const int64_t* ids() const override;
  bool position_of(int64_t id, int64_t* pos) const override;

 private:
  IpIndex() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lemur
