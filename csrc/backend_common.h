// What every backend does the same way: naming the container in its errors, refusing writes
// to a read-only container, checking batch reads for short reads, walking a path's
// prefixes for mkdirs, the tail of a namespace scan, and the handle blob's codec.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "storage.h"

namespace pdt {

class WorkQueue;

// The container a backend serves, as its errors name it.
class ContainerName {
 public:
  ContainerName(std::string pool, std::string container, bool read_only)
      : pool_(std::move(pool)), cont_(std::move(container)), read_only_(read_only) {}

  const std::string& pool() const { return pool_; }
  const std::string& container() const { return cont_; }
  bool read_only() const { return read_only_; }

  ErrorContext ctx(const char* op, std::string_view path) const;
  // normalize_path, with this container named in its errors.
  std::string norm(std::string_view path, const char* op) const;
  // EPERM unless the container was opened for writing.
  void check_writable(const char* op, std::string_view path) const;
  // EIO for the first request that read less than asked (and was not up_to); `rel(i)` is
  // request i's container path.
  void check_complete(const std::vector<ReadRequest>& reqs, const std::function<std::string_view(size_t)>& rel) const;

 private:
  std::string pool_, cont_;
  bool read_only_;
};

// "short read: got N of M bytes", the detail of a File::read_at that came up short.
std::string short_read_detail(uint64_t got, uint64_t wanted);

// Calls fn("a"), fn("a/b"), fn("a/b/c") for the normalized path "a/b/c" (nothing for "").
void for_each_prefix(const std::string& rel, const std::function<void(const std::string&)>& fn);

// A scan's counters, which its items update from many threads.
struct ScanCounters {
  std::atomic<uint64_t> dirs_done{0}, files{0};
  std::atomic<uint64_t> vanished{0};  // listed, then gone (removed while the scan ran): skipped
};

// Runs a scan's queue on `threads` threads, reporting progress about twice a second and at the
// end, then builds the sorted Index of the entries found under `top`.
Index finish_scan(WorkQueue& queue, size_t threads, const ScanOptions& opts, const ScanCounters& counters,
                  std::string top, std::vector<Index::Entry>& entries);

// A serialized handle: the backend's tag, then its fields, one a line (the last one may hold
// any bytes). decode_handle returns the fields, or throws EINVAL naming `what` when the blob
// is not `fields` fields under `tag`.
std::string encode_handle(const char* tag, const std::vector<std::string>& fields);
bool has_tag(const std::string& blob, const char* tag);
std::vector<std::string> decode_handle(const std::string& blob, const char* tag, size_t fields, const char* what);

}  // namespace pdt
