// napi adapters for the LEMUR model: ψ training (with per-epoch progress through a
// thread-safe function), ψ forward and query features, the OLS basis and weights, target
// standardisation, inner-product top-k and token gathering.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "../core/blas.h"
#include "../core/fixed_order_gemm.h"
#include "../core/ols.h"
#include "../core/psi.h"
#include "../core/psi_trainer.h"
#include "js_errors.h"
#include "promise_worker.h"
#include "token_store_binding.h"
#include "typed_arrays.h"

namespace lemur {

namespace {

std::vector<float> copy_f32(const Napi::Value& v, const std::string& name, size_t expect) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw_invalid_argument(v.Env(), name + " must be a Float32Array");
  }
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (expect != SIZE_MAX && a.ElementLength() != expect) {
    throw_invalid_argument(v.Env(), name + " has " + std::to_string(a.ElementLength()) + " values, expected " + std::to_string(expect));
  }
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

int int_prop(const Napi::Object& o, const char* key, int lo, int hi) {
  Napi::Value v = o.Get(key);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= lo && d <= hi) || d != std::floor(d)) {
    throw_invalid_argument(o.Env(), std::string("psi.") + key + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<int>(d);
}

PsiWeights psi_from_js(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw_invalid_argument(env, "psi weights must be an object");
  Napi::Object o = v.As<Napi::Object>();
  PsiWeights w;
  w.dim = int_prop(o, "dim", 1, 1 << 20);
  w.hidden = int_prop(o, "hidden", 1, 1 << 20);
  Napi::Value lv = o.Get("layers");
  if (!lv.IsArray() || lv.As<Napi::Array>().Length() == 0) throw_invalid_argument(env, "psi.layers must be a non-empty array");
  Napi::Array layers = lv.As<Napi::Array>();
  for (uint32_t i = 0; i < layers.Length(); ++i) {
    Napi::Object lo = layers.Get(i).As<Napi::Object>();
    PsiLayer L;
    L.in = int_prop(lo, "in", 1, 1 << 20);
    L.out = int_prop(lo, "out", 1, 1 << 20);
    if (L.in != (i == 0 ? w.dim : w.hidden) || L.out != w.hidden) throw_invalid_argument(env, "psi layer " + std::to_string(i) + " has the wrong shape");
    const std::string p = "psi.layers[" + std::to_string(i) + "].";
    L.weight = copy_f32(lo.Get("weight"), p + "weight", static_cast<size_t>(L.out) * L.in);
    L.bias = copy_f32(lo.Get("bias"), p + "bias", L.out);
    if (!lo.Get("gamma").IsUndefined()) {
      L.gamma = copy_f32(lo.Get("gamma"), p + "gamma", L.out);
      L.beta = copy_f32(lo.Get("beta"), p + "beta", L.out);
    }
    L.gelu_before_norm = lo.Get("geluBeforeNorm").ToBoolean().Value();
    w.layers.push_back(std::move(L));
  }
  return w;
}

Napi::Float32Array f32_from(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

Napi::Object psi_to_js(Napi::Env env, const PsiWeights& w) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("dim", w.dim);
  o.Set("hidden", w.hidden);
  Napi::Array layers = Napi::Array::New(env, w.layers.size());
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const PsiLayer& L = w.layers[i];
    Napi::Object lo = Napi::Object::New(env);
    lo.Set("in", L.in);
    lo.Set("out", L.out);
    lo.Set("weight", f32_from(env, L.weight));
    lo.Set("bias", f32_from(env, L.bias));
    if (!L.gamma.empty()) {
      lo.Set("gamma", f32_from(env, L.gamma));
      lo.Set("beta", f32_from(env, L.beta));
    }
    lo.Set("geluBeforeNorm", L.gelu_before_norm);
    layers.Set(static_cast<uint32_t>(i), lo);
  }
  o.Set("layers", layers);
  return o;
}

Napi::Object epoch_to_js(Napi::Env env, const EpochStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("epoch", s.epoch);
  o.Set("trainLoss", s.train_loss);
  o.Set("valLoss", std::isnan(s.val_loss) ? env.Null() : Napi::Number::New(env, s.val_loss));
  o.Set("seconds", s.seconds);
  return o;
}

double num_prop(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
}

// trainPsi(X, dim, Y, m, options, onEpoch?) -> Promise<{ psi, epochs, bestEpoch }>
Napi::Value TrainPsi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array X = f32_arg(info, 0, "X");
  const int dim = static_cast<int>(int_arg(info, 1, "dim", 1, 1 << 20));
  Napi::Float32Array Y = f32_arg(info, 2, "Y");
  const int64_t m = int_arg(info, 3, "m", 1, int64_t{1} << 32);
  if (!info[4].IsObject()) throw_invalid_argument(env, "options must be an object");
  Napi::Object o = info[4].As<Napi::Object>();
  TrainOptions opt;
  opt.hidden = static_cast<int>(num_prop(o, "hidden", opt.hidden));
  opt.num_layers = static_cast<int>(num_prop(o, "numLayers", opt.num_layers));
  opt.epochs = static_cast<int>(num_prop(o, "epochs", opt.epochs));
  opt.batch = static_cast<int>(num_prop(o, "batch", opt.batch));
  opt.lr = static_cast<float>(num_prop(o, "lr", opt.lr));
  opt.clip = static_cast<float>(num_prop(o, "clip", opt.clip));
  opt.val_fraction = num_prop(o, "valFraction", 0);
  opt.seed = static_cast<uint64_t>(num_prop(o, "seed", 0));
  opt.threads = static_cast<int>(num_prop(o, "threads", 1));
  if (X.ElementLength() % dim != 0) throw_invalid_argument(env, "X length is not a multiple of dim");
  const int64_t n = static_cast<int64_t>(X.ElementLength()) / dim;
  if (static_cast<int64_t>(Y.ElementLength()) != n * m) throw_invalid_argument(env, "Y length != n * m");
  std::shared_ptr<Napi::ThreadSafeFunction> tsfn;
  if (info.Length() > 5 && info[5].IsFunction()) {
    tsfn = std::make_shared<Napi::ThreadSafeFunction>(
        Napi::ThreadSafeFunction::New(env, info[5].As<Napi::Function>(), "lemur-train-progress", 0, 1));
  }
  auto result = std::make_shared<TrainResult>();
  const float* xp = X.Data();
  const float* yp = Y.Data();
  return PromiseWorker::Start(
      env,
      [=]() {
        // Release the progress function however training ends (a thrown bad_alloc included):
        // an unreleased thread-safe function keeps the event loop, and the process, alive.
        struct ReleaseOnExit {
          std::shared_ptr<Napi::ThreadSafeFunction> f;
          ~ReleaseOnExit() {
            if (f) f->Release();
          }
        } release{tsfn};
        EpochCallback cb;
        if (tsfn) {
          cb = [tsfn](const EpochStats& s) {
            auto* copy = new EpochStats(s);
            tsfn->BlockingCall(copy, [](Napi::Env env, Napi::Function fn, EpochStats* st) {
              fn.Call({epoch_to_js(env, *st)});
              delete st;
            });
          };
        }
        return train_psi(xp, n, dim, yp, m, opt, result.get(), cb);
      },
      [result](Napi::Env env, const PromiseWorker::Kept&) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("psi", psi_to_js(env, result->psi));
        Napi::Array ep = Napi::Array::New(env, result->epochs.size());
        for (size_t i = 0; i < result->epochs.size(); ++i) ep.Set(static_cast<uint32_t>(i), epoch_to_js(env, result->epochs[i]));
        o.Set("epochs", ep);
        o.Set("bestEpoch", result->best_epoch);
        return o;
      },
      {X, Y});
}

// psiForward(psi, X, out, threads) -> Promise<out>
Napi::Value PsiForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto w = std::make_shared<PsiWeights>(psi_from_js(info[0]));
  Napi::Float32Array X = f32_arg(info, 1, "X");
  Napi::Float32Array out = f32_arg(info, 2, "out");
  const int threads = static_cast<int>(int_arg(info, 3, "threads", 1, 1024));
  if (X.ElementLength() % w->dim != 0) throw_invalid_argument(env, "X length is not a multiple of psi.dim");
  const int64_t n = static_cast<int64_t>(X.ElementLength()) / w->dim;
  if (static_cast<int64_t>(out.ElementLength()) != n * w->hidden) throw_invalid_argument(env, "out length != n * psi.hidden");
  const float* xp = X.Data();
  float* op = out.Data();
  return PromiseWorker::Start(
      env, [=]() { blas_set_threads(threads); psi_forward_blocked(*w, xp, n, op, threads); return Status::Ok(); },
      [](Napi::Env, const PromiseWorker::Kept& k) { return k[0].Value(); }, {out, X});
}

// psiQueryFeatures(psi, Q, counts, divisor, out, threads) -> Promise<out>
Napi::Value PsiQueryFeatures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto w = std::make_shared<PsiWeights>(psi_from_js(info[0]));
  Napi::Float32Array Q = f32_arg(info, 1, "queries");
  Napi::Int32Array counts = i32_arg(info, 2, "queryCounts");
  const float divisor = info[3].IsNumber() ? info[3].As<Napi::Number>().FloatValue() : 32.0f;
  Napi::Float32Array out = f32_arg(info, 4, "out");
  const int threads = static_cast<int>(int_arg(info, 5, "threads", 1, 1024));
  const int64_t nq = static_cast<int64_t>(counts.ElementLength());
  int64_t total = 0;
  for (int64_t i = 0; i < nq; ++i) total += counts.Data()[i];
  if (total * w->dim != static_cast<int64_t>(Q.ElementLength())) throw_invalid_argument(env, "queries length != sum(queryCounts) * dim");
  if (static_cast<int64_t>(out.ElementLength()) != nq * w->hidden) throw_invalid_argument(env, "out length != nq * hidden");
  const float* qp = Q.Data();
  const int32_t* cp = counts.Data();
  float* op = out.Data();
  return PromiseWorker::Start(
      env, [=]() { blas_set_threads(threads); psi_query_features(*w, qp, cp, nq, divisor, op, threads); return Status::Ok(); },
      [](Napi::Env, const PromiseWorker::Kept& k) { return k[0].Value(); }, {out, Q, counts});
}

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

// olsWeights(store, sample, pinvT, h, mean, std, docIndices, out, threads, kernel) -> Promise<out>
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
  TokenStoreWrap* wrap = nullptr;
  std::shared_ptr<TokenStore> store = TokenStoreWrap::Acquire(info[0], "store", &wrap);
  try {
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
    return PromiseWorker::Start(
        env, [=]() { return ols_weights(store->docs(), sp, s, pp, h, mean, sd, dp, nd, opt, wp); },
        [](Napi::Env, const PromiseWorker::Kept& k) { return k[0].Value(); }, {out, sample, pinvT, docs, info[0]},
        [wrap]() { wrap->Release(); });
  } catch (...) {
    wrap->Release();
    throw;
  }
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
  TokenStoreWrap* wrap = nullptr;
  std::shared_ptr<TokenStore> store = TokenStoreWrap::Acquire(info[0], "store", &wrap);
  try {
    const int64_t n = static_cast<int64_t>(idx.ElementLength());
    if (static_cast<int64_t>(out.ElementLength()) != n * store->docs().dim) throw_invalid_argument(env, "out length != tokenIndices.length * dim");
    const int64_t* ip = idx.Data();
    float* op = out.Data();
    return PromiseWorker::Start(
        env, [=]() { return gather_tokens(store->docs(), ip, n, op); },
        [](Napi::Env, const PromiseWorker::Kept& k) { return k[0].Value(); }, {out, idx, info[0]},
        [wrap]() { wrap->Release(); });
  } catch (...) {
    wrap->Release();
    throw;
  }
}

// psiGradients(psi, outW, X, T, m) -> Promise<{ loss, grads }>: one forward/backward without an
// update, for finite-difference tests of the training math.
Napi::Value PsiGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto w = std::make_shared<PsiWeights>(psi_from_js(info[0]));
  const int64_t m = int_arg(info, 4, "m", 1, int64_t{1} << 32);
  auto out_w = std::make_shared<std::vector<float>>(copy_f32(info[1], "outW", static_cast<size_t>(m) * w->hidden));
  auto X = std::make_shared<std::vector<float>>(copy_f32(info[2], "X", SIZE_MAX));
  if (X->size() % w->dim != 0) throw_invalid_argument(env, "X length is not a multiple of psi.dim");
  const int64_t b = static_cast<int64_t>(X->size()) / w->dim;
  auto T = std::make_shared<std::vector<float>>(copy_f32(info[3], "T", static_cast<size_t>(b * m)));
  auto loss = std::make_shared<double>(0);
  auto grads = std::make_shared<std::vector<std::vector<float>>>();
  return PromiseWorker::Start(
      env, [=]() { blas_set_threads(1); return psi_gradients(*w, *out_w, X->data(), T->data(), b, m, loss.get(), grads.get()); },
      [loss, grads](Napi::Env env, const PromiseWorker::Kept&) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("loss", *loss);
        Napi::Array g = Napi::Array::New(env, grads->size());
        for (size_t i = 0; i < grads->size(); ++i) g.Set(static_cast<uint32_t>(i), f32_from(env, (*grads)[i]));
        o.Set("grads", g);
        return o;
      });
}

}  // namespace

void InitModel(Napi::Env env, Napi::Object exports) {
  exports.Set("trainPsi", Napi::Function::New(env, TrainPsi, "trainPsi"));
  exports.Set("psiGradients", Napi::Function::New(env, PsiGradients, "psiGradients"));
  exports.Set("psiForward", Napi::Function::New(env, PsiForward, "psiForward"));
  exports.Set("psiQueryFeatures", Napi::Function::New(env, PsiQueryFeatures, "psiQueryFeatures"));
  exports.Set("olsBasis", Napi::Function::New(env, OlsBasis, "olsBasis"));
  exports.Set("olsWeights", Napi::Function::New(env, OlsWeights, "olsWeights"));
  exports.Set("olsProject", Napi::Function::New(env, OlsProject, "olsProject"));
  exports.Set("standardize", Napi::Function::New(env, Standardize, "standardize"));
  exports.Set("ipTopK", Napi::Function::New(env, IpTopK, "ipTopK"));
  exports.Set("gatherTokens", Napi::Function::New(env, GatherTokens, "gatherTokens"));
}

}  // namespace lemur
