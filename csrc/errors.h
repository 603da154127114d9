// Errors of the storage core: one exception type that carries the operation, the
// pool/container, the path, an errno and (where DAOS gave one) a DER code.
#pragma once
#include <atomic>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>

namespace pdt {

// Where an error happened: filled by the backend that raised it.
struct ErrorContext {
  std::string op;         // e.g. "read", "dfs_connect"
  std::string pool;       // empty for the local backend without pools
  std::string container;
  std::string path;       // container path, or empty
};

class StorageError : public std::runtime_error {
 public:
  StorageError(int err, int der, ErrorContext ctx, std::string detail);
  int err() const { return err_; }          // positive errno (always set)
  int der() const { return der_; }          // positive DER number, 0 if none
  const ErrorContext& context() const { return ctx_; }
  const std::string& detail() const { return detail_; }

 private:
  int err_;
  int der_;
  ErrorContext ctx_;
  std::string detail_;
};

// Raised when the caller's interrupt check (Ctrl-C) fired during a native call.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

// DAOS does not export its converters (they live in an internal header), so we keep our own.
// Codes are positive here (DAOS returns them negated).
const char* der_name(int der);         // "DER_NONEXIST", or nullptr when unknown
int der_to_errno(int der);             // DAOS's own mapping; EIO for anything unmapped
std::string describe_errno(int err);   // strerror, thread-safe

[[noreturn]] void throw_errno(int err, const ErrorContext& ctx, const std::string& detail = {});
[[noreturn]] void throw_der(int der, const ErrorContext& ctx, const std::string& detail = {});

// Collects failures from many threads: the first error wins, the others are counted.
class FirstError {
 public:
  void record(std::exception_ptr e);
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  [[noreturn]] void rethrow();
  void rethrow_if_failed() { if (failed()) rethrow(); }

 private:
  std::mutex mu_;
  std::exception_ptr first_;
  size_t others_ = 0;
  std::atomic<bool> failed_{false};
};

}  // namespace pdt
