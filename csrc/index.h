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
  std::string_view path(size_t i) const {
    return std::string_view(paths_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  uint64_t file_size(size_t i) const { return sizes_[i]; }
  std::string full_path(size_t i) const;  // root joined with path(i), container-relative
  uint64_t total_bytes() const;
  size_t memory_bytes() const;  // heap bytes held by this index
  // Position of `path` (relative to root), or -1.
  int64_t find(std::string_view path) const;

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
};

}  // namespace pdt
