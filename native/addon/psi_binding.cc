// napi adapters for ψ: training (epoch and batch progress through a thread-safe function), the gradient
// check of its math, and NativePsi, the handle of one model's ψ weights, loaded once (copied and
// validated off the event loop) and then used by every forward/features call without copying.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../core/psi.h"
#include "../core/psi_trainer.h"
#include "js_errors.h"
#include "native_handle.h"
#include "progress_binding.h"
#include "promise_worker.h"
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

// ψ weights as JS gives them: shapes checked on the JS thread, arrays referenced (kept alive by
// the worker through `keep`), copied into PsiWeights on the pool thread by copy().
struct PsiRef {
  struct Layer {
    PsiLayer shape;  // in, out, gelu_before_norm; vectors empty
    const float* weight = nullptr;
    const float* bias = nullptr;
    const float* gamma = nullptr;  // null: LayerNorm without affine
    const float* beta = nullptr;
  };
  int dim = 0, hidden = 0;
  std::vector<Layer> layers;

  PsiWeights copy() const {
    PsiWeights w;
    w.dim = dim;
    w.hidden = hidden;
    for (const Layer& r : layers) {
      PsiLayer L = r.shape;
      const size_t nw = static_cast<size_t>(L.out) * L.in;
      L.weight.assign(r.weight, r.weight + nw);
      L.bias.assign(r.bias, r.bias + L.out);
      if (r.gamma) {
        L.gamma.assign(r.gamma, r.gamma + L.out);
        L.beta.assign(r.beta, r.beta + L.out);
      }
      w.layers.push_back(std::move(L));
    }
    return w;
  }
};

const float* f32_ref(const Napi::Value& v, const std::string& name, size_t expect, std::vector<Napi::Value>* keep) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw_invalid_argument(v.Env(), name + " must be a Float32Array");
  }
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ElementLength() != expect) {
    throw_invalid_argument(v.Env(), name + " has " + std::to_string(a.ElementLength()) + " values, expected " + std::to_string(expect));
  }
  keep->push_back(a);
  return a.Data();
}

PsiRef psi_from_js(const Napi::Value& v, std::vector<Napi::Value>* keep) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw_invalid_argument(env, "psi weights must be an object");
  Napi::Object o = v.As<Napi::Object>();
  PsiRef w;
  w.dim = int_prop(o, "dim", 1, 1 << 20);
  w.hidden = int_prop(o, "hidden", 1, 1 << 20);
  Napi::Value lv = o.Get("layers");
  if (!lv.IsArray() || lv.As<Napi::Array>().Length() == 0) throw_invalid_argument(env, "psi.layers must be a non-empty array");
  Napi::Array layers = lv.As<Napi::Array>();
  for (uint32_t i = 0; i < layers.Length(); ++i) {
    Napi::Value li = layers.Get(i);
    if (!li.IsObject()) throw_invalid_argument(env, "psi layer " + std::to_string(i) + " must be an object");
    Napi::Object lo = li.As<Napi::Object>();
    PsiRef::Layer r;
    PsiLayer& L = r.shape;
    L.in = int_prop(lo, "in", 1, 1 << 20);
    L.out = int_prop(lo, "out", 1, 1 << 20);
    if (L.in != (i == 0 ? w.dim : w.hidden) || L.out != w.hidden) throw_invalid_argument(env, "psi layer " + std::to_string(i) + " has the wrong shape");
    const std::string p = "psi.layers[" + std::to_string(i) + "].";
    r.weight = f32_ref(lo.Get("weight"), p + "weight", static_cast<size_t>(L.out) * L.in, keep);
    r.bias = f32_ref(lo.Get("bias"), p + "bias", L.out, keep);
    if (!lo.Get("gamma").IsUndefined()) {
      r.gamma = f32_ref(lo.Get("gamma"), p + "gamma", L.out, keep);
      r.beta = f32_ref(lo.Get("beta"), p + "beta", L.out, keep);
    }
    L.gelu_before_norm = lo.Get("geluBeforeNorm").ToBoolean().Value();
    w.layers.push_back(std::move(r));
  }
  return w;
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

Napi::Object batch_to_js(Napi::Env env, const BatchStats& b) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("epoch", b.epoch);
  o.Set("epochs", b.epochs);
  o.Set("batch", static_cast<double>(b.batch));
  o.Set("batches", static_cast<double>(b.batches));
  o.Set("loss", b.loss);
  return o;
}

// trainPsi(X, dim, Y, m, options, onEvent?) -> Promise<{ psi, epochs, bestEpoch, batches }>.
// onEvent('batch', { epoch, epochs, batch, batches, loss }) and onEvent('epoch', EpochStats)
// share one thread-safe function, so JS receives them in the order training produced them.
// Epoch events and each epoch's last batch wait for room in the queue; other batch events are
// dropped when it is full.
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
  auto result = std::make_shared<TrainResult>();
  const float* xp = X.Data();
  const float* yp = Y.Data();
  std::shared_ptr<JsProgress> events = JsProgress::FromArg(info, 5, "onEvent");
  return PromiseWorker::Start(
      env,
      [=]() {
        ReleaseOnExit release(events.get());  // however training ends, a bad_alloc included
        EpochCallback on_epoch;
        BatchCallback on_batch;
        if (events) {
          on_epoch = [&events](const EpochStats& st) {
            events->Post([st](Napi::Env env, Napi::Function fn) { fn.Call({Napi::String::New(env, "epoch"), epoch_to_js(env, st)}); },
                         false);
          };
          on_batch = [&events](const BatchStats& b) {
            events->Post([b](Napi::Env env, Napi::Function fn) { fn.Call({Napi::String::New(env, "batch"), batch_to_js(env, b)}); },
                         b.batch != b.batches);
          };
        }
        return train_psi(xp, n, dim, yp, m, opt, result.get(), on_epoch, on_batch);
      },
      [result](Napi::Env env, const PromiseWorker::Kept&) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("psi", psi_to_js(env, result->psi));
        Napi::Array ep = Napi::Array::New(env, result->epochs.size());
        for (size_t i = 0; i < result->epochs.size(); ++i) ep.Set(static_cast<uint32_t>(i), epoch_to_js(env, result->epochs[i]));
        o.Set("epochs", ep);
        o.Set("bestEpoch", result->best_epoch);
        o.Set("batches", static_cast<double>(result->batches));
        return o;
      },
      {X, Y});
}

// psiGradients(psi, outW, X, T, m) -> Promise<{ loss, grads }>: one forward/backward without an
// update, for finite-difference tests of the training math.
Napi::Value PsiGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Napi::Value> keep;
  auto w = std::make_shared<PsiWeights>(psi_from_js(info[0], &keep).copy());  // a test helper: small weights
  const int64_t m = int_arg(info, 4, "m", 1, int64_t{1} << 32);
  auto out_w = std::make_shared<std::vector<float>>(copy_f32(info[1], "outW", static_cast<size_t>(m) * w->hidden));
  auto X = std::make_shared<std::vector<float>>(copy_f32(info[2], "X", SIZE_MAX));
  if (X->size() % w->dim != 0) throw_invalid_argument(env, "X length is not a multiple of psi.dim");
  const int64_t b = static_cast<int64_t>(X->size()) / w->dim;
  auto T = std::make_shared<std::vector<float>>(copy_f32(info[3], "T", static_cast<size_t>(b * m)));
  auto loss = std::make_shared<double>(0);
  auto grads = std::make_shared<std::vector<std::vector<float>>>();
  return PromiseWorker::Start(
      env, [=]() { return psi_gradients(*w, *out_w, X->data(), T->data(), b, m, loss.get(), grads.get()); },
      [loss, grads](Napi::Env env, const PromiseWorker::Kept&) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("loss", *loss);
        Napi::Array g = Napi::Array::New(env, grads->size());
        for (size_t i = 0; i < grads->size(); ++i) g.Set(static_cast<uint32_t>(i), f32_from(env, (*grads)[i]));
        o.Set("grads", g);
        return o;
      });
}

// NativePsi: immutable ψ weights owned by native code (lifetime: native_handle.h).
class PsiWrap : public HandleWrap<PsiWrap, const PsiWeights> {
 public:
  static constexpr const char* kWhat = "psi";

  static void Init(Napi::Env env, Napi::Object exports) {
    Define(env, "NativePsi",
           {InstanceMethod<&PsiWrap::Info>("info"), InstanceMethod<&PsiWrap::Forward>("forward"),
            InstanceMethod<&PsiWrap::QueryFeatures>("queryFeatures")});
    exports.Set("psiLoad", Napi::Function::New(env, Load, "psiLoad"));
  }

  explicit PsiWrap(const Napi::CallbackInfo& info) : HandleWrap(info) {}

 private:
  // psiLoad(psi) -> Promise<NativePsi>: shapes checked here, weights copied on the pool thread.
  static Napi::Value Load(const Napi::CallbackInfo& info) {
    std::vector<Napi::Value> keep;
    auto ref = std::make_shared<PsiRef>(psi_from_js(info[0], &keep));
    auto slot = std::make_shared<std::shared_ptr<const PsiWeights>>();
    return PromiseWorker::Start(
        info.Env(),
        [ref, slot]() {
          *slot = std::make_shared<const PsiWeights>(ref->copy());
          return Status::Ok();
        },
        [slot](Napi::Env, const PromiseWorker::Kept&) { return New(std::move(*slot)); }, keep);
  }

  // info() -> { dim, hidden, layers } (O(1))
  Napi::Value Info(const Napi::CallbackInfo& info) {
    const PsiWeights& w = live(info.Env());
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("dim", w.dim);
    o.Set("hidden", w.hidden);
    o.Set("layers", static_cast<double>(w.layers.size()));
    return o;
  }

  // forward(X, out, threads) -> Promise<out>: out (n x hidden) = ψ(X (n x dim))
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Float32Array X = f32_arg(info, 0, "X");
    Napi::Float32Array out = f32_arg(info, 1, "out");
    const int threads = static_cast<int>(int_arg(info, 2, "threads", 1, 1024));
    UsePtr<const PsiWeights> use = acquire(env);
    std::shared_ptr<const PsiWeights> w = use->object();
    if (X.ElementLength() % w->dim != 0) throw_invalid_argument(env, "X length is not a multiple of psi.dim");
    const int64_t n = static_cast<int64_t>(X.ElementLength()) / w->dim;
    if (static_cast<int64_t>(out.ElementLength()) != n * w->hidden) throw_invalid_argument(env, "out length != n * psi.hidden");
    const float* xp = X.Data();
    float* op = out.Data();
    return PromiseWorker::Start(
        env, [=]() { psi_forward_blocked(*w, xp, n, op, threads); return Status::Ok(); },
        [](Napi::Env, const PromiseWorker::Kept& k) { return k[0].Value(); }, {out, X, info.This()}, {use});
  }

  // queryFeatures(Q, counts, divisor, out, threads) -> Promise<out>
  Napi::Value QueryFeatures(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Float32Array Q = f32_arg(info, 0, "queries");
    Napi::Int32Array counts = i32_arg(info, 1, "queryCounts");
    const float divisor = info[2].IsNumber() ? info[2].As<Napi::Number>().FloatValue() : 32.0f;
    Napi::Float32Array out = f32_arg(info, 3, "out");
    const int threads = static_cast<int>(int_arg(info, 4, "threads", 1, 1024));
    UsePtr<const PsiWeights> use = acquire(env);
    std::shared_ptr<const PsiWeights> w = use->object();
    const int64_t nq = static_cast<int64_t>(counts.ElementLength());
    int64_t total = 0;
    for (int64_t i = 0; i < nq; ++i) total += counts.Data()[i];
    if (total * w->dim != static_cast<int64_t>(Q.ElementLength())) throw_invalid_argument(env, "queries length != sum(queryCounts) * dim");
    if (static_cast<int64_t>(out.ElementLength()) != nq * w->hidden) throw_invalid_argument(env, "out length != nq * hidden");
    const float* qp = Q.Data();
    const int32_t* cp = counts.Data();
    float* op = out.Data();
    return PromiseWorker::Start(
        env, [=]() { psi_query_features(*w, qp, cp, nq, divisor, op, threads); return Status::Ok(); },
        [](Napi::Env, const PromiseWorker::Kept& k) { return k[0].Value(); }, {out, Q, counts, info.This()}, {use});
  }
};

}  // namespace

void InitPsi(Napi::Env env, Napi::Object exports) {
  exports.Set("trainPsi", Napi::Function::New(env, TrainPsi, "trainPsi"));
  exports.Set("psiGradients", Napi::Function::New(env, PsiGradients, "psiGradients"));
  PsiWrap::Init(env, exports);
}

}  // namespace lemur
