#include "index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "errors.h"
#include "paths.h"

namespace pdt {
namespace {

constexpr char kMagic[8] = {'P', 'D', 'T', 'I', 'D', 'X', '0', '1'};

void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }

struct Reader {
  std::string_view in;
  const std::string& what;
  size_t pos = 0;
  [[noreturn]] void corrupt(const char* why) const {
    throw_errno(EINVAL, {"load index", "", "", what}, std::string("index data is corrupt or truncated: ") + why);
  }
  uint64_t u64() {
    if (in.size() - pos < 8) corrupt("header");
    uint64_t v;
    std::memcpy(&v, in.data() + pos, 8);
    pos += 8;
    return v;
  }
  std::string_view bytes(uint64_t n) {
    if (n > in.size() - pos) corrupt("payload");
    auto v = in.substr(pos, n);
    pos += n;
    return v;
  }
};

std::string read_file(const std::string& file) {
  ErrorContext ctx{"load index", "", "", file};
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno(errno, ctx);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw_errno(e, ctx);
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      ::close(fd);
      throw_errno(e, ctx, n < 0 ? "" : "file shrank while reading");
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return data;
}

Index parse_text(const std::string& data, const std::string& file) {
  std::string root;
  std::vector<Index::Entry> entries;
  size_t pos = 0, line_no = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    std::string_view line(data.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    if (line[0] == '#') {
      constexpr std::string_view key = "# root:";
      if (line.substr(0, key.size()) == key) {
        auto r = line.substr(key.size());
        while (!r.empty() && r.front() == ' ') r.remove_prefix(1);
        root = normalize_path(r, "load manifest");
      }
      continue;
    }
    size_t tab = line.find('\t');
    uint64_t size = 0;
    bool ok = tab != std::string_view::npos && tab > 0;
    for (size_t i = 0; ok && i < tab; ++i) {
      if (line[i] < '0' || line[i] > '9') ok = false;
      else size = size * 10 + static_cast<uint64_t>(line[i] - '0');
    }
    if (!ok)
      throw_errno(EINVAL, {"load manifest", "", "", file},
                  "line " + std::to_string(line_no) + " is not 'SIZE<TAB>PATH'");
    entries.push_back({normalize_path(line.substr(tab + 1), "load manifest"), size});
  }
  return Index::build(root, std::move(entries));
}

}  // namespace

Index Index::build(std::string root, std::vector<Entry> entries) {
  // Paths are normalized once here, so batch reads from an index can trust them.
  root = normalize_path(root, "build index");
  for (auto& e : entries) {
    e.path = normalize_path(e.path, "build index");
    if (e.path.empty()) throw_errno(EINVAL, {"build index", "", "", root}, "empty path in index");
  }
  std::vector<uint32_t> order(entries.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return entries[a].path < entries[b].path; });
  Index idx;
  idx.root_ = std::move(root);
  size_t total = 0;
  for (const auto& e : entries) total += e.path.size();
  idx.paths_.reserve(total);
  idx.offsets_.reserve(entries.size() + 1);
  idx.sizes_.reserve(entries.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const Entry& e = entries[order[k]];
    if (k > 0 && e.path == entries[order[k - 1]].path)
      throw_errno(EINVAL, {"build index", "", "", e.path}, "duplicate path in index");
    idx.paths_ += e.path;
    idx.offsets_.push_back(idx.paths_.size());
    idx.sizes_.push_back(e.size);
  }
  return idx;
}

std::string Index::full_path(size_t i) const { return join_path(root_, path(i)); }

uint64_t Index::total_bytes() const {
  return std::accumulate(sizes_.begin(), sizes_.end(), uint64_t{0});
}

size_t Index::memory_bytes() const {
  return paths_.capacity() + root_.capacity() + offsets_.capacity() * 8 + sizes_.capacity() * 8;
}

int64_t Index::find(std::string_view p) const {
  size_t lo = 0, hi = size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (path(mid) < p) lo = mid + 1;
    else hi = mid;
  }
  return (lo < size() && path(lo) == p) ? static_cast<int64_t>(lo) : -1;
}

void Index::find_many(const std::string_view* paths, size_t n, int64_t* out) const {
  for (size_t k = 0; k < n; ++k) out[k] = find(paths[k]);
}

std::pair<size_t, size_t> Index::prefix_range(std::string_view prefix) const {
  if (prefix.empty()) return {0, size()};
  // Paths under "a/b" start with "a/b/": contiguous in byte order, just before "a/b0"
  // ('0' follows '/').
  std::string lo(prefix), hi(prefix);
  lo += '/';
  hi += static_cast<char>('/' + 1);
  auto lower_bound = [this](std::string_view key) {
    size_t a = 0, b = size();
    while (a < b) {
      size_t mid = (a + b) / 2;
      if (path(mid) < key) a = mid + 1;
      else b = mid;
    }
    return a;
  };
  return {lower_bound(lo), lower_bound(hi)};
}

uint64_t Index::select(const int64_t* indices, size_t n, const int64_t* order, size_t samples,
                       int64_t* entries) const {
  const int64_t count = static_cast<int64_t>(samples);
  uint64_t total = 0;
  for (size_t k = 0; k < n; ++k) {
    int64_t i = indices[k];
    if (i < -count || i >= count)
      throw std::out_of_range("sample index " + std::to_string(i) + " out of range for a dataset of " +
                              std::to_string(count));
    if (i < 0) i += count;
    int64_t e = order ? order[i] : i;
    if (e < 0 || static_cast<size_t>(e) >= size())
      throw std::out_of_range("index entry " + std::to_string(e) + " out of range");
    entries[k] = e;
    total += file_size(static_cast<size_t>(e));
  }
  return total;
}

std::vector<ReadRequest> Index::plan_reads(const int64_t* entries, size_t n, char* out, uint64_t out_size,
                                           int64_t* offsets) const {
  std::vector<ReadRequest> reqs(n);
  uint64_t cursor = 0;
  for (size_t k = 0; k < n; ++k) {
    int64_t i = entries[k];
    if (i < 0 || static_cast<size_t>(i) >= size())
      throw std::out_of_range("index entry " + std::to_string(i) + " out of range");
    offsets[k] = static_cast<int64_t>(cursor);
    uint64_t len = file_size(static_cast<size_t>(i));
    if (cursor + len > out_size)
      throw std::invalid_argument("output buffer too small: " + std::to_string(out_size) + " bytes for a batch of " +
                                  "at least " + std::to_string(cursor + len));
    reqs[k].path = full_path(static_cast<size_t>(i));
    reqs[k].length = len;
    reqs[k].buf = out + cursor;
    cursor += len;
  }
  offsets[n] = static_cast<int64_t>(cursor);
  return reqs;
}

std::string Index::serialize() const {
  std::string out;
  out.reserve(48 + root_.size() + paths_.size() + 16 * size());
  out.append(kMagic, 8);
  put_u64(out, size());
  put_u64(out, root_.size());
  put_u64(out, paths_.size());
  out += root_;
  out.append(reinterpret_cast<const char*>(offsets_.data()), offsets_.size() * 8);
  out.append(reinterpret_cast<const char*>(sizes_.data()), sizes_.size() * 8);
  out += paths_;
  return out;
}

Index Index::deserialize(std::string_view bytes, const std::string& what) {
  Reader r{bytes, what};
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0) r.corrupt("bad magic");
  r.pos = 8;
  uint64_t n = r.u64(), root_len = r.u64(), paths_len = r.u64();
  if (n > bytes.size() / 16) r.corrupt("entry count");
  Index idx;
  idx.root_ = std::string(r.bytes(root_len));
  auto offs = r.bytes((n + 1) * 8);
  auto sizes = r.bytes(n * 8);
  idx.paths_ = std::string(r.bytes(paths_len));
  if (r.pos != bytes.size()) r.corrupt("trailing bytes");
  idx.offsets_.resize(n + 1);
  idx.sizes_.resize(n);
  std::memcpy(idx.offsets_.data(), offs.data(), offs.size());
  std::memcpy(idx.sizes_.data(), sizes.data(), sizes.size());
  if (idx.offsets_[0] != 0 || idx.offsets_[n] != paths_len) r.corrupt("offsets");
  for (size_t i = 0; i < n; ++i)
    if (idx.offsets_[i] > idx.offsets_[i + 1]) r.corrupt("offsets");
  // Paths must be normalized container paths (batch reads trust them): refuse "..", "//"...
  auto normalized = [](std::string_view p) {  // "" (the root) counts as normalized
    if (p.empty()) return true;
    if (p.front() == '/' || p.back() == '/' || p.find("//") != std::string_view::npos) return false;
    size_t i = 0;
    while (i <= p.size()) {
      size_t j = p.find('/', i);
      if (j == std::string_view::npos) j = p.size();
      std::string_view part = p.substr(i, j - i);
      if (part == "." || part == ".." || part.find('\0') != std::string_view::npos) return false;
      i = j + 1;
    }
    return true;
  };
  if (!normalized(idx.root_)) r.corrupt("root is not a normalized container path");
  for (size_t i = 0; i < n; ++i)
    if (idx.path(i).empty() || !normalized(idx.path(i))) r.corrupt("a path is not a normalized container path");
  return idx;
}

void Index::save(const std::string& file) const {
  ErrorContext ctx{"save index", "", "", file};
  std::string data = serialize();
  std::string tmp = file + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno(errno, ctx);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw_errno(e, ctx);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw_errno(e, ctx);
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw_errno(e, ctx);
  }
}

Index Index::load(const std::string& file) {
  std::string data = read_file(file);
  // An empty file is a failed or truncated write, not an empty data set (a text manifest of
  // no files still has to be written deliberately: save an empty Index, which has a header).
  if (data.empty()) throw_errno(EINVAL, {"load manifest", "", "", file}, "the manifest file is empty (0 bytes)");
  if (data.size() >= 8 && std::memcmp(data.data(), kMagic, 8) == 0) return deserialize(data, file);
  return parse_text(data, file);
}

}  // namespace pdt
