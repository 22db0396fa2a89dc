// Typed-array accessors with the one-line guards of the native boundary: the TS layer has
// validated shapes already; these only make a call that skipped it fail instead of reading
// out of bounds. Views (subarray) are fine: Data() accounts for the byte offset.
#pragma once
#include <napi.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/cpu_features.h"
#include "js_errors.h"

namespace lemur {

template <class T, napi_typedarray_type kType>
inline Napi::TypedArrayOf<T> typed_array_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != kType) {
    throw_invalid_argument(info.Env(), std::string("argument ") + name + " has the wrong type");
  }
  return info[i].As<Napi::TypedArrayOf<T>>();
}

inline Napi::Float32Array f32_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed_array_arg<float, napi_float32_array>(info, i, name);
}
inline Napi::Int32Array i32_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed_array_arg<int32_t, napi_int32_array>(info, i, name);
}
inline Napi::BigInt64Array i64_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed_array_arg<int64_t, napi_bigint64_array>(info, i, name);
}

inline int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    throw_invalid_argument(info.Env(), std::string("argument ") + name + " must be a number");
  }
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || d != static_cast<double>(static_cast<int64_t>(d))) {
    throw_invalid_argument(info.Env(), std::string("argument ") + name + " must be an integer in [" +
                                           std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return static_cast<int64_t>(d);
}

inline std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsString()) {
    throw_invalid_argument(info.Env(), std::string("argument ") + name + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

// A kernel name at argument i ('' or absent = the process default). An unknown name is
// INVALID_ARGUMENT; a kernel this CPU lacks is UNSUPPORTED_CPU, never a silent fallback.
inline Kernel kernel_arg(const Napi::CallbackInfo& info, size_t i) {
  const std::string name = i < info.Length() && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : "";
  if (name.empty()) return default_kernel();
  Kernel k;
  Status st = parse_kernel(name, &k);
  if (st.ok() && !cpu_supports(k)) {
    st = Status::Error(StatusCode::kUnsupportedCpu, "kernel '" + name + "' is not supported by this CPU (" + cpu_model_name() + ")");
  }
  if (!st.ok()) throw_status(info.Env(), st);
  return k;
}

// A fresh Float32Array holding a copy of v (small outputs, built in a worker's make step).
inline Napi::Float32Array f32_from(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// { labels, distances } from a worker's first two kept values (the Faiss result shape).
inline Napi::Object hits_object(Napi::Env env, const std::vector<Napi::ObjectReference>& kept) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("labels", kept[0].Value());
  o.Set("distances", kept[1].Value());
  return o;
}

}  // namespace lemur
