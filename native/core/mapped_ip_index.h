// MappedIpIndex: a read-only IpIndex over its file mapped into memory, for query processes.
// Faiss 1.7.3 cannot map HNSW or scalar-quantizer indexes (IO_FLAG_MMAP covers other types), so
// IpIndex::read_file copies the rows and the graph into the heap: ~4.4 GB of anonymous memory
// at a million 2048-d fp16 documents. Here the file is mapped (MAP_SHARED, read-only) and the
// rows and the neighbour lists are read in place; they live in the page cache, shared by every
// process mapping the file and dropped by the kernel under pressure, never in this process's
// anonymous memory. What is copied: the id map (8 bytes a row), the HNSW offsets (8 bytes a
// node), the per-level link counts and sq8's trained ranges (2d floats); ids that are not the
// positions also get a sorted (id, position) table for reconstruct (16 bytes a row). Search
// (hnsw_search.h) gives IpIndex::search's labels and distances bit for bit on the same file;
// a flat index searches by the exact scan (for fp32 rows IpIndex uses Faiss's own IndexFlatIP
// search instead: same labels, distances within float rounding).
// Not here: add (the index is read-only), Faiss objects.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cpu_features.h"
#include "faiss_index_file.h"
#include "hnsw_search.h"
#include "ip_index.h"
#include "mapped_file.h"
#include "row_codec.h"

namespace lemur {

class MappedIpIndex : public IpIndexBase {
 public:
  // Maps `path` and checks its layout (faiss_index_file.h): kCorruptFile naming the path and
  // the field for anything that is not an IpIndex file or does not fit in it, kIo when it
  // cannot be opened. Reads only the header and the small tables, never the rows.
  static Status open(const std::string& path, Kernel kernel, std::unique_ptr<MappedIpIndex>* out);
  ~MappedIpIndex() override;

  Status search(const float* q, int64_t nq, int64_t k, int ef_search, int threads, int64_t* labels,
                float* distances) const override;
  // The file's bytes are the index's serialisation: write_file copies them (temp + rename).
  Status write_file(const std::string& path) const override;
  Status serialize(std::vector<uint8_t>* out) const override;
  int64_t ntotal() const override { return layout_.ntotal; }

  // Bytes of the mapping (the file), and of what open() copied into the heap.
  uint64_t mapped_bytes() const { return file_->size(); }
  uint64_t heap_bytes() const;

 protected:
  RowsView rows() const override { return rows_; }
  const int64_t* ids() const override { return layout_.ids.data(); }
  bool position_of(int64_t id, int64_t* pos) const override;

 private:
  MappedIpIndex() = default;
  std::unique_ptr<MappedFile> file_;
  IpIndexFileLayout layout_;
  Sq8Derived sq8_;
  RowsView rows_;
  HnswGraphView graph_;
  // (id, position) sorted by id, for reconstruct; empty when every id is its position (the
  // pipeline's shards), which needs no table.
  std::vector<std::pair<int64_t, int64_t>> by_id_;
};

}  // namespace lemur
