// Stored rows of the candidate index (see row_codec.h): Faiss-compatible encoders and decoders
// in portable scalar code, the prepared query, and the exact top-k scan over stored rows.
#include "row_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "blas.h"
#include "half.h"
#include "ols.h"
#include "parallel.h"
#include "topk.h"

namespace lemur {

const char* row_encoding_name(RowEncoding e) {
  switch (e) {
    case RowEncoding::kFp16: return "fp16";
    case RowEncoding::kSq8: return "sq8";
    case RowEncoding::kFp32: break;
  }
  return "fp32";
}

Status parse_row_encoding(const std::string& name, RowEncoding* out) {
  if (name == "fp32") *out = RowEncoding::kFp32;
  else if (name == "fp16") *out = RowEncoding::kFp16;
  else if (name == "sq8") *out = RowEncoding::kSq8;
  else return Status::Error(StatusCode::kInvalidArgument, "storage must be 'fp32', 'fp16' or 'sq8', not '" + name + "'");
  return Status::Ok();
}

size_t row_code_size(RowEncoding e, int d) {
  switch (e) {
    case RowEncoding::kFp16: return 2 * static_cast<size_t>(d);
    case RowEncoding::kSq8: return static_cast<size_t>(d);
    case RowEncoding::kFp32: break;
  }
  return 4 * static_cast<size_t>(d);
}

void sq8_train(const float* x, int64_t n, int d, std::vector<float>* trained) {
  trained->assign(2 * static_cast<size_t>(d), 0.0f);
  if (n <= 0) return;
  float* vmin = trained->data();
  float* vmax = trained->data() + d;
  std::memcpy(vmin, x, sizeof(float) * d);
  std::memcpy(vmax, x, sizeof(float) * d);
  for (int64_t i = 1; i < n; ++i) {
    const float* r = x + i * d;
    for (int j = 0; j < d; ++j) {
      if (r[j] < vmin[j]) vmin[j] = r[j];
      if (r[j] > vmax[j]) vmax[j] = r[j];
    }
  }
  for (int j = 0; j < d; ++j) vmax[j] = vmax[j] - vmin[j];  // Faiss keeps vdiff in place of vmax
}

Status check_encodable(RowEncoding e, const float* x, int64_t n, int d) {
  if (e != RowEncoding::kFp16) return Status::Ok();
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) {
      const float v = x[i * d + j];
      if (!(std::fabs(v) < 65520.0f)) {  // float_to_half rounds from 65520 up to infinity
        return Status::InputError(i, "vectors", "row " + std::to_string(i) + ", dimension " + std::to_string(j) + ": " +
                                                    std::to_string(v) + " does not fit fp16 storage (|x| <= 65504)");
      }
    }
  }
  return Status::Ok();
}

namespace {

// Faiss 1.7.3 QuantizerTemplate<Codec8bit, false, 1>::encode_vector, operation for operation.
void encode_sq8(int d, const float* vmin, const float* vdiff, const float* x, uint8_t* code) {
  for (int j = 0; j < d; ++j) {
    float t = 0;
    if (vdiff[j] != 0) {
      t = (x[j] - vmin[j]) / vdiff[j];
      if (t < 0) t = 0;
      if (t > 1.0f) t = 1.0f;
    }
    code[j] = static_cast<uint8_t>(static_cast<int>(255 * t));
  }
}

}  // namespace

void encode_rows(RowEncoding e, int d, const float* trained, const float* x, int64_t n, uint8_t* codes, int threads) {
  const size_t cs = row_code_size(e, d);
  parallel_for(n, threads, 256, [&](int64_t b, int64_t end, int) {
    for (int64_t i = b; i < end; ++i) {
      const float* r = x + i * d;
      uint8_t* c = codes + static_cast<size_t>(i) * cs;
      switch (e) {
        case RowEncoding::kFp32: std::memcpy(c, r, cs); break;
        case RowEncoding::kFp16:
          for (int j = 0; j < d; ++j) {
            const uint16_t h = float_to_half(r[j]);
            std::memcpy(c + 2 * j, &h, 2);  // little-endian, as Faiss writes uint16_t codes
          }
          break;
        case RowEncoding::kSq8: encode_sq8(d, trained, trained + d, r, c); break;
      }
    }
  });
}

void decode_row(RowEncoding e, int d, const float* trained, const uint8_t* code, float* out) {
  switch (e) {
    case RowEncoding::kFp32: std::memcpy(out, code, sizeof(float) * d); return;
    case RowEncoding::kFp16:
      for (int j = 0; j < d; ++j) {
        uint16_t h;
        std::memcpy(&h, code + 2 * j, 2);
        out[j] = half_to_float(h);
      }
      return;
    case RowEncoding::kSq8: {
      // Faiss's Codec8bit::decode_component then vmin + t * vdiff: two roundings (this file is
      // built without FMA, so the compiler cannot fuse them; neither can an SSE Faiss).
      const float* vmin = trained;
      const float* vdiff = trained + d;
      for (int j = 0; j < d; ++j) {
        const float t = (code[j] + 0.5f) / 255.0f;
        out[j] = vmin[j] + t * vdiff[j];
      }
      return;
    }
  }
}

void Sq8Derived::derive(const std::vector<float>& trained, int d) {
  step.resize(d);
  offset.resize(d);
  for (int j = 0; j < d; ++j) {
    step[j] = trained[d + j] / 255.0f;
    offset[j] = trained[j] + 0.5f * step[j];
  }
}

void PreparedQuery::set(const RowsView& v, const float* q) {
  q_ = q;
  if (v.enc != RowEncoding::kSq8) return;
  w_.resize(v.d);
  for (int j = 0; j < v.d; ++j) w_[j] = q[j] * v.step[j];  // one rounding each, on every ISA
  bias_ = v.kt->dot(q, v.offset, v.d);
}

void PreparedQuery::set_row(const RowsView& v, int64_t i) {
  if (v.enc == RowEncoding::kFp32) {
    q_ = reinterpret_cast<const float*>(v.row(i));  // the row itself: no copy
    return;
  }
  buf_.resize(v.d);
  v.decode(i, buf_.data());
  set(v, buf_.data());
}

namespace {

// A few queries: every row read once for all of them, rows split over the threads; the tie
// rule (higher score, then lower row) makes the merge independent of the split.
void scan_pass(const RowsView& v, const float* F, int64_t nq, int64_t k, int threads, int64_t* labels,
               float* distances) {
  std::vector<PreparedQuery> qs(static_cast<size_t>(nq));
  for (int64_t q = 0; q < nq; ++q) qs[q].set(v, F + q * v.d);
  const int nt = std::max(1, threads);
  std::vector<std::vector<TopK>> local(nt);
  for (auto& l : local)
    for (int64_t q = 0; q < nq; ++q) l.emplace_back(k);
  parallel_for(v.n, nt, 256, [&](int64_t b, int64_t e, int t) {
    std::vector<TopK>& tops = local[t];
    for (int64_t j = b; j < e; ++j) {
      const uint8_t* code = v.row(j);
      for (int64_t q = 0; q < nq; ++q) tops[q].push(qs[q].ip(v, code), j);
    }
  });
  for (int64_t q = 0; q < nq; ++q) {
    TopK all(k);
    for (const auto& l : local)
      for (const Hit& hit : l[q].hits()) all.push(hit.score, hit.label);
    all.write(labels + q * k, distances + q * k);
  }
}

// A batch over compact rows: decode a block of rows (threaded), one sgemm, per-query selection.
// 1024 rows of 2048 floats are an 8 MiB block, decoded once for the whole batch.
void scan_blocks(const RowsView& v, const float* F, int64_t nq, int64_t k, int threads, int64_t* labels,
                 float* distances) {
  constexpr int64_t kBlock = 1024;
  const int d = v.d;
  std::vector<TopK> tops;
  tops.reserve(nq);
  for (int64_t i = 0; i < nq; ++i) tops.emplace_back(k);
  std::vector<float> rows(static_cast<size_t>(std::min(kBlock, v.n)) * d);
  std::vector<float> S(static_cast<size_t>(nq) * std::min(kBlock, v.n));
  for (int64_t b0 = 0; b0 < v.n; b0 += kBlock) {
    const int64_t nb = std::min(kBlock, v.n - b0);
    parallel_for(nb, threads, 64, [&](int64_t b, int64_t e, int) {
      for (int64_t j = b; j < e; ++j) v.decode(b0 + j, rows.data() + j * d);
    });
    sgemm_rm(false, true, static_cast<int>(nq), static_cast<int>(nb), d, 1.0f, F, d, rows.data(), d, 0.0f, S.data(),
             static_cast<int>(nb));
    parallel_for(nq, threads, 16, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const float* s = S.data() + i * nb;
        for (int64_t j = 0; j < nb; ++j) tops[i].push(s[j], b0 + j);
      }
    });
  }
  for (int64_t i = 0; i < nq; ++i) tops[i].write(labels + i * k, distances + i * k);
}

}  // namespace

Status scan_topk(const RowsView& v, const float* F, int64_t nq, int64_t k, int threads, int64_t* labels,
                 float* distances) {
  if (nq <= 0) return Status::Ok();
  if (v.n == 0) {
    for (int64_t i = 0; i < nq * k; ++i) {
      labels[i] = -1;
      distances[i] = -std::numeric_limits<float>::infinity();
    }
    return Status::Ok();
  }
  if (nq <= kScanPassMaxQueries) {
    scan_pass(v, F, nq, k, threads, labels, distances);
  } else if (v.enc == RowEncoding::kFp32 && reinterpret_cast<uintptr_t>(v.codes) % alignof(float) == 0) {
    // sgemm straight on the rows; rows at a packed file's odd offset (a mapped index) are
    // copied block by block instead: BLAS may assume float alignment
    return ip_topk(F, nq, reinterpret_cast<const float*>(v.codes), v.n, v.d, k, threads, labels, distances);
  } else {
    scan_blocks(v, F, nq, k, threads, labels, distances);
  }
  return Status::Ok();
}

}  // namespace lemur
