// How the candidate index stores its W rows, and the inner product of an fp32 query with a
// stored row: fp32 (as given), fp16 (IEEE half, round to nearest even) or sq8 (one byte per
// dimension: Faiss's ScalarQuantizer QT_8bit with RS_minmax, per-dimension min and range
// trained on the rows of the first add). The codes are Faiss's own bytes, so a stock Faiss
// reads them and decodes them to the same floats (decode_row). Encoding and decoding are
// ISA-neutral scalar code, so the bytes are the same on every CPU; scoring goes through the
// kernel table (dot, dot_f16, dot_u8), so the scores are the same bits on every kernel.
// Not here: Faiss objects, the graph, files (ip_index.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "maxsim.h"
#include "status.h"

namespace lemur {

enum class RowEncoding : int { kFp32 = 0, kFp16 = 1, kSq8 = 2 };

const char* row_encoding_name(RowEncoding e);
// Parses "fp32" | "fp16" | "sq8"; anything else is kInvalidArgument.
Status parse_row_encoding(const std::string& name, RowEncoding* out);
size_t row_code_size(RowEncoding e, int d);

// Faiss's RS_minmax training for QT_8bit: trained = [vmin (d) | vdiff (d)], vmin the smallest
// value of each dimension over the n rows, vdiff = max - min (Faiss's exact arithmetic:
// rangestat_arg 0). Min and max are exact, so the result does not depend on row order.
void sq8_train(const float* x, int64_t n, int d, std::vector<float>* trained);

// Rows that cannot be stored: for fp16 a value whose magnitude rounds past 65504 (it would be
// stored as infinity). Names the first such row and dimension. sq8 clamps to its trained range
// instead (Faiss's behaviour), fp32 stores anything.
Status check_encodable(RowEncoding e, const float* x, int64_t n, int d);

// n rows -> n codes of row_code_size bytes, split over `threads` threads (each row's bytes
// depend only on the row and `trained`). sq8 is Faiss's encoder: t = (x - vmin) / vdiff
// clamped to [0, 1] (0 where vdiff is 0), code = int(255 t).
void encode_rows(RowEncoding e, int d, const float* trained, const float* x, int64_t n, uint8_t* codes, int threads);

// Faiss's decoder, bit for bit on a stock (SSE) build: sq8 x = vmin + ((c + 0.5) / 255) * vdiff,
// fp16 the exact half value.
void decode_row(RowEncoding e, int d, const float* trained, const uint8_t* code, float* out);

// A read-only view of n stored rows and what scoring them needs. For sq8, `step` = vdiff / 255
// and `offset` = vmin + step / 2 per dimension (Sq8Derived), so that
//   <q, x> = sum q[i] * offset[i] + sum (q[i] * step[i]) * c[i]
// is one fp32 dot per query plus one byte-row dot per row: the decoded value is never formed.
struct RowsView {
  RowEncoding enc = RowEncoding::kFp32;
  int d = 0;
  const uint8_t* codes = nullptr;
  size_t code_size = 0;
  int64_t n = 0;
  const float* trained = nullptr;  // sq8: [vmin | vdiff]
  const float* step = nullptr;     // sq8
  const float* offset = nullptr;   // sq8
  const KernelTable* kt = nullptr;

  const uint8_t* row(int64_t i) const { return codes + static_cast<size_t>(i) * code_size; }
  void decode(int64_t i, float* out) const { decode_row(enc, d, trained, row(i), out); }
};

// step and offset of a RowsView, from Faiss's trained vector.
struct Sq8Derived {
  std::vector<float> step, offset;
  void derive(const std::vector<float>& trained, int d);
};

// One query made ready for scoring against a view's rows. The score of a row is the index's
// inner product: the HNSW build, its search and the scans all use this, so they agree bit for
// bit. fp32: kt->dot(q, row); fp16: kt->dot_f16(q, row); sq8: bias + kt->dot_u8(q * step, row)
// with bias = kt->dot(q, offset), the final add last.
class PreparedQuery {
 public:
  // An fp32 query of v.d floats; fp32 and fp16 keep the pointer, so q must outlive the scoring.
  void set(const RowsView& v, const float* q);
  // The decoded row i as the query: how the HNSW build scores stored rows against each other.
  void set_row(const RowsView& v, int64_t i);
  float ip(const RowsView& v, const uint8_t* code) const {
    switch (v.enc) {
      case RowEncoding::kFp16: return v.kt->dot_f16(q_, reinterpret_cast<const uint16_t*>(code), v.d);
      case RowEncoding::kSq8: return bias_ + v.kt->dot_u8(w_.data(), code, v.d);
      case RowEncoding::kFp32: break;
    }
    return v.kt->dot(q_, reinterpret_cast<const float*>(code), v.d);
  }
  float ip(const RowsView& v, int64_t j) const { return ip(v, v.row(j)); }

 private:
  const float* q_ = nullptr;
  std::vector<float> buf_;  // a decoded row (set_row of fp16 / sq8)
  std::vector<float> w_;    // sq8: q * step
  float bias_ = 0;
};

// Few queries at most for the one-pass scan; more go through decoded blocks and sgemm.
constexpr int64_t kScanPassMaxQueries = 7;

// Exact top-k by the index's inner product of nq fp32 queries over every row of v; labels are
// row positions (-1 / -inf past n). Up to kScanPassMaxQueries queries: one threaded pass with
// PreparedQuery::ip (the same bits on every kernel and thread count, equal to what HNSW search
// reports for the same row). More: rows decoded block by block into fp32 and scored by sgemm
// (fast, but a score may differ in its last bits from the pass's and with the BLAS core, as
// ip_topk's batches do); fp32 rows go to ip_topk unchanged when float-aligned
// (a mapped file's rows may not be: they are copied block by block like compact ones).
Status scan_topk(const RowsView& v, const float* F, int64_t nq, int64_t k, int threads, int64_t* labels,
                 float* distances);

}  // namespace lemur
