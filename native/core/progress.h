// Progress of a long native call, napi-free: a counter that worker threads bump, forwarded to a
// callback a few times a second at most, then exactly once with done == total when the work is
// complete. It does not deliver anything to JS (addon/progress_binding.h does) and never touches
// the data being computed, so a result has the same bits with or without a callback.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>

namespace lemur {

// (done, total) in the call's unit (rows, documents, vectors). Called from whichever thread
// reports, one call at a time, never after the call that was given it has returned.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// A person reads a bar a few times a second; more calls only cost JS-thread time.
constexpr std::chrono::milliseconds kProgressInterval{200};

// Time gate for a single reporting thread (ψ's batch loop): due() is true at most once per
// interval. Not thread-safe: ProgressMeter holds its own under a lock.
class ProgressGate {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ProgressGate(std::chrono::nanoseconds interval = kProgressInterval)
      : interval_(interval), next_(Clock::now() + interval) {}

  bool due() {
    const Clock::time_point now = Clock::now();
    if (now < next_) return false;
    next_ = now + interval_;
    return true;
  }

 private:
  std::chrono::nanoseconds interval_;
  Clock::time_point next_;
};

// Counts work in sub-units (e.g. learn row × document cells of a target matrix) and reports
// done = counted / per_unit units out of `total`. add() is safe from any number of threads and
// never blocks them: a thread reports only if the interval has passed and no other thread is
// reporting, otherwise it just counts. Intermediate reports have done < total and strictly
// increase; finish() reports done == total once, after the work, from the calling thread, so a
// consumer sees the end exactly when the call is about to return. Without a callback every
// method returns at its first branch. Not called on failure: a failed call ends without it.
class ProgressMeter {
 public:
  using Clock = std::chrono::steady_clock;

  ProgressMeter(ProgressFn fn, uint64_t total, uint64_t per_unit = 1,
                std::chrono::nanoseconds interval = kProgressInterval)
      : fn_(std::move(fn)),
        total_(total),
        per_unit_(per_unit == 0 ? 1 : per_unit),
        interval_ns_(interval.count()),
        next_ns_(now_ns() + interval.count()) {}
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  bool active() const { return static_cast<bool>(fn_); }
  uint64_t total() const { return total_; }

  // `n` more sub-units done.
  void add(uint64_t n) {
    if (!fn_) return;
    counted_.fetch_add(n, std::memory_order_relaxed);
    const int64_t now = now_ns();
    if (now < next_ns_.load(std::memory_order_relaxed)) return;
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    if (!lock.owns_lock() || finished_) return;
    // Read the count under the lock: successive reporters then see non-decreasing values.
    const uint64_t done = counted_.load(std::memory_order_relaxed) / per_unit_;
    if (done <= last_ || done >= total_) return;  // nothing new, or the end: finish() says it
    last_ = done;
    next_ns_.store(now + interval_ns_, std::memory_order_relaxed);
    fn_(done, total_);
  }

  // The work is complete: reports (total, total), once.
  void finish() {
    if (!fn_) return;
    std::lock_guard<std::mutex> lock(mu_);  // waits for a report in progress on another thread
    if (finished_) return;
    finished_ = true;
    last_ = total_;
    fn_(total_, total_);
  }

 private:
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  }

  const ProgressFn fn_;
  const uint64_t total_;
  const uint64_t per_unit_;
  const int64_t interval_ns_;
  std::atomic<uint64_t> counted_{0};
  std::atomic<int64_t> next_ns_;
  std::mutex mu_;      // held while reporting: calls never overlap
  uint64_t last_ = 0;  // guarded by mu_
  bool finished_ = false;
};

// add() on a meter that may be absent (core functions take ProgressMeter* = nullptr).
inline void progress_add(ProgressMeter* m, uint64_t n) {
  if (m) m->add(n);
}

}  // namespace lemur
