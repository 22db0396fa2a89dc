// A 64-byte aligned, uninitialised scratch array: query panels and converted fp16 rows are read
// with full-width vector loads, and a load split across two cache lines costs twice.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

namespace lemur {

template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  ~AlignedBuffer() { std::free(p_); }

  // Grows only; contents are not preserved.
  void resize(size_t n) {
    if (n <= n_) return;
    std::free(p_);
    const size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
    p_ = static_cast<T*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes));
    if (!p_) { n_ = 0; throw std::bad_alloc(); }
    n_ = n;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return p_[i]; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace lemur
