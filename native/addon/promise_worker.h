// PromiseWorker: runs a core/ function on a libuv pool thread and settles a Promise.
//
// run() executes off the JS thread and must not touch any JS value; it returns a Status.
// Anything a library throws is caught here (bad_alloc -> OUT_OF_MEMORY, other exceptions ->
// INTERNAL with what()), so nothing escapes Execute(). make() builds the result on the JS thread.
// The worker holds persistent references to the inputs it was given (typed arrays, the wrapper
// of a native object), so the GC cannot collect them while the pool thread reads them, and the
// Uses of native handles it was given (native_handle.h), dropped on the JS thread just before
// the promise settles, so a caller that awaited the call may close() the object.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <new>
#include <vector>

#include "../core/status.h"
#include "js_errors.h"

namespace lemur {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Run = std::function<Status()>;
  using Kept = std::vector<Napi::ObjectReference>;
  // Builds the result from the kept values (by index): napi_value handles captured when the
  // call was made are dead by the time the work completes, references are not.
  using Make = std::function<Napi::Value(Napi::Env, const Kept&)>;
  // Uses of native handles (UsePtr<T> converts): held until the work is done.
  using Uses = std::vector<std::shared_ptr<void>>;

  static Napi::Promise Start(Napi::Env env, Run run, Make make, const std::vector<Napi::Value>& keep = {},
                             Uses uses = {}) {
    // Owned here until queued: if keeping an input throws, the worker and its Uses are freed.
    std::unique_ptr<PromiseWorker> w(new PromiseWorker(env, std::move(run), std::move(make), std::move(uses)));
    for (const Napi::Value& v : keep) w->keep_.push_back(Napi::Persistent(v.As<Napi::Object>()));
    Napi::Promise p = w->deferred_.Promise();
    w->Napi::AsyncWorker::Queue();
    w.release();  // the AsyncWorker deletes itself after OnOK/OnError
    return p;
  }

 private:
  PromiseWorker(Napi::Env env, Run run, Make make, Uses uses)
      : Napi::AsyncWorker(env, "lemur"),
        deferred_(Napi::Promise::Deferred::New(env)),
        run_(std::move(run)),
        make_(std::move(make)),
        uses_(std::move(uses)) {}

  void Execute() override {
    try {
      status_ = run_();
    } catch (const std::bad_alloc&) {
      status_ = Status::Error(StatusCode::kOutOfMemory, "out of memory in native code");
    } catch (const std::exception& e) {
      status_ = Status::Error(StatusCode::kInternal, e.what());
    } catch (...) {
      status_ = Status::Error(StatusCode::kInternal, "unknown native exception");
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    uses_.clear();
    if (!status_.ok()) {
      deferred_.Reject(make_js_error(env, status_).Value());
      return;
    }
    try {
      deferred_.Resolve(make_ ? make_(env, keep_) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override {
    uses_.clear();
    deferred_.Reject(e.Value());
  }

  Napi::Promise::Deferred deferred_;
  Run run_;
  Make make_;
  Uses uses_;
  Status status_;
  Kept keep_;
};

}  // namespace lemur
