// Addon entry: registers each family's functions, plus the CPU/kernel queries.
#include <napi.h>

#include "../core/cpu_features.h"
#include "js_errors.h"
#include "token_store_binding.h"

namespace lemur {

void InitMaxsim(Napi::Env env, Napi::Object exports);

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

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo, "cpuInfo"));
  exports.Set("setDefaultKernel", Napi::Function::New(env, SetDefaultKernel, "setDefaultKernel"));
  TokenStoreWrap::Init(env, exports);
  InitMaxsim(env, exports);
  return exports;
}

}  // namespace lemur

static Napi::Object InitLemur(Napi::Env env, Napi::Object exports) { return lemur::Init(env, exports); }

NODE_API_MODULE(lemur, InitLemur)
