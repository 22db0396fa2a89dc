// DocsView: what a MaxSim operation needs of a document collection (a mapped token store or
// any other contiguous token-major layout): no ownership, no file format.
#pragma once
#include <cstdint>

namespace lemur {

enum class DType : uint8_t { kF32 = 1, kF16 = 2 };

inline int dtype_size(DType t) { return t == DType::kF16 ? 2 : 4; }

struct DocsView {
  int dim = 0;
  int64_t n_docs = 0;
  DType dtype = DType::kF32;
  const uint64_t* offsets = nullptr;  // n_docs + 1 token offsets, offsets[0] == 0
  const void* vectors = nullptr;      // offsets[n_docs] x dim values, token-major

  int64_t ntok(int64_t j) const { return static_cast<int64_t>(offsets[j + 1] - offsets[j]); }
  const float* f32_rows(int64_t j) const {
    return static_cast<const float*>(vectors) + offsets[j] * static_cast<uint64_t>(dim);
  }
  const uint16_t* f16_rows(int64_t j) const {
    return static_cast<const uint16_t*>(vectors) + offsets[j] * static_cast<uint64_t>(dim);
  }
};

}  // namespace lemur
