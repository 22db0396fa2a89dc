// Top-k selection shared by every search: "better" = higher score, then lower label (the
// ground truth's tie rule), so results are deterministic whatever order hits arrive in.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace lemur {

// "a ranks before b": higher score, then lower doc position (the ground truth's tie rule).
inline bool better(float sa, int64_t la, float sb, int64_t lb) {
  return sa > sb || (sa == sb && la < lb);
}

struct Hit {
  float score;
  int64_t label;
};

// Fixed-size selection of the k best hits: a min-heap on "better" keeps the worst on top.
class TopK {
 public:
  explicit TopK(int64_t k) : k_(k) { heap_.reserve(static_cast<size_t>(k)); }
  void push(float s, int64_t l) {
    if (static_cast<int64_t>(heap_.size()) < k_) {
      heap_.push_back({s, l});
      std::push_heap(heap_.begin(), heap_.end(), cmp);
    } else if (k_ > 0 && better(s, l, heap_.front().score, heap_.front().label)) {
      std::pop_heap(heap_.begin(), heap_.end(), cmp);
      heap_.back() = {s, l};
      std::push_heap(heap_.begin(), heap_.end(), cmp);
    }
  }
  // The hits kept so far, in heap order (for merging partial selections).
  const std::vector<Hit>& hits() const { return heap_; }
  void write(int64_t* labels, float* distances) {
    std::sort(heap_.begin(), heap_.end(), cmp);
    for (int64_t i = 0; i < k_; ++i) {
      const bool have = i < static_cast<int64_t>(heap_.size());
      labels[i] = have ? heap_[i].label : -1;
      distances[i] = have ? heap_[i].score : -std::numeric_limits<float>::infinity();
    }
  }

 private:
  static bool cmp(const Hit& a, const Hit& b) { return better(a.score, a.label, b.score, b.label); }
  int64_t k_;
  std::vector<Hit> heap_;
};

}  // namespace lemur
