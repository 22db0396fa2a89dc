// TokenStore: a read-only, memory-mapped token store file (format in token_store_format.h),
// and the writer that produces one atomically (temp file, fsync, rename).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "docs_view.h"
#include "mapped_file.h"
#include "status.h"
#include "token_store_format.h"

namespace lemur {

class TokenStore {
 public:
  // Maps `path`, validates header, sizes and offsets; with `verify`, also the body checksum.
  static Status open(const std::string& path, bool verify, std::unique_ptr<TokenStore>* out);
  ~TokenStore();
  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  const DocsView& docs() const { return view_; }
  IdKind id_kind() const { return id_kind_; }
  int64_t int_id(int64_t j) const;
  std::string_view str_id(int64_t j) const;
  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_->size(); }

 private:
  TokenStore() = default;
  std::string path_;
  std::unique_ptr<MappedFile> file_;
  DocsView view_;
  IdKind id_kind_ = IdKind::kInt64;
  const int64_t* int_ids_ = nullptr;
  const uint64_t* str_offsets_ = nullptr;
  const char* str_bytes_ = nullptr;
};

struct TokenStoreInput {
  const float* vectors = nullptr;  // sum(counts) x dim
  const int64_t* counts = nullptr; // tokens per doc, each >= 1
  int64_t n_docs = 0;
  int dim = 0;
  DType dtype = DType::kF32;
  IdKind id_kind = IdKind::kInt64;
  const int64_t* int_ids = nullptr;              // id kind int64
  const std::vector<std::string>* str_ids = nullptr;  // id kind string
};

// Rejects non-finite values (naming doc, id, token and component), empty docs and duplicate ids,
// then writes `path` atomically: readers see the old file or the complete new one.
Status write_token_store(const std::string& path, const TokenStoreInput& in);

}  // namespace lemur
