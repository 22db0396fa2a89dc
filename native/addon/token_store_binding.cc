// napi adapter for core/token_store and core/token_store_writer: open (async), write (async), ids,
// one doc's rows, close; the streaming writer: open, append, finish (async), close (discards).
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
         {InstanceMethod<&TokenStoreWrap::Info>("info"), InstanceMethod<&TokenStoreWrap::DropResident>("dropResident"), InstanceMethod<&TokenStoreWrap::ReadIds>("readIds"),
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

namespace {

// One batch of documents from JS arguments: counts and ids copied here on the JS thread (small),
// the vectors read in place (the worker keeps their Float32Array alive).
struct JsBatch {
  const float* vectors = nullptr;
  std::vector<int64_t> counts;
  std::vector<int64_t> int_ids;
  std::vector<std::string> str_ids;
  IdKind id_kind = IdKind::kInt64;
  DocBatch batch() const { return {vectors, counts.data(), static_cast<int64_t>(counts.size()), int_ids.data(), &str_ids}; }
};

// vectors (Float32Array), counts (Int32Array) and ids (BigInt64Array or strings) at arguments
// vi, ci and ii, with the boundary's guards: one id per count, sum(counts) * dim values.
std::shared_ptr<JsBatch> read_batch(const Napi::CallbackInfo& info, size_t vi, size_t ci, size_t ii, int dim, Napi::Float32Array* vectors_out) {
  Napi::Env env = info.Env();
  Napi::Float32Array vectors = f32_arg(info, vi, "vectors");
  Napi::Int32Array counts = i32_arg(info, ci, "counts");
  auto b = std::make_shared<JsBatch>();
  const int64_t n = static_cast<int64_t>(counts.ElementLength());
  uint64_t total = 0;
  b->counts.resize(n);
  for (int64_t j = 0; j < n; ++j) {
    const int32_t c = counts.Data()[j];
    b->counts[j] = c;
    total += static_cast<uint64_t>(c < 0 ? 0 : c);
  }
  if (total * static_cast<uint64_t>(dim) != vectors.ElementLength()) {
    throw_invalid_argument(env, "vectors length does not equal sum(counts) * dim");
  }
  if (info[ii].IsTypedArray()) {
    Napi::BigInt64Array ids = i64_arg(info, ii, "ids");
    if (static_cast<int64_t>(ids.ElementLength()) != n) throw_invalid_argument(env, "ids length differs from counts");
    b->int_ids.assign(ids.Data(), ids.Data() + n);
  } else if (info[ii].IsArray()) {
    Napi::Array ids = info[ii].As<Napi::Array>();
    if (static_cast<int64_t>(ids.Length()) != n) throw_invalid_argument(env, "ids length differs from counts");
    b->id_kind = IdKind::kString;
    b->str_ids.reserve(n);
    for (int64_t j = 0; j < n; ++j) {
      Napi::Value v = ids.Get(static_cast<uint32_t>(j));
      if (!v.IsString()) throw_invalid_argument(env, "ids[" + std::to_string(j) + "] is not a string");
      b->str_ids.push_back(v.As<Napi::String>().Utf8Value());
    }
  } else {
    throw_invalid_argument(env, "ids must be a BigInt64Array or an array of strings");
  }
  b->vectors = vectors.Data();
  *vectors_out = vectors;
  return b;
}

DType dtype_arg(const Napi::CallbackInfo& info, size_t i) {
  const std::string dtype = string_arg(info, i, "dtype");
  if (dtype != "float32" && dtype != "float16") throw_invalid_argument(info.Env(), "dtype must be 'float32' or 'float16'");
  return dtype == "float16" ? DType::kF16 : DType::kF32;
}

}  // namespace

Napi::Value TokenStoreWrap::Write(const Napi::CallbackInfo& info) {
  const std::string path = string_arg(info, 0, "path");
  const int dim = static_cast<int>(int_arg(info, 3, "dim", 1, 1 << 20));
  const DType dtype = dtype_arg(info, 4);
  Napi::Float32Array vectors;
  std::shared_ptr<JsBatch> b = read_batch(info, 1, 2, 5, dim, &vectors);
  return PromiseWorker::Start(
      info.Env(),
      [path, b, dim, dtype]() {
        const DocBatch d = b->batch();
        TokenStoreInput in{d.vectors, d.counts, d.n, dim, dtype, b->id_kind, d.int_ids, d.str_ids};
        return write_token_store(path, in);
      },
      nullptr, {vectors});
}

void TokenStoreWriterWrap::Init(Napi::Env env, Napi::Object exports) {
  Define(env, "NativeTokenStoreWriter",
         {InstanceMethod<&TokenStoreWriterWrap::Append>("append"), InstanceMethod<&TokenStoreWriterWrap::Finish>("finish")});
  exports.Set("openTokenStoreWriter", Napi::Function::New(env, Open, "openTokenStoreWriter"));
}

Napi::Value TokenStoreWriterWrap::Open(const Napi::CallbackInfo& info) {
  const std::string path = string_arg(info, 0, "path");
  TokenStoreShape shape;
  shape.dim = static_cast<int>(int_arg(info, 1, "dim", 1, 1 << 20));
  shape.dtype = dtype_arg(info, 2);
  const std::string kind = string_arg(info, 3, "idKind");
  if (kind != "int64" && kind != "string") throw_invalid_argument(info.Env(), "idKind must be 'int64' or 'string'");
  shape.id_kind = kind == "string" ? IdKind::kString : IdKind::kInt64;
  shape.n_docs = int_arg(info, 4, "nDocs", 0, int64_t{1} << 53);
  auto slot = std::make_shared<std::unique_ptr<TokenStoreWriter>>();
  return PromiseWorker::Start(
      info.Env(), [path, shape, slot]() { return TokenStoreWriter::open(path, shape, slot.get()); },
      [slot](Napi::Env, const PromiseWorker::Kept&) { return New(std::move(*slot)); });
}

Napi::Value TokenStoreWriterWrap::Append(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  UsePtr<TokenStoreWriter> use = acquire(env);
  const TokenStoreShape& shape = use->object()->shape();
  Napi::Float32Array vectors;
  std::shared_ptr<JsBatch> b = read_batch(info, 0, 1, 2, shape.dim, &vectors);
  if (b->id_kind != shape.id_kind) throw_invalid_argument(env, "ids are not of the kind the writer was opened for");
  std::shared_ptr<TokenStoreWriter> w = use->object();
  return PromiseWorker::Start(env, [w, b]() { return w->append(b->batch()); }, nullptr, {vectors, info.This()}, {use});
}

Napi::Value TokenStoreWriterWrap::Finish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  UsePtr<TokenStoreWriter> use = acquire(env);
  std::shared_ptr<TokenStoreWriter> w = use->object();
  return PromiseWorker::Start(env, [w]() { return w->finish(); }, nullptr, {info.This()}, {use});
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

Napi::Value TokenStoreWrap::DropResident(const Napi::CallbackInfo& info) {
  live(info.Env()).drop_resident();
  return info.Env().Undefined();
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
