// TokenStore: a read-only, memory-mapped token store file (format in token_store_format.h).
// Files are written by token_store_writer.h.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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
  // See MappedFile::drop_resident.
  void drop_resident() const { file_->drop_resident(); }

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

}  // namespace lemur
