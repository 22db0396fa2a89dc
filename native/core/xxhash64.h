// XXH64 (Yann Collet's xxHash, 64-bit): the checksum of token store and model files.
// Chosen for speed (~10 GB/s) so a 360 MB store is verified on open in tens of milliseconds.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lemur {

class Xxh64 {
 public:
  explicit Xxh64(uint64_t seed = 0);
  void update(const void* data, size_t len);
  uint64_t digest() const;

 private:
  uint64_t v_[4];
  uint64_t total_ = 0;
  unsigned char buf_[32];
  size_t buf_len_ = 0;
  uint64_t seed_;
};

uint64_t xxh64(const void* data, size_t len, uint64_t seed = 0);

}  // namespace lemur
