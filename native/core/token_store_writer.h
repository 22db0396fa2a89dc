// TokenStoreWriter: writes a token store file (format: token_store_format.h) one batch of
// documents at a time, so a caller holds a batch, never the whole store. The vectors section
// starts at an offset that depends on the document count alone, declared at open(), so each
// batch's vectors go straight to their final place in a temp file; the offsets, ids, header and
// checksums are written by finish(), which then renames the file into place: readers see the old
// file or the complete new one, and a writer destroyed before finish() leaves nothing on disk.
// write_token_store is the same writer with one batch, so both give the same bytes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "docs_view.h"
#include "status.h"
#include "token_store_format.h"

namespace lemur {

// What a store holds, fixed when it is opened.
struct TokenStoreShape {
  int dim = 0;
  DType dtype = DType::kF32;
  IdKind id_kind = IdKind::kInt64;
  int64_t n_docs = 0;  // exactly this many documents must be appended before finish()
};

// Documents appended at once: their token vectors, token counts and ids.
struct DocBatch {
  const float* vectors = nullptr;                     // sum(counts) x dim, token-major
  const int64_t* counts = nullptr;                    // n, each >= 1
  int64_t n = 0;
  const int64_t* int_ids = nullptr;                   // id kind int64: n of them
  const std::vector<std::string>* str_ids = nullptr;  // id kind string: n of them
};

class TokenStoreWriter {
 public:
  // Creates the temp file beside `path` (`path`.tmp-<pid>-<seq>).
  static Status open(const std::string& path, const TokenStoreShape& shape, std::unique_ptr<TokenStoreWriter>* out);
  // Removes the temp file unless finish() succeeded.
  ~TokenStoreWriter();
  TokenStoreWriter(const TokenStoreWriter&) = delete;
  TokenStoreWriter& operator=(const TokenStoreWriter&) = delete;

  // Checks the batch, then writes its vectors: every count >= 1, every value finite (and below
  // 65520 in magnitude for float16), ids unique across every batch. An error names the document's
  // position in the store (row), its id and the field (counts, vectors, ids); after any error
  // the writer accepts nothing more. Calls are serialised: one batch at a time.
  Status append(const DocBatch& batch);
  // Writes offsets, ids, header and checksums, fsyncs and renames the file to `path`. Needs the
  // n_docs documents of the shape appended.
  Status finish();
  // Fixed at open(): safe to read from any thread.
  const TokenStoreShape& shape() const;

 private:
  struct State;
  explicit TokenStoreWriter(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// A whole store in one call (TokenStore.write).
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
