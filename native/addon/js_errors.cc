#include "js_errors.h"

namespace lemur {

const char* js_error_code(StatusCode c) {
  switch (c) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kInvalidInput: return "INPUT_DATA";
    case StatusCode::kCorruptFile: return "CORRUPT_FILE";
    case StatusCode::kIo: return "IO";
    case StatusCode::kOutOfMemory: return "OUT_OF_MEMORY";
    case StatusCode::kUnsupportedCpu: return "UNSUPPORTED_CPU";
    case StatusCode::kInternal: return "INTERNAL";
    case StatusCode::kFaiss: return "FAISS";
  }
  return "INTERNAL";
}

Napi::Error make_js_error(Napi::Env env, const Status& st) {
  Napi::Error e = Napi::Error::New(env, st.message);
  e.Set("lemurCode", Napi::String::New(env, js_error_code(st.code)));
  if (st.row >= 0) e.Set("row", Napi::Number::New(env, static_cast<double>(st.row)));
  if (!st.field.empty()) e.Set("field", Napi::String::New(env, st.field));
  return e;
}

void throw_invalid_argument(Napi::Env env, const std::string& message) {
  throw make_js_error(env, Status::Error(StatusCode::kInvalidArgument, message));
}

void throw_status(Napi::Env env, const Status& st) { throw make_js_error(env, st); }

void throw_resource_busy(Napi::Env env, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("lemurCode", Napi::String::New(env, "RESOURCE_BUSY"));
  throw e;
}

}  // namespace lemur
