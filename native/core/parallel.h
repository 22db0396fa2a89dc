// parallel_for: split [0, n) over `threads` std::threads (the caller's thread is one of them).
// Plain threads rather than OpenMP: no spinning pool left behind to steal a 2-core machine's
// other core from the event loop and from OpenBLAS between calls.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace lemur {

// Dynamic scheduling in chunks of `grain`; fn(begin, end, thread_index).
template <class Fn>
void parallel_for(int64_t n, int threads, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t chunks = (n + grain - 1) / grain;
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, chunks)));
  if (threads == 1) {
    fn(int64_t{0}, n, 0);
    return;
  }
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  auto body = [&](int t) {
    try {
      for (;;) {
        const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
        if (c >= chunks || failed.load(std::memory_order_relaxed)) break;
        const int64_t b = c * grain;
        fn(b, std::min(n, b + grain), t);
      }
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(body, t);
  body(0);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace lemur
