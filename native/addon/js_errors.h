// The one table from core Status codes to the `code` a JS error carries; src/errors.ts turns
// that code into the matching LemurError subclass, message unchanged.
#pragma once
#include <napi.h>

#include "../core/status.h"

namespace lemur {

const char* js_error_code(StatusCode c);
Napi::Error make_js_error(Napi::Env env, const Status& st);
// Throws (C++ exception -> JS exception) an INVALID_ARGUMENT error: the guard for calls that
// bypassed the TS validation layer.
[[noreturn]] void throw_invalid_argument(Napi::Env env, const std::string& message);
[[noreturn]] void throw_status(Napi::Env env, const Status& st);
// close() of a native object while calls on it are in flight (src/errors.ts ResourceBusyError).
[[noreturn]] void throw_resource_busy(Napi::Env env, const std::string& message);

}  // namespace lemur
