// Status: the error type of fanout. A code and a message; results are std::expected<T, Status>.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <expected>
#include <string>
#include <utility>

namespace fanout {

enum class Code {
  kOk = 0,
  kInvalidArgument,    // bad spec, input, flag or message: the caller's fault
  kNotFound,           // no such execution, node, task, key
  kUnavailable,        // a peer (Redis, coordinator) cannot be reached right now
  kFailedPrecondition, // the state does not allow this (e.g. fenced off)
  kAborted,            // cancelled by the user or by fail-fast
  kDeadlineExceeded,   // timed out
  kInternal,           // a bug or a corrupt store
};

const char* CodeName(Code code);

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
inline Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
inline Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
inline Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
inline Status FailedPrecondition(std::string m) {
  return Status(Code::kFailedPrecondition, std::move(m));
}

template <typename T>
using Result = std::expected<T, Status>;

inline std::unexpected<Status> Err(Status s) { return std::unexpected<Status>(std::move(s)); }

}  // namespace fanout

#define FANOUT_CONCAT_INNER(a, b) a##b
#define FANOUT_CONCAT(a, b) FANOUT_CONCAT_INNER(a, b)

// RETURN_IF_ERROR(expr): expr yields a Status; returns it (as std::unexpected) when not ok.
#define RETURN_IF_ERROR(expr)                                              \
  do {                                                                     \
    ::fanout::Status _st = (expr);                                         \
    if (!_st.ok()) return ::std::unexpected<::fanout::Status>(std::move(_st)); \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): expr yields Result<T>; on error returns its Status.
#define ASSIGN_OR_RETURN(lhs, expr)                                          \
  auto FANOUT_CONCAT(_res_, __LINE__) = (expr);                              \
  if (!FANOUT_CONCAT(_res_, __LINE__))                                       \
    return ::std::unexpected<::fanout::Status>(                              \
        std::move(FANOUT_CONCAT(_res_, __LINE__).error()));                  \
  lhs = std::move(*FANOUT_CONCAT(_res_, __LINE__))

// CHECK: a broken invariant aborts with file:line; recovery is a restart.
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                              \
    }                                                                            \
  } while (0)
