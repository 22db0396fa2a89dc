// Status: the error value every core/ function returns. No exceptions cross the core boundary,
// so the napi layer maps one small enum to JS error classes in one table (addon/js_errors.cc).
#pragma once
#include <cstdint>
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
  kFaiss = 8,            // an exception from the Faiss library, message kept
};

struct Status {
  StatusCode code = StatusCode::kOk;
  std::string message;
  // Where bad input was found, when known: the row (doc position) and the field it names.
  int64_t row = -1;
  std::string field;

  static Status Ok() { return {}; }
  static Status Error(StatusCode c, std::string m) { return Status{c, std::move(m), -1, {}}; }
  static Status InputError(int64_t row, std::string field, std::string m) {
    return Status{StatusCode::kInvalidInput, std::move(m), row, std::move(field)};
  }
  bool ok() const { return code == StatusCode::kOk; }
};

#define LEMUR_RETURN_IF_ERROR(expr)      \
  do {                                   \
    ::lemur::Status _st = (expr);        \
    if (!_st.ok()) return _st;           \
  } while (0)

}  // namespace lemur
