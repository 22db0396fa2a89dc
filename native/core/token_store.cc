// Token store reader (mmap) and writer (buffered, atomic rename).
#include "token_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "half.h"
#include "xxhash64.h"

namespace lemur {

namespace {

std::string errno_text() { return std::strerror(errno); }

struct Layout {
  uint64_t offsets_at, vectors_at, ids_at, id_bytes_at, file_size;
};

Layout layout_for(uint64_t n_docs, uint64_t n_tokens, uint32_t dim, DType dtype, IdKind kind,
                  uint64_t id_bytes) {
  Layout l{};
  l.offsets_at = 64;
  l.vectors_at = align64(l.offsets_at + 8 * (n_docs + 1));
  l.ids_at = align64(l.vectors_at + n_tokens * dim * static_cast<uint64_t>(dtype_size(dtype)));
  if (kind == IdKind::kInt64) {
    l.id_bytes_at = 0;
    l.file_size = l.ids_at + 8 * n_docs;
  } else {
    l.id_bytes_at = l.ids_at + 8 * (n_docs + 1);
    l.file_size = l.id_bytes_at + id_bytes;
  }
  return l;
}

Status corrupt(const std::string& path, const std::string& what) {
  return Status::Error(StatusCode::kCorruptFile, "token store " + path + ": " + what);
}

// Buffered writer that also feeds the body checksum.
class FileWriter {
 public:
  explicit FileWriter(int fd) : fd_(fd) { buf_.reserve(1 << 20); }
  void write(const void* p, size_t n, bool body = true) {
    if (body) hash_.update(p, n);
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      const size_t take = std::min(n, buf_.capacity() - buf_.size());
      buf_.insert(buf_.end(), c, c + take);
      c += take;
      n -= take;
      if (buf_.size() == buf_.capacity()) flush();
    }
  }
  void pad_to(uint64_t at, uint64_t* pos) {
    static const char zeros[64] = {0};
    if (at > *pos) write(zeros, at - *pos);
    *pos = at;
  }
  bool flush() {
    const char* p = buf_.data();
    size_t n = buf_.size();
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        ok_ = false;
        err_ = errno_text();
        break;
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    buf_.clear();
    return ok_;
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return err_; }
  uint64_t digest() const { return hash_.digest(); }

 private:
  int fd_;
  std::vector<char> buf_;
  Xxh64 hash_;
  bool ok_ = true;
  std::string err_;
};

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

Status write_token_store(const std::string& path, const TokenStoreInput& in) {
  const auto id_text = [&](int64_t j) {
    return in.id_kind == IdKind::kInt64 ? std::to_string(in.int_ids[j]) : "\"" + (*in.str_ids)[j] + "\"";
  };
  uint64_t n_tokens = 0;
  for (int64_t j = 0; j < in.n_docs; ++j) {
    if (in.counts[j] < 1) {
      return Status::InputError(j, "counts", "doc " + std::to_string(j) + " (id " + id_text(j) + "): has " +
                                                 std::to_string(in.counts[j]) + " tokens, expected at least 1");
    }
    n_tokens += static_cast<uint64_t>(in.counts[j]);
  }
  {
    uint64_t t = 0;
    for (int64_t j = 0; j < in.n_docs; ++j) {
      for (int64_t r = 0; r < in.counts[j]; ++r, ++t) {
        const float* row = in.vectors + t * in.dim;
        for (int c = 0; c < in.dim; ++c) {
          // fp16 tops out at 65504; larger values would silently become Inf in the store.
          const bool fits = std::isfinite(row[c]) && (in.dtype != DType::kF16 || std::fabs(row[c]) < 65520.0f);
          if (!fits) {
            return Status::InputError(j, "vectors",
                                 "doc " + std::to_string(j) + " (id " + id_text(j) + "), token " +
                                     std::to_string(r) + ", component " + std::to_string(c) + ": value " +
                                     std::to_string(row[c]) +
                                     (std::isfinite(row[c]) ? " is not representable in float16" : " is not finite"));
          }
        }
      }
    }
  }
  uint64_t id_bytes = 0;
  if (in.id_kind == IdKind::kInt64) {
    std::unordered_set<int64_t> seen;
    seen.reserve(static_cast<size_t>(in.n_docs));
    for (int64_t j = 0; j < in.n_docs; ++j) {
      if (!seen.insert(in.int_ids[j]).second) {
        return Status::InputError(j, "ids", "doc " + std::to_string(j) + ": duplicate id " + id_text(j));
      }
    }
  } else {
    std::unordered_set<std::string_view> seen;
    seen.reserve(static_cast<size_t>(in.n_docs));
    for (int64_t j = 0; j < in.n_docs; ++j) {
      if (!seen.insert((*in.str_ids)[j]).second) {
        return Status::InputError(j, "ids", "doc " + std::to_string(j) + ": duplicate id " + id_text(j));
      }
      id_bytes += (*in.str_ids)[j].size();
    }
  }

  const Layout l = layout_for(in.n_docs, n_tokens, in.dim, in.dtype, in.id_kind, id_bytes);
  static std::atomic<uint64_t> seq{0};
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(seq++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error(StatusCode::kIo, "token store " + path + ": cannot create " + tmp + ": " + errno_text());
  FileWriter w(fd);
  uint64_t pos = 64;
  TokenStoreHeader h{};
  w.write(&h, sizeof h, /*body=*/false);  // placeholder, rewritten with checksums below
  std::vector<uint64_t> offsets(static_cast<size_t>(in.n_docs) + 1, 0);
  for (int64_t j = 0; j < in.n_docs; ++j) offsets[j + 1] = offsets[j] + static_cast<uint64_t>(in.counts[j]);
  w.write(offsets.data(), 8 * offsets.size());
  pos += 8 * offsets.size();
  w.pad_to(l.vectors_at, &pos);
  const uint64_t nvals = n_tokens * in.dim;
  if (in.dtype == DType::kF32) {
    w.write(in.vectors, 4 * nvals);
  } else {
    std::vector<uint16_t> block(1 << 16);
    for (uint64_t i = 0; i < nvals; i += block.size()) {
      const uint64_t n = std::min<uint64_t>(block.size(), nvals - i);
      for (uint64_t k = 0; k < n; ++k) block[k] = float_to_half(in.vectors[i + k]);
      w.write(block.data(), 2 * n);
    }
  }
  pos += nvals * dtype_size(in.dtype);
  w.pad_to(l.ids_at, &pos);
  if (in.id_kind == IdKind::kInt64) {
    w.write(in.int_ids, 8 * static_cast<size_t>(in.n_docs));
  } else {
    std::vector<uint64_t> soff(static_cast<size_t>(in.n_docs) + 1, 0);
    for (int64_t j = 0; j < in.n_docs; ++j) soff[j + 1] = soff[j] + (*in.str_ids)[j].size();
    w.write(soff.data(), 8 * soff.size());
    for (const std::string& s : *in.str_ids) w.write(s.data(), s.size());
  }
  bool ok = w.flush();
  std::memcpy(h.magic, kTokenStoreMagic, 8);
  h.major = kTokenStoreMajor;
  h.minor = kTokenStoreMinor;
  h.dtype = static_cast<uint8_t>(in.dtype);
  h.id_kind = static_cast<uint8_t>(in.id_kind);
  h.dim = static_cast<uint32_t>(in.dim);
  h.n_docs = static_cast<uint64_t>(in.n_docs);
  h.n_tokens = n_tokens;
  h.file_size = l.file_size;
  h.body_checksum = w.digest();
  h.header_checksum = xxh64(&h, 56);
  std::string err = w.error();
  if (ok && ::pwrite(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) { ok = false; err = errno_text(); }
  if (ok && ::fsync(fd) != 0) { ok = false; err = errno_text(); }
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) { ok = false; err = errno_text(); }
  if (!ok) {
    ::unlink(tmp.c_str());
    return Status::Error(StatusCode::kIo, "token store " + path + ": write failed: " + err);
  }
  return Status::Ok();
}

}  // namespace lemur
