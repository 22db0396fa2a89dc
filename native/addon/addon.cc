// Addon entry: registers each family's functions, plus the CPU/kernel queries.
#include <napi.h>

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/blas.h"
#include "../core/maxsim.h"
#include "../core/xxhash64.h"
#include "js_errors.h"
#include "promise_worker.h"
#include "token_store_binding.h"
#include "typed_arrays.h"

namespace lemur {

void InitMaxsim(Napi::Env env, Napi::Object exports);
void InitModel(Napi::Env env, Napi::Object exports);
void InitPsi(Napi::Env env, Napi::Object exports);
void InitIpIndex(Napi::Env env, Napi::Object exports);

namespace {

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("kernel", kernel_name(default_kernel()));
  o.Set("best", kernel_name(best_kernel()));
  Napi::Array avail = Napi::Array::New(env);
  uint32_t i = 0;
  for (Kernel k : {Kernel::kScalar, Kernel::kAvx2, Kernel::kAvx512}) {
    if (cpu_supports(k)) avail.Set(i++, kernel_name(k));
  }
  o.Set("available", avail);
  o.Set("cpu", cpu_model_name());
  o.Set("blasCore", blas_core_name());
  o.Set("blasThreads", blas_threads());
  return o;
}

// setDefaultKernel(name): applied once at load from LEMUR_KERNEL by src/native/binding.ts.
Napi::Value SetDefaultKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_invalid_argument(env, "kernel name must be a string");
  Kernel k;
  Status st = parse_kernel(info[0].As<Napi::String>().Utf8Value(), &k);
  if (st.ok()) st = set_default_kernel(k);
  if (!st.ok()) throw_status(env, st);
  return env.Undefined();
}

// setBlasThreads(n): OpenBLAS's process-wide thread count, applied once at load from
// LEMUR_THREADS by src/native/binding.ts; no other call sets it (why: core/blas.h).
Napi::Value SetBlasThreads(const Napi::CallbackInfo& info) {
  blas_init_threads(static_cast<int>(int_arg(info, 0, "threads", 1, 1024)));
  return info.Env().Undefined();
}

// fmaPeak(kernel, seconds) -> Promise<{ isa, gflops, medianGflops, probe, probes }>: the single-
// thread FMA peak of one kernel's ISA for benchmarks. Both probe shapes of the table are sampled
// in alternating ~10 ms runs, so machine noise hits them alike; each reports its best sample
// (capability) and median (what the shared core gave meanwhile). The peak is the best probe.
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Kernel k;
  Status st = parse_kernel(info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "", &k);
  if (st.ok() && !cpu_supports(k)) st = Status::Error(StatusCode::kUnsupportedCpu, std::string("kernel '") + kernel_name(k) + "' is not supported by this CPU");
  if (!st.ok()) throw_status(env, st);
  const double seconds = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0.2;
  // per probe: best, median
  auto result = std::make_shared<std::vector<std::pair<double, double>>>(kFmaProbes);
  return PromiseWorker::Start(
      env,
      [k, seconds, result]() {
        const KernelTable& kt = kernel_table(k);
        float sink = 0;
        int64_t iters[kFmaProbes];
        std::vector<double> samples[kFmaProbes];
        for (int p = 0; p < kFmaProbes; ++p) iters[p] = 1 << 14;
        const auto t_end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        for (int p = 0;; p = (p + 1) % kFmaProbes) {
          bool enough = true;
          for (const auto& sp : samples) enough = enough && sp.size() >= 3;
          if (p == 0 && enough && std::chrono::steady_clock::now() >= t_end) break;
          const auto t0 = std::chrono::steady_clock::now();
          const double flops = kt.fma_probes[p].run(iters[p], &sink);
          const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          if (dt < 0.01) { iters[p] *= 2; continue; }
          samples[p].push_back(flops / dt / 1e9 + 0 * sink);
        }
        for (int p = 0; p < kFmaProbes; ++p) {
          std::sort(samples[p].begin(), samples[p].end());
          (*result)[p] = {samples[p].back(), samples[p][samples[p].size() / 2]};
        }
        return Status::Ok();
      },
      [k, result](Napi::Env env, const PromiseWorker::Kept&) {
        const KernelTable& kt = kernel_table(k);
        Napi::Object o = Napi::Object::New(env);
        Napi::Array probes = Napi::Array::New(env);
        int top = 0;
        for (int p = 0; p < kFmaProbes; ++p) {
          Napi::Object r = Napi::Object::New(env);
          r.Set("name", kt.fma_probes[p].name);
          r.Set("chains", kt.fma_probes[p].chains);
          r.Set("gflops", (*result)[p].first);
          r.Set("medianGflops", (*result)[p].second);
          probes.Set(p, r);
          if ((*result)[p].first > (*result)[top].first) top = p;
        }
        o.Set("isa", kernel_name(k));
        o.Set("gflops", (*result)[top].first);
        o.Set("medianGflops", (*result)[top].second);
        o.Set("probe", probes.Get(top));
        o.Set("probes", probes);
        return o;
      });
}

// xxh64(typedArray) -> Promise<string>: XXH64 (seed 0) of the array's bytes as 16 hex digits,
// for the checksums of model artifacts written from TS.
Napi::Value Checksum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw_invalid_argument(env, "xxh64 expects a typed array");
  Napi::TypedArray a = info[0].As<Napi::TypedArray>();
  const uint8_t* p = static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  const size_t n = a.ByteLength();
  auto h = std::make_shared<uint64_t>(0);
  return PromiseWorker::Start(
      env, [=]() { *h = xxh64(p, n); return Status::Ok(); },
      [h](Napi::Env env, const PromiseWorker::Kept&) {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(*h));
        return Napi::String::New(env, buf);
      },
      {info[0]});
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo, "cpuInfo"));
  exports.Set("xxh64", Napi::Function::New(env, Checksum, "xxh64"));
  exports.Set("fmaPeak", Napi::Function::New(env, FmaPeak, "fmaPeak"));
  exports.Set("setDefaultKernel", Napi::Function::New(env, SetDefaultKernel, "setDefaultKernel"));
  exports.Set("setBlasThreads", Napi::Function::New(env, SetBlasThreads, "setBlasThreads"));
  TokenStoreWrap::Init(env, exports);
  TokenStoreWriterWrap::Init(env, exports);
  InitMaxsim(env, exports);
  InitModel(env, exports);
  InitPsi(env, exports);
  InitIpIndex(env, exports);
  return exports;
}

}  // namespace lemur

static Napi::Object InitLemur(Napi::Env env, Napi::Object exports) { return lemur::Init(env, exports); }

NODE_API_MODULE(lemur, InitLemur)
