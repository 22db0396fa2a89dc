// Token store reader: maps a file and validates it (the writer is token_store_writer.cc).
#include "token_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "xxhash64.h"

namespace lemur {

namespace {

using Layout = TokenStoreLayout;

Layout layout_for(uint64_t n_docs, uint64_t n_tokens, uint32_t dim, DType dtype, IdKind kind, uint64_t id_bytes) {
  return token_store_layout(n_docs, n_tokens, dim, static_cast<uint64_t>(dtype_size(dtype)), kind, id_bytes);
}

Status corrupt(const std::string& path, const std::string& what) {
  return Status::Error(StatusCode::kCorruptFile, "token store " + path + ": " + what);
}

}  // namespace

// The body's checksum, read through the mapping in 64 MiB steps, each step's pages dropped from
// this process's resident set once hashed (MADV_DONTNEED on a read-only shared file mapping only
// unmaps them; they stay in the page cache): opening a store must not make it look resident. A
// shard of a large corpus is GBs, and a trainer opens every shard to sample a few pages of each.
static uint64_t body_checksum(void* base, uint64_t size) {
  constexpr uint64_t kStep = 64ull << 20;
  const auto* bytes = static_cast<unsigned char*>(base);
  Xxh64 h;
  for (uint64_t at = 64; at < size;) {
    const uint64_t end = std::min(size, (at / kStep + 1) * kStep);  // page-aligned step ends
    h.update(bytes + at, end - at);
    const uint64_t from = at / kStep * kStep;
    ::madvise(static_cast<unsigned char*>(base) + from, end - from, MADV_DONTNEED);
    at = end;
  }
  return h.digest();
}

Status TokenStore::open(const std::string& path, bool verify, std::unique_ptr<TokenStore>* out) {
  std::unique_ptr<MappedFile> file;
  LEMUR_RETURN_IF_ERROR(MappedFile::open(path, "token store", sizeof(TokenStoreHeader), &file));
  const uint64_t size = file->size();
  const unsigned char* bytes = file->data();
  void* base = const_cast<unsigned char*>(bytes);  // for madvise only: the pages stay read-only
  std::unique_ptr<TokenStore> s(new TokenStore());
  s->path_ = path;
  s->file_ = std::move(file);
  TokenStoreHeader h;
  std::memcpy(&h, bytes, sizeof h);
  if (std::memcmp(h.magic, kTokenStoreMagic, 8) != 0) return corrupt(path, "bad magic (not a token store)");
  if (h.major != kTokenStoreMajor) {
    return corrupt(path, "version " + std::to_string(h.major) + "." + std::to_string(h.minor) +
                             " is not readable by this reader (" + std::to_string(kTokenStoreMajor) + ".x)");
  }
  if (xxh64(bytes, 56) != h.header_checksum) return corrupt(path, "header checksum mismatch");
  if (h.dtype != static_cast<uint8_t>(DType::kF32) && h.dtype != static_cast<uint8_t>(DType::kF16)) {
    return corrupt(path, "unknown dtype " + std::to_string(h.dtype));
  }
  if (h.id_kind != static_cast<uint8_t>(IdKind::kInt64) && h.id_kind != static_cast<uint8_t>(IdKind::kString)) {
    return corrupt(path, "unknown id kind " + std::to_string(h.id_kind));
  }
  if (h.dim == 0 || h.dim > (1u << 20)) return corrupt(path, "dim " + std::to_string(h.dim) + " out of range");
  if (h.file_size != size) {
    return corrupt(path, "file is " + std::to_string(size) + " bytes, header says " +
                             std::to_string(h.file_size) + " (truncated or appended to)");
  }
  // Bound counts before computing the layout so the arithmetic cannot overflow.
  if (h.n_docs > size / 8 || h.n_tokens > size / (static_cast<uint64_t>(h.dim) * 2)) {
    return corrupt(path, "counts do not fit in the file");
  }
  const DType dtype = static_cast<DType>(h.dtype);
  const IdKind kind = static_cast<IdKind>(h.id_kind);
  Layout l = layout_for(h.n_docs, h.n_tokens, h.dim, dtype, kind, 0);
  if (kind == IdKind::kString) {
    if (l.id_bytes_at > size) return corrupt(path, "id section is truncated");
    const auto* soff = reinterpret_cast<const uint64_t*>(bytes + l.ids_at);
    l = layout_for(h.n_docs, h.n_tokens, h.dim, dtype, kind, soff[h.n_docs]);
  }
  if (l.file_size != size) return corrupt(path, "section sizes disagree with the file size");
  if (verify && body_checksum(base, size) != h.body_checksum) return corrupt(path, "body checksum mismatch");
  const auto* offsets = reinterpret_cast<const uint64_t*>(bytes + l.offsets_at);
  if (offsets[0] != 0 || offsets[h.n_docs] != h.n_tokens) return corrupt(path, "doc offsets do not span the tokens");
  for (uint64_t j = 0; j < h.n_docs; ++j) {
    if (offsets[j + 1] <= offsets[j]) {
      return corrupt(path, "doc " + std::to_string(j) + " has no tokens or offsets go backwards");
    }
  }
  if (kind == IdKind::kString) {
    const auto* soff = reinterpret_cast<const uint64_t*>(bytes + l.ids_at);
    if (soff[0] != 0) return corrupt(path, "string id offsets do not start at 0");
    for (uint64_t j = 0; j < h.n_docs; ++j) {
      if (soff[j + 1] < soff[j]) return corrupt(path, "string id offsets go backwards at doc " + std::to_string(j));
    }
    s->str_offsets_ = soff;
    s->str_bytes_ = reinterpret_cast<const char*>(bytes + l.id_bytes_at);
  } else {
    s->int_ids_ = reinterpret_cast<const int64_t*>(bytes + l.ids_at);
  }
  s->id_kind_ = kind;
  s->view_.dim = static_cast<int>(h.dim);
  s->view_.n_docs = static_cast<int64_t>(h.n_docs);
  s->view_.dtype = dtype;
  s->view_.offsets = offsets;
  s->view_.vectors = bytes + l.vectors_at;
  *out = std::move(s);
  return Status::Ok();
}

TokenStore::~TokenStore() = default;

int64_t TokenStore::int_id(int64_t j) const { return int_ids_[j]; }

std::string_view TokenStore::str_id(int64_t j) const {
  return std::string_view(str_bytes_ + str_offsets_[j], str_offsets_[j + 1] - str_offsets_[j]);
}

}  // namespace lemur
