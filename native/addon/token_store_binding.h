// The JS wrapper of a native TokenStore (lifetime: native_handle.h). close() unmaps the file;
// other bindings take a Use of the store with TokenStoreWrap::From(value, name)->acquire(env).
#pragma once
#include <napi.h>

#include "../core/token_store.h"
#include "native_handle.h"

namespace lemur {

class TokenStoreWrap : public HandleWrap<TokenStoreWrap, TokenStore> {
 public:
  static constexpr const char* kWhat = "token store";
  static void Init(Napi::Env env, Napi::Object exports);
  explicit TokenStoreWrap(const Napi::CallbackInfo& info) : HandleWrap(info) {}

  // A Use of the store behind argument `v` (throws if it is not a token store, or is closed).
  static UsePtr<TokenStore> Acquire(const Napi::Value& v, const char* name) { return From(v, name)->acquire(v.Env()); }

 private:
  static Napi::Value Open(const Napi::CallbackInfo& info);
  static Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value ReadIds(const Napi::CallbackInfo& info);
  Napi::Value DocTokens(const Napi::CallbackInfo& info);
};

}  // namespace lemur
