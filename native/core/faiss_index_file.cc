// Reads the layout of an IpIndex file from its bytes (see faiss_index_file.h). Field order and
// widths follow Faiss 1.7.3's index_write.cpp; every read is bounds-checked first, so a short or
// damaged file ends in a Status naming the field, never a read past the end.
#include "faiss_index_file.h"

#include <cstdint>
#include <cstring>

namespace lemur {

namespace {

uint32_t fourcc(const char* s) {
  return static_cast<uint32_t>(static_cast<uint8_t>(s[0])) | static_cast<uint32_t>(static_cast<uint8_t>(s[1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[2])) << 16 | static_cast<uint32_t>(static_cast<uint8_t>(s[3])) << 24;
}

std::string fourcc_text(uint32_t h) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((h >> (8 * i)) & 0xff);
    s += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return "'" + s + "'";
}

// Faiss's QuantizerType values for the two encodings IpIndex writes.
constexpr int32_t kQt8bit = 0;
constexpr int32_t kQtFp16 = 4;

class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size, const std::string& where) : data_(data), size_(size), where_(where) {}

  uint64_t at() const { return at_; }
  uint64_t left() const { return size_ - at_; }

  Status corrupt(const std::string& what) const { return Status::Error(StatusCode::kCorruptFile, where_ + ": " + what); }
  Status corrupt_at(uint64_t at, const std::string& what) const {
    return corrupt(what + " (byte " + std::to_string(at) + ")");
  }

  template <class T>
  Status read(T* v, const char* what) {
    if (left() < sizeof(T)) return truncated(what, sizeof(T));
    std::memcpy(v, data_ + at_, sizeof(T));
    at_ += sizeof(T);
    return Status::Ok();
  }

  // Steps over `count` elements of `elem` bytes; *array_at gets their byte offset.
  Status skip(uint64_t count, uint64_t elem, const char* what, uint64_t* array_at) {
    if (count > left() / elem) return truncated(what, count * elem);  // count * elem may overflow only past left()
    *array_at = at_;
    at_ += count * elem;
    return Status::Ok();
  }

  // A Faiss vector's length prefix (u64); it must be `expect` unless expect is kAny.
  static constexpr uint64_t kAny = ~uint64_t{0};
  Status length(const char* what, uint64_t expect, uint64_t* n) {
    const uint64_t at = at_;
    LEMUR_RETURN_IF_ERROR(read(n, what));
    if (expect != kAny && *n != expect) {
      return corrupt_at(at, std::string(what) + " holds " + std::to_string(*n) + " values, expected " + std::to_string(expect));
    }
    return Status::Ok();
  }

  // A whole Faiss vector (length then elements) copied out.
  template <class T>
  Status copy(const char* what, uint64_t expect, std::vector<T>* out) {
    uint64_t n = 0, array_at = 0;
    LEMUR_RETURN_IF_ERROR(length(what, expect, &n));
    LEMUR_RETURN_IF_ERROR(skip(n, sizeof(T), what, &array_at));
    out->resize(n);
    if (n > 0) std::memcpy(out->data(), data_ + array_at, n * sizeof(T));
    return Status::Ok();
  }

 private:
  Status truncated(const char* what, uint64_t need) const {
    return corrupt(std::string(what) + " at byte " + std::to_string(at_) + " needs " + std::to_string(need) +
                   " bytes, the file ends at " + std::to_string(size_) + " (truncated?)");
  }

  const uint8_t* data_;
  uint64_t size_;
  const std::string& where_;
  uint64_t at_ = 0;
};

// write_index_header: d, ntotal, two unused idx_t, is_trained, metric (+ metric_arg past 1,
// which no inner-product index has).
Status read_header(Cursor& c, const char* type, int expect_d, int64_t expect_n, int* d, int64_t* ntotal) {
  const uint64_t at = c.at();
  int32_t dd = 0, metric = 0;
  int64_t n = 0, unused = 0;
  uint8_t is_trained = 0;
  LEMUR_RETURN_IF_ERROR(c.read(&dd, "index header"));
  LEMUR_RETURN_IF_ERROR(c.read(&n, "index header"));
  LEMUR_RETURN_IF_ERROR(c.read(&unused, "index header"));
  LEMUR_RETURN_IF_ERROR(c.read(&unused, "index header"));
  LEMUR_RETURN_IF_ERROR(c.read(&is_trained, "index header"));
  LEMUR_RETURN_IF_ERROR(c.read(&metric, "index header"));
  const std::string t = type;
  if (metric != 0) return c.corrupt_at(at, t + " metric is " + std::to_string(metric) + ", not inner product (0)");
  if (dd < 1 || dd > (1 << 20)) return c.corrupt_at(at, t + " d = " + std::to_string(dd) + " is outside [1, 2^20]");
  if (n < 0) return c.corrupt_at(at, t + " ntotal = " + std::to_string(n));
  if (expect_d > 0 && (dd != expect_d || n != expect_n)) {
    return c.corrupt_at(at, t + " holds " + std::to_string(n) + " rows of d = " + std::to_string(dd) + ", its parent " +
                                std::to_string(expect_n) + " of d = " + std::to_string(expect_d));
  }
  *d = dd;
  *ntotal = n;
  return Status::Ok();
}

// The storage index: fp32 rows (IndexFlatIP) or fp16 / sq8 codes (IndexScalarQuantizer).
Status read_storage(Cursor& c, uint32_t h, IpIndexFileLayout* out) {
  int d = 0;
  int64_t n = 0;
  const uint64_t rows_n = static_cast<uint64_t>(out->ntotal);
  if (h == fourcc("IxFI")) {
    LEMUR_RETURN_IF_ERROR(read_header(c, "IndexFlatIP", out->d, out->ntotal, &d, &n));
    uint64_t floats = 0;
    LEMUR_RETURN_IF_ERROR(c.length("IndexFlatIP rows", rows_n * out->d, &floats));
    out->storage = RowEncoding::kFp32;
    return c.skip(floats, 4, "IndexFlatIP rows", &out->codes_at);
  }
  if (h != fourcc("IxSQ")) {
    return c.corrupt_at(c.at() - 4, "storage " + fourcc_text(h) + " is neither IndexFlatIP ('IxFI') nor IndexScalarQuantizer ('IxSQ')");
  }
  LEMUR_RETURN_IF_ERROR(read_header(c, "IndexScalarQuantizer", out->d, out->ntotal, &d, &n));
  const uint64_t at = c.at();
  int32_t qtype = 0, rangestat = 0;
  float rangestat_arg = 0;
  uint64_t sq_d = 0, code_size = 0;
  LEMUR_RETURN_IF_ERROR(c.read(&qtype, "scalar quantizer"));
  LEMUR_RETURN_IF_ERROR(c.read(&rangestat, "scalar quantizer"));
  LEMUR_RETURN_IF_ERROR(c.read(&rangestat_arg, "scalar quantizer"));
  LEMUR_RETURN_IF_ERROR(c.read(&sq_d, "scalar quantizer"));
  LEMUR_RETURN_IF_ERROR(c.read(&code_size, "scalar quantizer"));
  if (qtype != kQt8bit && qtype != kQtFp16) {
    return c.corrupt_at(at, "scalar quantizer type " + std::to_string(qtype) + " is neither QT_8bit (0) nor QT_fp16 (4)");
  }
  out->storage = qtype == kQtFp16 ? RowEncoding::kFp16 : RowEncoding::kSq8;
  if (sq_d != static_cast<uint64_t>(out->d) || code_size != row_code_size(out->storage, out->d)) {
    return c.corrupt_at(at, "scalar quantizer of d = " + std::to_string(sq_d) + " and " + std::to_string(code_size) +
                                " bytes per row does not match d = " + std::to_string(out->d));
  }
  std::vector<float> trained;
  LEMUR_RETURN_IF_ERROR(c.copy("scalar quantizer trained", Cursor::kAny, &trained));
  if (out->storage == RowEncoding::kSq8) {
    // an empty sq8 index may be untrained; rows need [vmin | vdiff]
    if (trained.size() != 2 * static_cast<size_t>(out->d) && !(trained.empty() && rows_n == 0)) {
      return c.corrupt("sq8 trained vector holds " + std::to_string(trained.size()) + " values, expected 2d = " +
                       std::to_string(2 * out->d));
    }
    out->sq_trained = std::move(trained);
  }
  uint64_t bytes = 0;
  LEMUR_RETURN_IF_ERROR(c.length("scalar quantizer codes", rows_n * code_size, &bytes));
  return c.skip(bytes, 1, "scalar quantizer codes", &out->codes_at);
}

// The HNSW struct (write_HNSW), checked so that every node's slot and every level's range lie
// inside the neighbours array.
Status read_hnsw(Cursor& c, IpIndexFileLayout* out) {
  const uint64_t n = static_cast<uint64_t>(out->ntotal);
  if (n > static_cast<uint64_t>(INT32_MAX)) return c.corrupt("HNSW index of " + std::to_string(n) + " rows: Faiss numbers nodes with int32");
  uint64_t count = 0, skipped = 0;
  LEMUR_RETURN_IF_ERROR(c.length("HNSW assign_probas", Cursor::kAny, &count));
  LEMUR_RETURN_IF_ERROR(c.skip(count, 8, "HNSW assign_probas", &skipped));
  const uint64_t cum_at = c.at();
  std::vector<int>& cum = out->cum_nneighbor_per_level;
  LEMUR_RETURN_IF_ERROR(c.copy("HNSW cum_nneighbor_per_level", Cursor::kAny, &cum));
  if (cum.size() < 2 || cum[0] != 0) return c.corrupt_at(cum_at, "HNSW cum_nneighbor_per_level has no level 0");
  for (size_t l = 1; l < cum.size(); ++l) {
    if (cum[l] <= cum[l - 1]) return c.corrupt_at(cum_at, "HNSW cum_nneighbor_per_level is not increasing at level " + std::to_string(l));
  }
  const int n_levels = static_cast<int>(cum.size()) - 1;
  const uint64_t levels_at = c.at();
  std::vector<int> levels;  // only to check the offsets: the search needs none
  LEMUR_RETURN_IF_ERROR(c.copy("HNSW levels", n, &levels));
  const uint64_t offsets_at = c.at();
  LEMUR_RETURN_IF_ERROR(c.copy("HNSW offsets", n + 1, &out->offsets));
  const std::vector<uint64_t>& off = out->offsets;
  if (off[0] != 0) return c.corrupt_at(offsets_at, "HNSW offsets do not start at 0");
  for (uint64_t i = 0; i < n; ++i) {
    if (levels[i] < 1 || levels[i] > n_levels) {
      return c.corrupt_at(levels_at, "HNSW node " + std::to_string(i) + " has " + std::to_string(levels[i]) +
                                         " levels, outside [1, " + std::to_string(n_levels) + "]");
    }
    if (off[i + 1] < off[i] || off[i + 1] - off[i] != static_cast<uint64_t>(cum[levels[i]])) {
      return c.corrupt_at(offsets_at, "HNSW node " + std::to_string(i) + " has a neighbour slot of " +
                                          std::to_string(static_cast<int64_t>(off[i + 1] - off[i])) + " entries for " +
                                          std::to_string(levels[i]) + " levels (" + std::to_string(cum[levels[i]]) + ")");
    }
  }
  LEMUR_RETURN_IF_ERROR(c.length("HNSW neighbors", off[n], &count));
  LEMUR_RETURN_IF_ERROR(c.skip(count, 4, "HNSW neighbors", &out->neighbors_at));
  const uint64_t tail_at = c.at();
  int32_t entry = 0, max_level = 0, efc = 0, efs = 0, beam = 0;
  LEMUR_RETURN_IF_ERROR(c.read(&entry, "HNSW entry_point"));
  LEMUR_RETURN_IF_ERROR(c.read(&max_level, "HNSW max_level"));
  LEMUR_RETURN_IF_ERROR(c.read(&efc, "HNSW efConstruction"));
  LEMUR_RETURN_IF_ERROR(c.read(&efs, "HNSW efSearch"));
  LEMUR_RETURN_IF_ERROR(c.read(&beam, "HNSW upper_beam"));
  // Faiss keeps the entry point on a node of the top level: the greedy descent starts there.
  const bool entry_ok = n == 0 ? entry == -1
                               : entry >= 0 && static_cast<uint64_t>(entry) < n && max_level >= 0 && levels[entry] == max_level + 1;
  if (!entry_ok) {
    return c.corrupt_at(tail_at, "HNSW entry point " + std::to_string(entry) + " at max level " + std::to_string(max_level) +
                                     " is not a top-level node of " + std::to_string(n));
  }
  if (beam != 1) return c.corrupt_at(tail_at, "HNSW upper_beam " + std::to_string(beam) + " is not 1 (the only one IpIndex writes)");
  out->entry_point = entry;
  out->max_level = max_level;
  out->ef_construction = efc;
  out->ef_search = efs;
  out->upper_beam = beam;
  out->M = cum.size() > 2 ? cum[2] - cum[1] : cum[1] / 2;
  return Status::Ok();
}

}  // namespace

Status parse_ip_index_file(const uint8_t* data, uint64_t size, const std::string& where, IpIndexFileLayout* out) {
  Cursor c(data, size, where);
  IpIndexFileLayout& l = *out;
  uint32_t h = 0;
  LEMUR_RETURN_IF_ERROR(c.read(&h, "fourcc"));
  if (h != fourcc("IxM2") && h != fourcc("IxMp")) {
    return c.corrupt("starts with " + fourcc_text(h) + ", not an IndexIDMap2 ('IxM2'): not an index IpIndex writes");
  }
  int64_t n = 0;
  LEMUR_RETURN_IF_ERROR(read_header(c, "IndexIDMap2", 0, 0, &l.d, &n));
  if (static_cast<uint64_t>(n) > size) return c.corrupt("IndexIDMap2 ntotal = " + std::to_string(n) + " cannot fit in " + std::to_string(size) + " bytes");
  l.ntotal = n;
  LEMUR_RETURN_IF_ERROR(c.read(&h, "inner index fourcc"));
  if (h == fourcc("IHNf") || h == fourcc("IHNs")) {
    int d = 0;
    const char* type = h == fourcc("IHNf") ? "IndexHNSWFlat" : "IndexHNSWSQ";
    LEMUR_RETURN_IF_ERROR(read_header(c, type, l.d, l.ntotal, &d, &n));
    LEMUR_RETURN_IF_ERROR(read_hnsw(c, &l));
    l.kind = IpIndexKind::kHnsw;
    const uint32_t want = h == fourcc("IHNf") ? fourcc("IxFI") : fourcc("IxSQ");
    uint32_t s = 0;
    LEMUR_RETURN_IF_ERROR(c.read(&s, "storage fourcc"));
    if (s != want) return c.corrupt_at(c.at() - 4, std::string(type) + " over storage " + fourcc_text(s) + ", expected " + fourcc_text(want));
    LEMUR_RETURN_IF_ERROR(read_storage(c, s, &l));
  } else {
    l.kind = IpIndexKind::kFlat;
    LEMUR_RETURN_IF_ERROR(read_storage(c, h, &l));
  }
  LEMUR_RETURN_IF_ERROR(c.copy("IndexIDMap2 id_map", static_cast<uint64_t>(l.ntotal), &l.ids));
  if (c.left() != 0) return c.corrupt(std::to_string(c.left()) + " bytes follow the id map (byte " + std::to_string(c.at()) + ")");
  return Status::Ok();
}

}  // namespace lemur
