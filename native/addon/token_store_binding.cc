// napi adapter for core/token_store: open (async), write (async), ids, one doc's rows, close.
#include "token_store_binding.h"

#include <cstring>
#include <string>
#include <vector>

#include "../core/half.h"
#include "js_errors.h"
#include "promise_worker.h"
#include "typed_arrays.h"

namespace lemur {

void TokenStoreWrap::Init(Napi::Env env, Napi::Object exports) {
  Define(env, "NativeTokenStore",
         {InstanceMethod<&TokenStoreWrap::Info>("info"), InstanceMethod<&TokenStoreWrap::ReadIds>("readIds"),
          InstanceMethod<&TokenStoreWrap::DocTokens>("docTokens")});
  exports.Set("openTokenStore", Napi::Function::New(env, Open, "openTokenStore"));
  exports.Set("writeTokenStore", Napi::Function::New(env, Write, "writeTokenStore"));
}

Napi::Value TokenStoreWrap::Open(const Napi::CallbackInfo& info) {
  const std::string path = string_arg(info, 0, "path");
  const bool verify = info.Length() > 1 && info[1].ToBoolean().Value();
  auto slot = std::make_shared<std::unique_ptr<TokenStore>>();
  return PromiseWorker::Start(
      info.Env(), [path, verify, slot]() { return TokenStore::open(path, verify, slot.get()); },
      [slot](Napi::Env, const PromiseWorker::Kept&) { return New(std::move(*slot)); });
}

Napi::Value TokenStoreWrap::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = string_arg(info, 0, "path");
  Napi::Float32Array vectors = f32_arg(info, 1, "vectors");
  Napi::Int32Array counts = i32_arg(info, 2, "counts");
  const int dim = static_cast<int>(int_arg(info, 3, "dim", 1, 1 << 20));
  const std::string dtype = string_arg(info, 4, "dtype");
  if (dtype != "float32" && dtype != "float16") throw_invalid_argument(env, "dtype must be 'float32' or 'float16'");

  struct Job {
    std::vector<int64_t> counts;
    std::vector<int64_t> int_ids;
    std::vector<std::string> str_ids;
    TokenStoreInput in;
  };
  auto job = std::make_shared<Job>();
  const int64_t n = static_cast<int64_t>(counts.ElementLength());
  uint64_t total = 0;
  job->counts.resize(n);
  for (int64_t j = 0; j < n; ++j) {
    const int32_t c = counts.Data()[j];
    job->counts[j] = c;
    total += static_cast<uint64_t>(c < 0 ? 0 : c);
  }
  if (total * static_cast<uint64_t>(dim) != vectors.ElementLength()) {
    throw_invalid_argument(env, "vectors length does not equal sum(counts) * dim");
  }
  job->in.id_kind = IdKind::kInt64;
  if (info[5].IsTypedArray()) {
    Napi::BigInt64Array ids = i64_arg(info, 5, "ids");
    if (static_cast<int64_t>(ids.ElementLength()) != n) throw_invalid_argument(env, "ids length differs from counts");
    job->int_ids.assign(ids.Data(), ids.Data() + n);
  } else if (info[5].IsArray()) {
    Napi::Array ids = info[5].As<Napi::Array>();
    if (static_cast<int64_t>(ids.Length()) != n) throw_invalid_argument(env, "ids length differs from counts");
    job->in.id_kind = IdKind::kString;
    job->str_ids.reserve(n);
    for (int64_t j = 0; j < n; ++j) {
      Napi::Value v = ids.Get(static_cast<uint32_t>(j));
      if (!v.IsString()) throw_invalid_argument(env, "ids[" + std::to_string(j) + "] is not a string");
      job->str_ids.push_back(v.As<Napi::String>().Utf8Value());
    }
  } else {
    throw_invalid_argument(env, "ids must be a BigInt64Array or an array of strings");
  }
  job->in.vectors = vectors.Data();
  job->in.counts = job->counts.data();
  job->in.n_docs = n;
  job->in.dim = dim;
  job->in.dtype = dtype == "float16" ? DType::kF16 : DType::kF32;
  job->in.int_ids = job->int_ids.data();
  job->in.str_ids = &job->str_ids;
  return PromiseWorker::Start(env, [path, job]() { return write_token_store(path, job->in); }, nullptr, {vectors});
}

Napi::Value TokenStoreWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const TokenStore& s = live(env);
  const DocsView& d = s.docs();
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", s.path());
  o.Set("dim", d.dim);
  o.Set("nDocs", static_cast<double>(d.n_docs));
  o.Set("nTokens", static_cast<double>(d.offsets[d.n_docs]));
  o.Set("dtype", d.dtype == DType::kF16 ? "float16" : "float32");
  o.Set("idKind", s.id_kind() == IdKind::kString ? "string" : "int64");
  o.Set("fileBytes", static_cast<double>(s.file_size()));
  return o;
}

Napi::Value TokenStoreWrap::ReadIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  UsePtr<TokenStore> use = acquire(env);
  std::shared_ptr<TokenStore> s = use->object();
  return PromiseWorker::Start(
      env, []() { return Status::Ok(); },
      [s](Napi::Env env, const PromiseWorker::Kept&) -> Napi::Value {
        const int64_t n = s->docs().n_docs;
        if (s->id_kind() == IdKind::kInt64) {
          Napi::BigInt64Array out = Napi::BigInt64Array::New(env, n);
          int64_t* dst = out.Data();
          for (int64_t j = 0; j < n; ++j) dst[j] = s->int_id(j);
          return out;
        }
        Napi::Array out = Napi::Array::New(env, n);
        for (int64_t j = 0; j < n; ++j) {
          const std::string_view v = s->str_id(j);
          out.Set(static_cast<uint32_t>(j), Napi::String::New(env, v.data(), v.size()));
        }
        return out;
      },
      {info.This()}, {use});
}

Napi::Value TokenStoreWrap::DocTokens(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const TokenStore& s = live(env);
  const DocsView& d = s.docs();
  const int64_t j = int_arg(info, 0, "position", 0, d.n_docs - 1);
  const int64_t n = d.ntok(j) * d.dim;
  Napi::Float32Array out = Napi::Float32Array::New(env, n);
  if (d.dtype == DType::kF32) {
    std::memcpy(out.Data(), d.f32_rows(j), sizeof(float) * n);
  } else {
    const uint16_t* src = d.f16_rows(j);
    float* dst = out.Data();
    for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(src[i]);
  }
  return out;
}

}  // namespace lemur
