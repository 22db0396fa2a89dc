// HandleWrap: the one lifetime scheme of every JS object that owns a native object (token store,
// Faiss index, ψ). It owns the closed check, the count of calls in use and close(); it does not
// decide how calls share the object (the index adds its own lock for add vs search).
//
// A call takes a Use (acquire(), on the JS thread, before anything can throw) and hands it to
// PromiseWorker::Start, which drops it in its done step on the JS thread, before the promise
// settles, so `await call; close()` always works. A Use dropped any other way (argument checks
// that throw before the work is queued) ends the use too: it is RAII, no catch/release pairs.
// close() while any Use lives throws RESOURCE_BUSY instead of freeing memory under a pool thread;
// otherwise it frees the object and is idempotent. The ObjectWrap finalizer frees what close()
// was not called for: a safety net, not the lifetime.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "js_errors.h"

namespace lemur {

// The in-use count of one wrapper, shared with its Uses so a Use never points at a freed wrapper.
struct HandleState {
  std::atomic<int> in_use{0};
};

// One call's hold on a native object: the object stays alive and close() refuses while it exists.
template <class T>
class Use {
 public:
  Use(std::shared_ptr<T> obj, std::shared_ptr<HandleState> state) : obj_(std::move(obj)), state_(std::move(state)) {
    state_->in_use.fetch_add(1);
  }
  ~Use() { state_->in_use.fetch_sub(1); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  T& operator*() const { return *obj_; }
  T* operator->() const { return obj_.get(); }
  // For the worker's run(): the object alone, so run() never extends the Use past done.
  const std::shared_ptr<T>& object() const { return obj_; }

 private:
  std::shared_ptr<T> obj_;
  std::shared_ptr<HandleState> state_;
};

template <class T>
using UsePtr = std::shared_ptr<Use<T>>;

// Wrap: the ObjectWrap subclass (CRTP); it declares `static constexpr const char* kWhat` (the
// object's name in messages, e.g. "token store") and registers Close as "close".
template <class Wrap, class T>
class HandleWrap : public Napi::ObjectWrap<Wrap> {
 public:
  explicit HandleWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Wrap>(info) {}

  // A new JS wrapper owning `obj` (JS thread).
  static Napi::Object New(std::shared_ptr<T> obj) {
    Napi::Object o = constructor_.New({});
    Wrap::Unwrap(o)->obj_ = std::move(obj);
    return o;
  }

  // The wrapper behind a JS value that must be one of ours (throws INVALID_ARGUMENT otherwise):
  // a handle of another kind throws instead of being reinterpreted.
  static Wrap* From(const Napi::Value& v, const char* name) {
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(constructor_.Value())) {
      throw_invalid_argument(v.Env(), std::string("argument ") + name + " is not a native " + Wrap::kWhat);
    }
    return Wrap::Unwrap(v.As<Napi::Object>());
  }

  // Starts one call on the object: throws if closed.
  UsePtr<T> acquire(Napi::Env env) { return std::make_shared<Use<T>>(live_ptr(env), state_); }

  // The object for an O(1) synchronous getter on the JS thread (no Use: close() cannot run meanwhile).
  T& live(Napi::Env env) { return *live_ptr(env); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    const int n = state_->in_use.load();
    if (n > 0) {
      throw_resource_busy(info.Env(), std::string(Wrap::kWhat) + " has " + std::to_string(n) +
                                          " call(s) in flight; await them before close()");
    }
    obj_.reset();
    return info.Env().Undefined();
  }

 protected:
  // Registers the class with `methods` plus close(); the constructor is kept for New and From.
  static Napi::Function Define(Napi::Env env, const char* name,
                               std::vector<typename Napi::ObjectWrap<Wrap>::PropertyDescriptor> methods) {
    methods.push_back(Napi::ObjectWrap<Wrap>::InstanceMethod("close", &HandleWrap::Close));
    Napi::Function ctor = Napi::ObjectWrap<Wrap>::DefineClass(env, name, methods);
    constructor_ = Napi::Persistent(ctor);
    constructor_.SuppressDestruct();
    return ctor;
  }

 private:
  const std::shared_ptr<T>& live_ptr(Napi::Env env) {
    if (!obj_) throw_invalid_argument(env, std::string(Wrap::kWhat) + " is closed");
    return obj_;
  }

  static inline Napi::FunctionReference constructor_;
  std::shared_ptr<T> obj_;
  std::shared_ptr<HandleState> state_ = std::make_shared<HandleState>();
};

}  // namespace lemur
