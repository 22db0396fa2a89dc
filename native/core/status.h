// Status: the error value every core/ function returns. No exceptions cross the core boundary,
// so the napi layer maps one small enum to JS error classes in one table (addon/js_errors.cc).
#pragma once
#include <string>
#include <utility>

namespace lemur {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // a caller bug the TS layer should have caught (shape, range)
  kInvalidInput = 2,     // bad data: NaN, empty doc, duplicate id ...
  kCorruptFile = 3,      // magic, version, size or checksum mismatch
  kIo = 4,               // open/read/write/rename failed
  kOutOfMemory = 5,
  kUnsupportedCpu = 6,   // a forced kernel this CPU cannot run
  kInternal = 7,
};

struct Status {
  StatusCode code = StatusCode::kOk;
  std::string message;

  static Status Ok() { return {}; }
  static Status Error(StatusCode c, std::string m) { return Status{c, std::move(m)}; }
  bool ok() const { return code == StatusCode::kOk; }
};

#define LEMUR_RETURN_IF_ERROR(expr)      \
  do {                                   \
    ::lemur::Status _st = (expr);        \
    if (!_st.ok()) return _st;           \
  } while (0)

}  // namespace lemur
