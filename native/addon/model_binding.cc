// napi adapters for the LEMUR model's linear half: the OLS basis and weights, target
// standardisation, inner-product top-k and token gathering (ψ lives in psi_binding.cc).
#include <napi.h>

#include <memory>
#include <string>

#include "../core/fixed_order_gemm.h"
#include "../core/ols.h"
#include "js_errors.h"
#include "progress_binding.h"
#include "promise_worker.h"
#include "token_store_binding.h"
#include "typed_arrays.h"

namespace lemur {

namespace {

// olsBasis(Z, h, threads) -> Promise<{ pinvT, rank }>
Napi::Value OlsBasis(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array Z = f32_arg(info, 0, "Z");
  const int h = static_cast<int>(int_arg(info, 1, "h", 1, 1 << 20));
  const int threads = static_cast<int>(int_arg(info, 2, "threads", 1, 1024));
  if (Z.ElementLength() % h != 0) throw_invalid_argument(env, "Z length is not a multiple of h");
  const int64_t s = static_cast<int64_t>(Z.ElementLength()) / h;
  auto pinvT = std::make_shared<std::vector<float>>();
  auto rank = std::make_shared<int>(0);
  const float* zp = Z.Data();
  return PromiseWorker::Start(
      env, [=]() { return ols_basis(zp, s, h, threads, pinvT.get(), rank.get()); },
      [pinvT, rank](Napi::Env env, const PromiseWorker::Kept&) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("pinvT", f32_from(env, *pinvT));
        o.Set("rank", *rank);
        return o;
      },
      {Z});
}

// olsWeights(store, sample, pinvT, h, mean, std, docIndices, out, threads, kernel, onProgress?) -> Promise<out>;
// onProgress(done, total) counts documents.
Napi::Value OlsWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array sample = f32_arg(info, 1, "sample");
  Napi::Float32Array pinvT = f32_arg(info, 2, "pinvT");
  const int h = static_cast<int>(int_arg(info, 3, "h", 1, 1 << 20));
  const float mean = info[4].As<Napi::Number>().FloatValue();
  const float sd = info[5].As<Napi::Number>().FloatValue();
  Napi::BigInt64Array docs = i64_arg(info, 6, "docIndices");
  Napi::Float32Array out = f32_arg(info, 7, "out");
  MaxsimOptions opt;
  opt.threads = static_cast<int>(int_arg(info, 8, "threads", 1, 1024));
  opt.kernel = kernel_arg(info, 9);
  UsePtr<TokenStore> use = TokenStoreWrap::Acquire(info[0], "store");
  std::shared_ptr<TokenStore> store = use->object();
  const int dim = store->docs().dim;
  if (sample.ElementLength() % dim != 0) throw_invalid_argument(env, "sample length is not a multiple of the store dim");
  const int64_t s = static_cast<int64_t>(sample.ElementLength()) / dim;
  if (static_cast<int64_t>(pinvT.ElementLength()) != s * h) throw_invalid_argument(env, "pinvT length != sample rows * h");
  const int64_t nd = static_cast<int64_t>(docs.ElementLength());
  if (static_cast<int64_t>(out.ElementLength()) != nd * h) throw_invalid_argument(env, "out length != docIndices.length * h");
  for (int64_t j = 0; j < nd; ++j) {
    if (docs.Data()[j] < 0 || docs.Data()[j] >= store->docs().n_docs) throw_invalid_argument(env, "docIndices[" + std::to_string(j) + "] is out of range");
  }
  const float* sp = sample.Data();
  const float* pp = pinvT.Data();
  const int64_t* dp = docs.Data();
  float* wp = out.Data();
  std::shared_ptr<JsProgress> progress = JsProgress::FromArg(info, 10, "onProgress");
  return PromiseWorker::Start(
      env,
      [=]() {
        return run_with_progress(progress, [&](const ProgressFn& fn) {
          return ols_weights(store->docs(), sp, s, pp, h, mean, sd, dp, nd, opt, wp, fn);
        });
      },
      [](Napi::Env, const PromiseWorker::Kept& k) { return k[0].Value(); }, {out, sample, pinvT, docs, info[0]},
      {use});
}

// olsProject(Y, nb, pinvT, h, out, threads, kernel) -> Promise<out>: out (nb x h) = Yᵀ · pinvT
Napi::Value OlsProject(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array Y = f32_arg(info, 0, "Y");
  const int64_t nb = int_arg(info, 1, "nb", 1, int64_t{1} << 40);
  Napi::Float32Array pinvT = f32_arg(info, 2, "pinvT");
  const int h = static_cast<int>(int_arg(info, 3, "h", 1, 1 << 20));
  Napi::Float32Array out = f32_arg(info, 4, "out");
  const int threads = static_cast<int>(int_arg(info, 5, "threads", 1, 1024));
  const Kernel kernel = kernel_arg(info, 6);
  if (Y.ElementLength() % nb != 0) throw_invalid_argument(env, "Y length is not a multiple of nb");
  const int64_t s = static_cast<int64_t>(Y.ElementLength()) / nb;
  if (static_cast<int64_t>(pinvT.ElementLength()) != s * h) throw_invalid_argument(env, "pinvT length != Y rows * h");
  if (static_cast<int64_t>(out.ElementLength()) != nb * h) throw_invalid_argument(env, "out length != nb * h");
  const float* yp = Y.Data();
  const float* pp = pinvT.Data();
  float* wp = out.Data();
  return PromiseWorker::Start(
      env, [=]() { fixed_order_gemm_tn(yp, nb, pp, h, s, nb, h, wp, h, threads, kernel); return Status::Ok(); },
      [](Napi::Env, const PromiseWorker::Kept& k) { return k[0].Value(); }, {out, Y, pinvT});
}

// standardize(Y, threads) -> Promise<{ mean, std }>
Napi::Value Standardize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array Y = f32_arg(info, 0, "Y");
  const int threads = static_cast<int>(int_arg(info, 1, "threads", 1, 1024));
  auto stats = std::make_shared<std::pair<float, float>>(0.f, 0.f);
  float* yp = Y.Data();
  const int64_t n = static_cast<int64_t>(Y.ElementLength());
  return PromiseWorker::Start(
      env, [=]() { return standardize(yp, n, threads, &stats->first, &stats->second); },
      [stats](Napi::Env env, const PromiseWorker::Kept&) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("mean", stats->first);
        o.Set("std", stats->second);
        return o;
      },
      {Y});
}

// ipTopK(F, W, h, k, threads) -> Promise<{ labels, distances }>
Napi::Value IpTopK(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array F = f32_arg(info, 0, "features");
  Napi::Float32Array W = f32_arg(info, 1, "W");
  const int h = static_cast<int>(int_arg(info, 2, "h", 1, 1 << 20));
  const int64_t k = int_arg(info, 3, "k", 1, int64_t{1} << 40);
  const int threads = static_cast<int>(int_arg(info, 4, "threads", 1, 1024));
  if (F.ElementLength() % h != 0 || W.ElementLength() % h != 0) throw_invalid_argument(env, "features and W must have h columns");
  const int64_t nq = static_cast<int64_t>(F.ElementLength()) / h;
  const int64_t n = static_cast<int64_t>(W.ElementLength()) / h;
  Napi::BigInt64Array labels = Napi::BigInt64Array::New(env, nq * k);
  Napi::Float32Array distances = Napi::Float32Array::New(env, nq * k);
  const float* fp = F.Data();
  const float* wp = W.Data();
  int64_t* lp = labels.Data();
  float* dp = distances.Data();
  return PromiseWorker::Start(
      env, [=]() { return ip_topk(fp, nq, wp, n, h, k, threads, lp, dp); },
      [](Napi::Env env, const PromiseWorker::Kept& kept) { return hits_object(env, kept); },
      {labels, distances, F, W});
}

// gatherTokens(store, tokenIndices, out) -> Promise<out>
Napi::Value GatherTokens(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::BigInt64Array idx = i64_arg(info, 1, "tokenIndices");
  Napi::Float32Array out = f32_arg(info, 2, "out");
  UsePtr<TokenStore> use = TokenStoreWrap::Acquire(info[0], "store");
  std::shared_ptr<TokenStore> store = use->object();
  const int64_t n = static_cast<int64_t>(idx.ElementLength());
  if (static_cast<int64_t>(out.ElementLength()) != n * store->docs().dim) throw_invalid_argument(env, "out length != tokenIndices.length * dim");
  const int64_t* ip = idx.Data();
  float* op = out.Data();
  return PromiseWorker::Start(
      env, [=]() { return gather_tokens(store->docs(), ip, n, op); },
      [](Napi::Env, const PromiseWorker::Kept& k) { return k[0].Value(); }, {out, idx, info[0]},
      {use});
}

}  // namespace

void InitModel(Napi::Env env, Napi::Object exports) {
  exports.Set("olsBasis", Napi::Function::New(env, OlsBasis, "olsBasis"));
  exports.Set("olsWeights", Napi::Function::New(env, OlsWeights, "olsWeights"));
  exports.Set("olsProject", Napi::Function::New(env, OlsProject, "olsProject"));
  exports.Set("standardize", Napi::Function::New(env, Standardize, "standardize"));
  exports.Set("ipTopK", Napi::Function::New(env, IpTopK, "ipTopK"));
  exports.Set("gatherTokens", Napi::Function::New(env, GatherTokens, "gatherTokens"));
}

}  // namespace lemur
