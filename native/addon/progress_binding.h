// JS progress callbacks of long native calls: one Napi::ThreadSafeFunction per call, fed from the
// pool thread and the core's worker threads, released however the call ends (an unreleased
// thread-safe function keeps the event loop, and so the process, alive). Not here: rate limiting
// (core/progress.h) and dropping calls that arrive after the promise settled (the TS side,
// src/native/progress.ts: a queued call may reach JS after the worker's completion does).
#pragma once
#include <napi.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "../core/progress.h"
#include "../core/status.h"
#include "js_errors.h"

namespace lemur {

class JsProgress {
 public:
  // Calls waiting for the JS thread. Reports come a few times a second at most, so a full queue
  // means the loop is busy elsewhere; a droppable report then gives way, since a newer one follows.
  static constexpr size_t kQueue = 4;

  // Argument i: absent, undefined or null -> nullptr (no progress, and no cost in the core);
  // a function -> a new thread-safe function; anything else -> INVALID_ARGUMENT. Create it
  // after the call's other arguments are checked, so a rejected call never creates one (and a
  // created one is released by the destructor if the worker is never queued).
  static std::shared_ptr<JsProgress> FromArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
    if (i >= info.Length() || info[i].IsUndefined() || info[i].IsNull()) return nullptr;
    if (!info[i].IsFunction()) throw_invalid_argument(info.Env(), std::string("argument ") + name + " must be a function");
    return std::shared_ptr<JsProgress>(
        new JsProgress(Napi::ThreadSafeFunction::New(info.Env(), info[i].As<Napi::Function>(), name, kQueue, 1)));
  }

  ~JsProgress() { Release(); }
  JsProgress(const JsProgress&) = delete;
  JsProgress& operator=(const JsProgress&) = delete;

  // Queues call(env, fn) for the JS thread, in order. A droppable post is skipped when the
  // queue is full; the others wait for room. Thread-safe; a no-op after Release().
  template <class Call>
  void Post(Call call, bool droppable) {
    if (released_.load(std::memory_order_acquire)) return;
    auto cb = [call = std::move(call)](Napi::Env env, Napi::Function fn) {
      if (static_cast<napi_env>(env) == nullptr) return;  // environment tearing down
      call(env, fn);  // a JS exception becomes the process's uncaught exception (WrapVoidCallback)
    };
    if (droppable) {
      tsfn_.NonBlockingCall(cb);
    } else {
      tsfn_.BlockingCall(cb);
    }
  }

  // Idempotent and thread-safe. Calls already queued are still delivered, then the function is
  // finalized on the JS thread.
  void Release() {
    if (!released_.exchange(true, std::memory_order_acq_rel)) tsfn_.Release();
  }

 private:
  explicit JsProgress(Napi::ThreadSafeFunction f) : tsfn_(std::move(f)) {}

  Napi::ThreadSafeFunction tsfn_;
  std::atomic<bool> released_{false};
};

// The core's (done, total) callback posting fn(done, total); empty without a JS function. The
// final report waits for room in the queue, the others may be dropped.
inline ProgressFn progress_fn(const std::shared_ptr<JsProgress>& p) {
  if (!p) return {};
  return [p](uint64_t done, uint64_t total) {
    p->Post(
        [done, total](Napi::Env env, Napi::Function fn) {
          fn.Call({Napi::Number::New(env, static_cast<double>(done)), Napi::Number::New(env, static_cast<double>(total))});
        },
        done != total);
  };
}

// Releases a JsProgress (if any) when the pool thread's work leaves its scope, however it
// leaves: a thrown exception included (PromiseWorker turns that into a rejection).
class ReleaseOnExit {
 public:
  explicit ReleaseOnExit(JsProgress* p) : p_(p) {}
  ~ReleaseOnExit() {
    if (p_) p_->Release();
  }
  ReleaseOnExit(const ReleaseOnExit&) = delete;
  ReleaseOnExit& operator=(const ReleaseOnExit&) = delete;

 private:
  JsProgress* p_;
};

// Runs run(progress_fn(p)) on the pool thread, then releases p.
template <class Run>
Status run_with_progress(const std::shared_ptr<JsProgress>& p, Run&& run) {
  ReleaseOnExit release(p.get());
  return run(progress_fn(p));
}

}  // namespace lemur
