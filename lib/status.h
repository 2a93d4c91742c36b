// Status: the result of an operation that can fail, carried across module
// boundaries instead of exceptions. A failure is an errno (the same number the
// XML-RPC API puts in faultCode) plus a sentence for logs and humans.
// Code 500 is "internal error": a bug or an unexpected backend failure.
// [[nodiscard]]: a Status dropped unread does not compile; where ignoring
// one is right, the caller casts it to (void) and says why.
#pragma once

#include <string>
#include <utility>

namespace vastsky {

class [[nodiscard]] Status {
 public:
  static constexpr int kInternal = 500;

  Status() = default;  // OK
  static Status OK() { return Status(); }
  static Status Error(int code, std::string msg) { return Status(code, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(kInternal, std::move(msg)); }

  bool ok() const { return code_ == 0; }
  int code() const { return code_; }
  const std::string& message() const { return msg_; }
  // "ENOSPC: no room for mirror 3 of 'db1'" (or "OK").
  std::string ToString() const;

 private:
  Status(int code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  int code_ = 0;
  std::string msg_;
};

// Symbolic name of an errno as 3.0 puts it in faultString ("EINVAL");
// "Internal Server Error" for 500, "E<n>" for anything unknown.
std::string ErrnoName(int code);
// Inverse of ErrnoName for the names VastSky uses; 0 if unknown.
int ErrnoFromName(const std::string& name);
// Words for a user: "no space left (ENOSPC)".
std::string ErrnoWords(int code);

}  // namespace vastsky

// Propagate a failed Status to the caller.
#define VS_RETURN_IF_ERROR(expr)           \
  do {                                     \
    ::vastsky::Status _st = (expr);        \
    if (!_st.ok()) return _st;             \
  } while (0)
