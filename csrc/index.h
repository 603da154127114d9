// The compact result of a namespace scan: every file's path (relative to the scanned root)
// packed into one buffer, plus offsets and sizes. 16 bytes per entry plus the path bytes,
// sorted by path bytes so every rank and worker sees the same order. Lives in native memory,
// so forked DataLoader workers share its pages without Python refcount writes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "requests.h"

namespace pdt {

class Index {
 public:
  struct Entry {
    std::string path;  // relative to root, normalized
    uint64_t size;
  };

  Index() : offsets_{0} {}
  // Sorts the entries by path bytes; duplicate paths are an error (EINVAL).
  static Index build(std::string root, std::vector<Entry> entries);

  size_t size() const { return sizes_.size(); }
  const std::string& root() const { return root_; }
  // Entries the scan that made this index found listed but gone when it looked at them
  // (removed while it ran): skipped, and counted here. Not serialized.
  uint64_t vanished() const { return vanished_; }
  void set_vanished(uint64_t n) { vanished_ = n; }
  std::string_view path(size_t i) const {
    return std::string_view(paths_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  uint64_t file_size(size_t i) const { return sizes_[i]; }
  std::string full_path(size_t i) const;  // root joined with path(i), container-relative
  uint64_t total_bytes() const;
  size_t memory_bytes() const;  // heap bytes held by this index
  // Position of `path` (relative to root), or -1.
  int64_t find(std::string_view path) const;
  // find() of paths[0..n) into out[0..n) (-1 for a path not in the index).
  void find_many(const std::string_view* paths, size_t n, int64_t* out) const;
  // The entries under directory `prefix` (relative to root, normalized; "" = all): a
  // contiguous range [first, last), since entries are sorted by path bytes.
  std::pair<size_t, size_t> prefix_range(std::string_view prefix) const;

  // Sample indices -> index entries (through `order` when it is not null; negative indices
  // count from the end of the `samples` samples), filled into `entries`. Returns their total
  // bytes. Throws std::out_of_range naming an index out of range.
  uint64_t select(const int64_t* indices, size_t n, const int64_t* order, size_t samples, int64_t* entries) const;
  // The batch read of entries [entries, entries + n) back to back into out[0, out_size):
  // fills offsets[0..n] (entry k at offsets[k]; offsets[n] = the end). Paths come normalized
  // (BatchOptions::normalized). Throws std::out_of_range for an entry out of range and
  // std::invalid_argument when `out` is too small.
  std::vector<ReadRequest> plan_reads(const int64_t* entries, size_t n, char* out, uint64_t out_size,
                                      int64_t* offsets) const;

  const uint64_t* sizes_data() const { return sizes_.data(); }
  const uint64_t* offsets_data() const { return offsets_.data(); }
  const char* paths_data() const { return paths_.data(); }
  size_t paths_bytes() const { return paths_.size(); }

  // A self-describing binary form (for a manifest file or a broadcast to other ranks).
  std::string serialize() const;
  static Index deserialize(std::string_view bytes, const std::string& what);
  // save() writes atomically (temporary + rename). load() takes the binary form or a text
  // manifest: one "SIZE<TAB>PATH" line per file, optional "# root: ROOT" line.
  void save(const std::string& file) const;
  static Index load(const std::string& file);

 private:
  std::string root_;
  std::string paths_;
  std::vector<uint64_t> offsets_;  // size() + 1 entries
  std::vector<uint64_t> sizes_;
  uint64_t vanished_ = 0;
};

}  // namespace pdt
