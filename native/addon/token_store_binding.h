// The JS wrapper of a native TokenStore. Lifetime is explicit: close() unmaps the file; calls in
// flight are counted so close() during one throws RESOURCE_BUSY instead of unmapping under a
// pool thread. The finalizer frees the mapping only as a safety net.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "../core/token_store.h"

namespace lemur {

class TokenStoreWrap : public Napi::ObjectWrap<TokenStoreWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit TokenStoreWrap(const Napi::CallbackInfo& info);

  // For other bindings: the store of a JS value that must be a TokenStoreWrap (throws
  // otherwise, or if closed). Marks one call in flight; release() ends it on the JS thread.
  static std::shared_ptr<TokenStore> Acquire(const Napi::Value& v, const char* name, TokenStoreWrap** wrap);
  void Release() { inflight_.fetch_sub(1); }

 private:
  static Napi::FunctionReference constructor_;
  static Napi::Value Open(const Napi::CallbackInfo& info);
  static Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value ReadIds(const Napi::CallbackInfo& info);
  Napi::Value DocTokens(const Napi::CallbackInfo& info);
  const TokenStore& live(Napi::Env env) const;

  std::shared_ptr<TokenStore> store_;
  std::atomic<int> inflight_{0};
};

}  // namespace lemur
