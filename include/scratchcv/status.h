// Status and Result<T>: how every recoverable failure in scratchcv is reported.
//
// Contract: functions that can fail on user input (files, images, models, arguments) return a
// [[nodiscard]] Status or Result<T>. The message says what was expected, what was found and,
// where possible, a hint. Programming errors (kernel preconditions) are asserts, not Statuses.
#pragma once

#include <cassert>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace scv {

// Concatenate anything streamable into a string: str("expected ", 4, " dims, got ", n).
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  static Status ok_status() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.failed_ = true;
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  // Prefix context: status.with_context("model.pth") -> "model.pth: <message>".
  Status with_context(const std::string& ctx) const {
    return ok() ? *this : error(ctx + ": " + message_);
  }

 private:
  bool failed_ = false;
  std::string message_;
};

template <typename... Args>
Status error(const Args&... args) {
  return Status::error(str(args...));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result built from an OK status carries no value");
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace scv

#define SCV_CONCAT_INNER(a, b) a##b
#define SCV_CONCAT(a, b) SCV_CONCAT_INNER(a, b)

// Return the Status if it is an error.
#define SCV_TRY(expr)                  \
  do {                                 \
    ::scv::Status scv_st_ = (expr);    \
    if (!scv_st_.ok()) return scv_st_; \
  } while (0)

// SCV_ASSIGN_OR_RETURN(auto x, make_x()); returns the error Status if make_x() failed.
#define SCV_ASSIGN_OR_RETURN(lhs, expr) \
  SCV_ASSIGN_OR_RETURN_IMPL(SCV_CONCAT(scv_res_, __LINE__), lhs, expr)
#define SCV_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
