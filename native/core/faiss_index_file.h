// Where the parts of an IpIndex file lie, read straight from its bytes (a mapped file) without
// Faiss: the big arrays (graph links, rows) as byte offsets, the small ones copied. The file is
// Faiss 1.7.3's own serialisation (write_index), restricted to what IpIndex writes:
//
//   IndexIDMap2         "IxM2" (or "IxMp")  header, <inner index>, id_map: u64 n, i64 x n
//   IndexHNSWFlat/SQ    "IHNf" / "IHNs"     header, HNSW struct (below), <storage>
//   IndexFlatIP         "IxFI"              header, u64 n*d, f32 x n*d            (rows, fp32)
//   IndexScalarQuantizer "IxSQ"             header, qtype i32 (0 = 8bit, 4 = fp16),
//                                           rangestat i32, rangestat_arg f32, d u64,
//                                           code_size u64, trained: u64 m, f32 x m,
//                                           codes: u64 n*code_size, u8 x n*code_size
//   header (33 bytes)   d i32, ntotal i64, 2 x i64 unused, is_trained u8, metric i32 (0 = IP)
//   HNSW struct         assign_probas (u64 m, f64 x m), cum_nneighbor_per_level (u64 L+1,
//                       i32 x L+1), levels (u64 n, i32 x n), offsets (u64 n+1, u64 x n+1),
//                       neighbors (u64 m, i32 x m), entry_point i32, max_level i32,
//                       efConstruction i32, efSearch i32, upper_beam i32
//
// The flat kind is "IxM2" directly over the storage. Everything is little-endian and packed:
// no field is aligned, so the big arrays are read with unaligned loads. Faiss files carry no
// magic beyond the fourccs and no checksum: what can be checked is that every count fits the
// file, the graph's tables agree with each other and nothing follows the id map.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ip_index.h"
#include "row_codec.h"
#include "status.h"

namespace lemur {

struct IpIndexFileLayout {
  int d = 0;
  int64_t ntotal = 0;
  IpIndexKind kind = IpIndexKind::kHnsw;
  RowEncoding storage = RowEncoding::kFp32;
  // Rows: ntotal codes of row_code_size(storage, d) bytes from this byte offset.
  uint64_t codes_at = 0;
  std::vector<float> sq_trained;  // sq8: [vmin (d) | vdiff (d)]; empty otherwise
  std::vector<int64_t> ids;       // the id map: external id of each position

  // HNSW (kind kHnsw). Node i's links at level l are neighbors[offsets[i] + cum[l] ..
  // offsets[i] + cum[l + 1]), -1 ending a short list; node i has levels[i] levels, so its slot
  // is offsets[i + 1] - offsets[i] = cum[levels[i]] entries (checked for every node).
  std::vector<int> cum_nneighbor_per_level;
  std::vector<uint64_t> offsets;  // ntotal + 1
  uint64_t neighbors_at = 0;      // int32 x offsets[ntotal], byte offset
  int entry_point = -1;
  int max_level = -1;
  int M = 0;  // links per node above level 0 (level 0 has 2M), as IpIndex reports it
  int ef_construction = 0;
  int ef_search = 0;
  int upper_beam = 1;
};

// Parses the `size` bytes at `data`. Anything that is not an IpIndex file, or whose counts or
// tables do not fit together and in the file, is kCorruptFile: "<where>: <what is wrong>",
// naming the byte offset of the field. The link targets themselves (neighbors) are not read
// here, so opening stays O(ntotal) small reads: the search checks each one it follows.
Status parse_ip_index_file(const uint8_t* data, uint64_t size, const std::string& where, IpIndexFileLayout* out);

}  // namespace lemur
