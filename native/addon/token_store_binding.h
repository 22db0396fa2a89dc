// The JS wrappers of a native TokenStore and TokenStoreWriter (lifetime: native_handle.h).
// close() unmaps the store's file; other bindings take a Use of the store with
// TokenStoreWrap::From(value, name)->acquire(env). A writer's close() discards an unfinished file.
#pragma once
#include <napi.h>

#include "../core/token_store.h"
#include "../core/token_store_writer.h"
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
  Napi::Value DropResident(const Napi::CallbackInfo& info);
  Napi::Value ReadIds(const Napi::CallbackInfo& info);
  Napi::Value DocTokens(const Napi::CallbackInfo& info);
};

// openTokenStoreWriter(path, dim, dtype, idKind, nDocs) → writer with append(vectors, counts,
// ids) and finish(), both promises (token_store_writer.h).
class TokenStoreWriterWrap : public HandleWrap<TokenStoreWriterWrap, TokenStoreWriter> {
 public:
  static constexpr const char* kWhat = "token store writer";
  static void Init(Napi::Env env, Napi::Object exports);
  explicit TokenStoreWriterWrap(const Napi::CallbackInfo& info) : HandleWrap(info) {}

 private:
  static Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Append(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);
};

}  // namespace lemur
