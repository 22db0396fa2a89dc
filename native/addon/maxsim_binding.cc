// napi adapters for core/maxsim_ops: rerank, exact top-k, targets. Each call validates shapes
// cheaply (the TS layer has already), allocates its outputs on the JS thread, and computes on a
// pool thread with the store marked in flight.
#include <napi.h>

#include <memory>
#include <string>
#include <utility>

#include "../core/cpu_features.h"
#include "../core/maxsim_ops.h"
#include "js_errors.h"
#include "progress_binding.h"
#include "promise_worker.h"
#include "token_store_binding.h"
#include "typed_arrays.h"

namespace lemur {

namespace {

// Options are positional after the data: threads, kernel ('' = the process default).
MaxsimOptions options_arg(const Napi::CallbackInfo& info, size_t i) {
  MaxsimOptions o;
  o.threads = static_cast<int>(int_arg(info, i, "threads", 1, 1024));
  o.kernel = kernel_arg(info, i + 1);
  return o;
}

QueryBatch query_args(const Napi::CallbackInfo& info, const Napi::Float32Array& q, const Napi::Int32Array& counts, int dim) {
  QueryBatch b;
  b.vectors = q.Data();
  b.counts = counts.Data();
  b.nq = static_cast<int64_t>(counts.ElementLength());
  uint64_t total = 0;
  for (int64_t i = 0; i < b.nq; ++i) {
    if (b.counts[i] < 1) throw_invalid_argument(info.Env(), "queryCounts[" + std::to_string(i) + "] must be >= 1");
    total += static_cast<uint64_t>(b.counts[i]);
  }
  if (total * static_cast<uint64_t>(dim) != q.ElementLength()) {
    throw_invalid_argument(info.Env(), "queries length " + std::to_string(q.ElementLength()) +
                                           " != sum(queryCounts) * store dim " + std::to_string(total * dim));
  }
  return b;
}

// maxsimRerank(queries, queryCounts, store, candidates, kprime, k, threads, kernel)
Napi::Value Rerank(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array q = f32_arg(info, 0, "queries");
  Napi::Int32Array counts = i32_arg(info, 1, "queryCounts");
  Napi::BigInt64Array cand = i64_arg(info, 3, "candidates");
  const int64_t kprime = int_arg(info, 4, "kPrime", 1, int64_t{1} << 40);
  const int64_t k = int_arg(info, 5, "k", 1, kprime);
  const MaxsimOptions opt = options_arg(info, 6);
  UsePtr<TokenStore> use = TokenStoreWrap::Acquire(info[2], "store");
  std::shared_ptr<TokenStore> store = use->object();
  const QueryBatch b = query_args(info, q, counts, store->docs().dim);
  if (static_cast<int64_t>(cand.ElementLength()) != b.nq * kprime) throw_invalid_argument(env, "candidates length != nq * kPrime");
  Napi::BigInt64Array labels = Napi::BigInt64Array::New(env, b.nq * k);
  Napi::Float32Array distances = Napi::Float32Array::New(env, b.nq * k);
  int64_t* lp = labels.Data();
  float* dp = distances.Data();
  const int64_t* cp = cand.Data();
  return PromiseWorker::Start(
      env, [store, b, cp, kprime, k, opt, lp, dp]() { return maxsim_rerank(store->docs(), b, cp, kprime, k, opt, lp, dp); },
      [](Napi::Env env, const PromiseWorker::Kept& kept) { return hits_object(env, kept); },
      {labels, distances, q, counts, cand, info[2]}, {use});
}

// maxsimExactTopK(queries, queryCounts, store, k, threads, kernel)
Napi::Value ExactTopK(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array q = f32_arg(info, 0, "queries");
  Napi::Int32Array counts = i32_arg(info, 1, "queryCounts");
  const int64_t k = int_arg(info, 3, "k", 1, int64_t{1} << 40);
  const MaxsimOptions opt = options_arg(info, 4);
  UsePtr<TokenStore> use = TokenStoreWrap::Acquire(info[2], "store");
  std::shared_ptr<TokenStore> store = use->object();
  const QueryBatch b = query_args(info, q, counts, store->docs().dim);
  Napi::BigInt64Array labels = Napi::BigInt64Array::New(env, b.nq * k);
  Napi::Float32Array distances = Napi::Float32Array::New(env, b.nq * k);
  int64_t* lp = labels.Data();
  float* dp = distances.Data();
  return PromiseWorker::Start(
      env, [store, b, k, opt, lp, dp]() { return maxsim_exact_topk(store->docs(), b, k, opt, lp, dp); },
      [](Napi::Env env, const PromiseWorker::Kept& kept) { return hits_object(env, kept); },
      {labels, distances, q, counts, info[2]}, {use});
}

// maxsimTargets(vectors, store, docIndices, out, threads, kernel, onProgress?): out is n x ndocs,
// preallocated by the caller so a multi-GB target matrix is never copied. onProgress(done, total)
// counts learn rows (rows the kernel loops over; partial rows are counted by the documents done).
Napi::Value Targets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array x = f32_arg(info, 0, "vectors");
  Napi::BigInt64Array docs = i64_arg(info, 2, "docIndices");
  Napi::Float32Array out = f32_arg(info, 3, "out");
  const MaxsimOptions opt = options_arg(info, 4);
  UsePtr<TokenStore> use = TokenStoreWrap::Acquire(info[1], "store");
  std::shared_ptr<TokenStore> store = use->object();
  const int dim = store->docs().dim;
  if (x.ElementLength() % dim != 0) throw_invalid_argument(env, "vectors length is not a multiple of the store dim");
  const int64_t n = static_cast<int64_t>(x.ElementLength()) / dim;
  const int64_t nd = static_cast<int64_t>(docs.ElementLength());
  if (static_cast<int64_t>(out.ElementLength()) != n * nd) throw_invalid_argument(env, "out length != n * docIndices.length");
  const float* xp = x.Data();
  const int64_t* dp = docs.Data();
  float* yp = out.Data();
  std::shared_ptr<JsProgress> progress = JsProgress::FromArg(info, 6, "onProgress");
  return PromiseWorker::Start(
      env,
      [store, xp, n, dp, nd, opt, yp, progress]() {
        return run_with_progress(progress, [&](ProgressFn fn) {
          ProgressMeter meter(std::move(fn), static_cast<uint64_t>(n), static_cast<uint64_t>(nd));
          LEMUR_RETURN_IF_ERROR(maxsim_targets(store->docs(), xp, n, dp, nd, opt, yp, meter.active() ? &meter : nullptr));
          meter.finish();
          return Status::Ok();
        });
      },
      [](Napi::Env, const PromiseWorker::Kept& kept) { return kept[0].Value(); }, {out, x, docs, info[1]}, {use});
}

}  // namespace

void InitMaxsim(Napi::Env env, Napi::Object exports) {
  exports.Set("maxsimRerank", Napi::Function::New(env, Rerank, "maxsimRerank"));
  exports.Set("maxsimExactTopK", Napi::Function::New(env, ExactTopK, "maxsimExactTopK"));
  exports.Set("maxsimTargets", Napi::Function::New(env, Targets, "maxsimTargets"));
}

}  // namespace lemur
