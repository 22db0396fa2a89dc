// Seeded randomness with one algorithm everywhere (std::mt19937_64 plus our own uniform and
// shuffle): libstdc++'s distributions are implementation-defined, our models must not be.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace lemur {

class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  double uniform() { return static_cast<double>(g_() >> 11) * (1.0 / 9007199254740992.0); }
  float uniform(float lo, float hi) { return lo + static_cast<float>(uniform()) * (hi - lo); }
  uint64_t below(uint64_t n) { return static_cast<uint64_t>(uniform() * static_cast<double>(n)); }
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
  // k distinct values of [0, n), in random order (partial Fisher-Yates; O(n) memory).
  std::vector<int64_t> sample(int64_t n, int64_t k) {
    std::vector<int64_t> idx(n);
    for (int64_t i = 0; i < n; ++i) idx[i] = i;
    for (int64_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + static_cast<int64_t>(below(n - i))]);
    idx.resize(k);
    return idx;
  }

 private:
  std::mt19937_64 g_;
};

}  // namespace lemur
