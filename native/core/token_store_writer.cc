// Token store writer: vectors streamed batch by batch into a temp file at their final offset,
// then offsets, ids, header and checksums, fsync, rename (token_store_writer.h).
#include "token_store_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string_view>
#include <unordered_set>

#include "half.h"
#include "xxhash64.h"

namespace lemur {

namespace {

std::string errno_text() { return std::strerror(errno); }

// Buffered sequential writes at the file's current offset.
class FileWriter {
 public:
  explicit FileWriter(int fd) : fd_(fd) { buf_.reserve(1 << 20); }
  void write(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      const size_t take = std::min(n, buf_.capacity() - buf_.size());
      buf_.insert(buf_.end(), c, c + take);
      c += take;
      n -= take;
      if (buf_.size() == buf_.capacity()) flush();
    }
  }
  void zeros(uint64_t n) {
    static const char z[64] = {0};
    while (n > 0) {
      const uint64_t take = std::min<uint64_t>(n, sizeof z);
      write(z, take);
      n -= take;
    }
  }
  bool flush() {
    const char* p = buf_.data();
    size_t n = buf_.size();
    while (ok_ && n > 0) {
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

 private:
  int fd_;
  std::vector<char> buf_;
  bool ok_ = true;
  std::string err_;
};

// Feeds bytes [from, to) of the file to `hash`, read back in blocks (just written: from the page
// cache), so the checksum needs no copy of the store in memory.
bool hash_file(int fd, uint64_t from, uint64_t to, Xxh64* hash, std::string* err) {
  std::vector<char> block(static_cast<size_t>(std::min<uint64_t>(to - from, 4u << 20)));
  for (uint64_t at = from; at < to;) {
    const ssize_t r = ::pread(fd, block.data(), static_cast<size_t>(std::min<uint64_t>(block.size(), to - at)), static_cast<off_t>(at));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      *err = r < 0 ? errno_text() : "file ends early";
      return false;
    }
    hash->update(block.data(), static_cast<size_t>(r));
    at += static_cast<uint64_t>(r);
  }
  return true;
}

bool pwrite_all(int fd, const void* p, size_t n, uint64_t at) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, c, n, static_cast<off_t>(at));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
    at += static_cast<uint64_t>(w);
  }
  return true;
}

}  // namespace

struct TokenStoreWriter::State {
  std::string path, tmp;
  TokenStoreShape shape;
  int fd = -1;
  std::unique_ptr<FileWriter> out;
  std::vector<uint64_t> offsets{0};  // one more than the docs appended
  std::vector<int64_t> int_ids;
  // reserved to n_docs up front and never grown past it, so the views in seen_str stay valid
  std::vector<std::string> str_ids;
  std::unordered_set<int64_t> seen_int;
  std::unordered_set<std::string_view> seen_str;
  uint64_t id_bytes = 0;
  std::mutex mu;
  bool failed = false;
  bool done = false;

  int64_t docs() const { return static_cast<int64_t>(offsets.size()) - 1; }
  std::string id_text(const DocBatch& b, int64_t j) const {
    return shape.id_kind == IdKind::kInt64 ? std::to_string(b.int_ids[j]) : "\"" + (*b.str_ids)[j] + "\"";
  }
  Status io_error(const std::string& what) {
    failed = true;
    return Status::Error(StatusCode::kIo, "token store " + path + ": " + what);
  }
  // counts, then values, then ids (recorded as seen): the order write_token_store always checked in
  Status check(const DocBatch& b);
};

Status TokenStoreWriter::State::check(const DocBatch& b) {
  const int64_t first = docs();
  for (int64_t j = 0; j < b.n; ++j) {
    if (b.counts[j] < 1) {
      return Status::InputError(first + j, "counts", "doc " + std::to_string(first + j) + " (id " + id_text(b, j) + "): has " +
                                                         std::to_string(b.counts[j]) + " tokens, expected at least 1");
    }
  }
  const int dim = shape.dim;
  uint64_t t = 0;
  for (int64_t j = 0; j < b.n; ++j) {
    for (int64_t r = 0; r < b.counts[j]; ++r, ++t) {
      const float* row = b.vectors + t * dim;
      for (int c = 0; c < dim; ++c) {
        // fp16 tops out at 65504; larger values would silently become Inf in the store.
        const bool fits = std::isfinite(row[c]) && (shape.dtype != DType::kF16 || std::fabs(row[c]) < 65520.0f);
        if (!fits) {
          return Status::InputError(first + j, "vectors",
                                    "doc " + std::to_string(first + j) + " (id " + id_text(b, j) + "), token " + std::to_string(r) +
                                        ", component " + std::to_string(c) + ": value " + std::to_string(row[c]) +
                                        (std::isfinite(row[c]) ? " is not representable in float16" : " is not finite"));
        }
      }
    }
  }
  for (int64_t j = 0; j < b.n; ++j) {
    bool fresh;
    if (shape.id_kind == IdKind::kInt64) {
      fresh = seen_int.insert(b.int_ids[j]).second;
      int_ids.push_back(b.int_ids[j]);
    } else {
      str_ids.push_back((*b.str_ids)[j]);
      fresh = seen_str.insert(str_ids.back()).second;
      id_bytes += str_ids.back().size();
    }
    if (!fresh) return Status::InputError(first + j, "ids", "doc " + std::to_string(first + j) + ": duplicate id " + id_text(b, j));
  }
  return Status::Ok();
}

TokenStoreWriter::TokenStoreWriter(std::unique_ptr<State> s) : s_(std::move(s)) {}

const TokenStoreShape& TokenStoreWriter::shape() const { return s_->shape; }

TokenStoreWriter::~TokenStoreWriter() {
  if (s_->fd >= 0) ::close(s_->fd);
  if (!s_->done) ::unlink(s_->tmp.c_str());
}

Status TokenStoreWriter::open(const std::string& path, const TokenStoreShape& shape, std::unique_ptr<TokenStoreWriter>* out) {
  if (shape.dim < 1 || shape.dim > (1 << 20) || shape.n_docs < 0) {
    return Status::Error(StatusCode::kInvalidArgument, "token store " + path + ": dim or document count out of range");
  }
  static std::atomic<uint64_t> seq{0};
  auto s = std::make_unique<State>();
  s->path = path;
  s->tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(seq++);
  s->shape = shape;
  s->offsets.reserve(static_cast<size_t>(shape.n_docs) + 1);
  if (shape.id_kind == IdKind::kInt64) {
    s->int_ids.reserve(static_cast<size_t>(shape.n_docs));
    s->seen_int.reserve(static_cast<size_t>(shape.n_docs));
  } else {
    s->str_ids.reserve(static_cast<size_t>(shape.n_docs));
    s->seen_str.reserve(static_cast<size_t>(shape.n_docs));
  }
  s->fd = ::open(s->tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (s->fd < 0) return Status::Error(StatusCode::kIo, "token store " + path + ": cannot create " + s->tmp + ": " + errno_text());
  out->reset(new TokenStoreWriter(std::move(s)));
  State& st = *(*out)->s_;
  // vectors first, at their final offset; what comes before them is written by finish()
  const uint64_t vectors_at = token_store_layout(shape.n_docs, 0, shape.dim, dtype_size(shape.dtype), shape.id_kind, 0).vectors_at;
  if (::lseek(st.fd, static_cast<off_t>(vectors_at), SEEK_SET) < 0) return st.io_error("cannot seek: " + errno_text());
  st.out = std::make_unique<FileWriter>(st.fd);
  return Status::Ok();
}

Status TokenStoreWriter::append(const DocBatch& b) {
  State& s = *s_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.failed || s.done) return Status::Error(StatusCode::kInvalidArgument, "token store " + s.path + ": the writer is " + (s.done ? "finished" : "failed") + ", nothing more can be appended");
  if (b.n > s.shape.n_docs - s.docs()) {
    return Status::Error(StatusCode::kInvalidArgument, "token store " + s.path + ": " + std::to_string(b.n) + " more documents would pass the " +
                                                           std::to_string(s.shape.n_docs) + " it was opened for (" + std::to_string(s.docs()) + " appended)");
  }
  const Status checked = s.check(b);
  if (!checked.ok()) {
    s.failed = true;
    return checked;
  }
  for (int64_t j = 0; j < b.n; ++j) s.offsets.push_back(s.offsets.back() + static_cast<uint64_t>(b.counts[j]));
  const uint64_t nvals = (s.offsets.back() - s.offsets[s.offsets.size() - 1 - b.n]) * s.shape.dim;
  if (s.shape.dtype == DType::kF32) {
    s.out->write(b.vectors, 4 * nvals);
  } else {
    std::vector<uint16_t> block(static_cast<size_t>(std::min<uint64_t>(nvals, 1 << 16)));
    for (uint64_t i = 0; i < nvals; i += block.size()) {
      const uint64_t n = std::min<uint64_t>(block.size(), nvals - i);
      for (uint64_t k = 0; k < n; ++k) block[k] = float_to_half(b.vectors[i + k]);
      s.out->write(block.data(), 2 * n);
    }
  }
  if (!s.out->ok()) return s.io_error("write failed: " + s.out->error());
  return Status::Ok();
}

Status TokenStoreWriter::finish() {
  State& s = *s_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.failed || s.done) return Status::Error(StatusCode::kInvalidArgument, "token store " + s.path + ": the writer is " + (s.done ? "finished" : "failed"));
  if (s.docs() != s.shape.n_docs) {
    s.failed = true;
    return Status::Error(StatusCode::kInvalidArgument, "token store " + s.path + ": " + std::to_string(s.docs()) + " documents appended, it was opened for " +
                                                           std::to_string(s.shape.n_docs));
  }
  const uint64_t n_docs = static_cast<uint64_t>(s.shape.n_docs);
  const uint64_t n_tokens = s.offsets.back();
  const TokenStoreLayout l = token_store_layout(n_docs, n_tokens, s.shape.dim, dtype_size(s.shape.dtype), s.shape.id_kind, s.id_bytes);
  FileWriter& w = *s.out;
  w.zeros(l.ids_at - (l.vectors_at + n_tokens * s.shape.dim * dtype_size(s.shape.dtype)));
  if (s.shape.id_kind == IdKind::kInt64) {
    w.write(s.int_ids.data(), 8 * s.int_ids.size());
  } else {
    std::vector<uint64_t> soff(s.str_ids.size() + 1, 0);
    for (size_t j = 0; j < s.str_ids.size(); ++j) soff[j + 1] = soff[j] + s.str_ids[j].size();
    w.write(soff.data(), 8 * soff.size());
    for (const std::string& id : s.str_ids) w.write(id.data(), id.size());
  }
  if (!w.flush()) return s.io_error("write failed: " + w.error());
  // offsets and the zeros up to the vectors, now that the counts are all known
  std::vector<char> front(static_cast<size_t>(l.vectors_at - l.offsets_at), 0);
  std::memcpy(front.data(), s.offsets.data(), 8 * s.offsets.size());
  if (!pwrite_all(s.fd, front.data(), front.size(), l.offsets_at)) return s.io_error("write failed: " + errno_text());
  Xxh64 body;
  body.update(front.data(), front.size());
  std::string err;
  if (!hash_file(s.fd, l.vectors_at, l.file_size, &body, &err)) return s.io_error("cannot read back for the checksum: " + err);
  TokenStoreHeader h{};
  std::memcpy(h.magic, kTokenStoreMagic, 8);
  h.major = kTokenStoreMajor;
  h.minor = kTokenStoreMinor;
  h.dtype = static_cast<uint8_t>(s.shape.dtype);
  h.id_kind = static_cast<uint8_t>(s.shape.id_kind);
  h.dim = static_cast<uint32_t>(s.shape.dim);
  h.n_docs = n_docs;
  h.n_tokens = n_tokens;
  h.file_size = l.file_size;
  h.body_checksum = body.digest();
  h.header_checksum = xxh64(&h, 56);
  if (!pwrite_all(s.fd, &h, sizeof h, 0)) return s.io_error("write failed: " + errno_text());
  if (::fsync(s.fd) != 0) return s.io_error("fsync failed: " + errno_text());
  const int fd = s.fd;
  s.fd = -1;
  if (::close(fd) != 0) return s.io_error("close failed: " + errno_text());
  if (::rename(s.tmp.c_str(), s.path.c_str()) != 0) return s.io_error("rename failed: " + errno_text());
  s.done = true;
  return Status::Ok();
}

Status write_token_store(const std::string& path, const TokenStoreInput& in) {
  std::unique_ptr<TokenStoreWriter> w;
  LEMUR_RETURN_IF_ERROR(TokenStoreWriter::open(path, {in.dim, in.dtype, in.id_kind, in.n_docs}, &w));
  LEMUR_RETURN_IF_ERROR(w->append({in.vectors, in.counts, in.n_docs, in.int_ids, in.str_ids}));
  return w->finish();
}

}  // namespace lemur
