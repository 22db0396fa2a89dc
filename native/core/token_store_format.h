// Token store file format, version 1.0 (".lts"). All integers little-endian.
//
//   offset  size  field
//   ------  ----  ------------------------------------------------------------
//        0     8  magic "LEMURTS\0"
//        8     2  major version (1): readers reject any other major
//       10     2  minor version (0): additive changes only
//       12     1  dtype: 1 = float32, 2 = float16 (IEEE binary16)
//       13     1  id kind: 1 = int64, 2 = UTF-8 string
//       14     2  reserved, 0
//       16     4  dim (>= 1)
//       20     4  reserved, 0
//       24     8  n_docs
//       32     8  n_tokens (sum of tokens over docs)
//       40     8  file size in bytes
//       48     8  XXH64 (seed 0) of bytes [64, file size): every section below
//       56     8  XXH64 (seed 0) of bytes [0, 56): the header itself
//
// Sections follow, each starting on a 64-byte boundary (zero padding between):
//   offsets   uint64 x (n_docs + 1)  token offset of each doc; offsets[0] = 0, last = n_tokens
//   vectors   n_tokens x dim values of dtype, token-major, each doc's tokens contiguous
//   ids       int64 x n_docs                          (id kind 1)
//             uint64 x (n_docs + 1) byte offsets, then the concatenated UTF-8 bytes (id kind 2)
//
// Doc positions (0 .. n_docs-1) are internal; external ids live only in the ids section, so a
// delete (a tombstone elsewhere) never renumbers anything. The 64-byte alignment of `vectors`
// lets the kernels read rows of a mapped file with full-width loads.
#pragma once
#include <cstdint>

namespace lemur {

constexpr char kTokenStoreMagic[8] = {'L', 'E', 'M', 'U', 'R', 'T', 'S', '\0'};
constexpr uint16_t kTokenStoreMajor = 1;
constexpr uint16_t kTokenStoreMinor = 0;

enum class IdKind : uint8_t { kInt64 = 1, kString = 2 };

struct TokenStoreHeader {
  char magic[8];
  uint16_t major;
  uint16_t minor;
  uint8_t dtype;
  uint8_t id_kind;
  uint16_t reserved0;
  uint32_t dim;
  uint32_t reserved1;
  uint64_t n_docs;
  uint64_t n_tokens;
  uint64_t file_size;
  uint64_t body_checksum;
  uint64_t header_checksum;
};
static_assert(sizeof(TokenStoreHeader) == 64, "token store header must be 64 bytes");

inline uint64_t align64(uint64_t x) { return (x + 63) & ~uint64_t{63}; }

// Where each section starts, and the file size, for a store of these counts (`value_bytes`: 4
// for float32, 2 for float16; `id_bytes`: the total length of string ids). The vectors start
// depends on n_docs alone, which is what lets a writer stream vectors before it knows n_tokens.
struct TokenStoreLayout {
  uint64_t offsets_at, vectors_at, ids_at, id_bytes_at, file_size;
};

inline TokenStoreLayout token_store_layout(uint64_t n_docs, uint64_t n_tokens, uint32_t dim, uint64_t value_bytes,
                                           IdKind kind, uint64_t id_bytes) {
  TokenStoreLayout l{};
  l.offsets_at = 64;
  l.vectors_at = align64(l.offsets_at + 8 * (n_docs + 1));
  l.ids_at = align64(l.vectors_at + n_tokens * dim * value_bytes);
  if (kind == IdKind::kInt64) {
    l.id_bytes_at = 0;
    l.file_size = l.ids_at + 8 * n_docs;
  } else {
    l.id_bytes_at = l.ids_at + 8 * (n_docs + 1);
    l.file_size = l.id_bytes_at + id_bytes;
  }
  return l;
}

}  // namespace lemur
