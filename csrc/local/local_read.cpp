// The local batch read: the calling thread and depth-1 pool threads pull pieces of the
// requests from an atomic counter, each an openat + pread straight into the caller's buffer
// (the open reused while a worker's pieces stay in one file).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>

#include "local/local_storage.h"
#include "paths.h"

namespace pdt::local {
namespace {

constexpr uint64_t kPieceBytes = 16ull << 20;  // large reads split for parallelism
constexpr uint64_t kDirectAlign = 4096;

// The last few parent directories a batch worker opened (O_PATH, confined). Files are then
// opened relative to their parent with openat(O_NOFOLLOW): a one-component lookup, cheaper
// than resolving the whole path, and still confined (the name has no '/', and a symbolic
// link as the last component takes the slow, checked road).
class DirFds {
 public:
  explicit DirFds(const LocalStorage& s) : s_(s) {}
  ~DirFds() {
    for (auto& e : slots_)
      if (e.fd >= 0) ::close(e.fd);
  }
  int get(std::string_view dir) {
    if (dir.empty()) return s_.container_fd();
    for (auto& e : slots_)
      if (e.fd >= 0 && e.dir == dir) return e.fd;
    Slot& e = slots_[next_++ % 4];
    if (e.fd >= 0) ::close(e.fd);
    e.fd = s_.open_beneath(dir, O_PATH | O_DIRECTORY);
    if (e.fd < 0) {
      int err = -e.fd;
      e.fd = -1;
      s_.fail(err, "read", dir);
    }
    e.dir.assign(dir);
    return e.fd;
  }

 private:
  struct Slot {
    std::string dir;
    int fd = -1;
  };
  const LocalStorage& s_;
  Slot slots_[4];
  unsigned next_ = 0;
};

// The file a batch worker read last, kept open: consecutive pieces of one file (a large
// read split, or many ranges of one file sorted together) open it once.
class LastFile {
 public:
  ~LastFile() { reset(); }
  int get(std::string_view rel, bool direct) const {
    return fd_ >= 0 && direct == direct_ && rel == rel_ ? fd_ : -1;
  }
  void keep(std::string_view rel, bool direct, int fd) {
    reset();
    rel_.assign(rel);
    direct_ = direct;
    fd_ = fd;
  }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::string rel_;
  bool direct_ = false;
  int fd_ = -1;
};

// Reads one piece with pread, looping over partial reads. Returns the bytes read.
uint64_t read_piece(const LocalStorage& s, bool direct_io, const ReadPiece& p, std::string_view rel, DirFds& dirs,
                    LastFile& last) {
  bool direct = direct_io && (reinterpret_cast<uintptr_t>(p.buf) % kDirectAlign) == 0 &&
                p.offset % kDirectAlign == 0 && p.length % kDirectAlign == 0;
  int kept = last.get(rel, direct);
  if (kept >= 0) return s.pread_full(kept, p.buf, p.length, p.offset, rel);
  auto [dir, base] = split_parent(rel);
  if (base.empty()) s.fail(EISDIR, "read", rel);
  int dfd = dirs.get(dir);
  char name[NAME_MAX + 1];  // no allocation per file
  if (base.size() > NAME_MAX) s.fail(ENAMETOOLONG, "read", rel);
  std::memcpy(name, base.data(), base.size());
  name[base.size()] = '\0';
  int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
  int fd = ::openat(dfd, name, flags | (direct ? O_DIRECT : 0));
  if (fd < 0 && direct && errno == EINVAL) fd = ::openat(dfd, name, flags);  // no O_DIRECT here
  if (fd < 0 && errno == ELOOP) {  // a symbolic link: resolve it confined to the container
    fd = s.open_beneath(rel, O_RDONLY);
    if (fd < 0) s.fail(-fd, "read", rel);
  } else if (fd < 0) {
    s.fail(errno, "read", rel);
  }
  last.keep(rel, direct, fd);  // closed by the next file or the end of the batch
  return s.pread_full(fd, p.buf, p.length, p.offset, rel);
}

}  // namespace

void LocalStorage::read_batch(std::vector<ReadRequest>& reqs, const BatchOptions& opts) {
  std::vector<std::string> owned;  // normalized copies when the caller's paths are raw
  std::vector<std::string_view> rels(reqs.size());
  if (opts.normalized) {
    for (size_t i = 0; i < reqs.size(); ++i) rels[i] = reqs[i].path;
  } else {
    owned.resize(reqs.size());
    for (size_t i = 0; i < reqs.size(); ++i) rels[i] = owned[i] = norm(reqs[i].path, "read");
  }
  size_t depth = opts.depth ? opts.depth : default_depth();
  std::vector<ReadPiece> pieces = split_pieces(reqs, kPieceBytes, depth);
  size_t workers = std::min(depth, pieces.size());
  // Workers take a few consecutive pieces at a time: neighbours in a sorted index share a
  // parent directory, which the worker then already holds open.
  size_t grain = std::max<size_t>(1, std::min<size_t>(8, pieces.size() / (workers * 8 + 1)));
  std::vector<std::atomic<uint64_t>> got(reqs.size());
  std::atomic<size_t> next{0};
  FirstError errors;
  std::atomic<bool> stop{false};

  auto work = [&](const InterruptCheck* interrupt) {
    DirFds dirs(*this);
    LastFile open_file;
    auto last_check = std::chrono::steady_clock::now();
    for (unsigned round = 0;; ++round) {
      if (stop.load(std::memory_order_relaxed)) return;
      if (interrupt && *interrupt && round % 16 == 0) {
        auto now = std::chrono::steady_clock::now();
        if (now - last_check > std::chrono::milliseconds(50)) {
          last_check = now;
          if ((*interrupt)()) {
            stop = true;
            throw Interrupted();
          }
        }
      }
      size_t first = next.fetch_add(grain, std::memory_order_relaxed);
      if (first >= pieces.size()) return;
      size_t last = std::min(pieces.size(), first + grain);
      for (size_t k = first; k < last && !stop.load(std::memory_order_relaxed); ++k) {
        try {
          const ReadPiece& p = pieces[k];
          got[p.request].fetch_add(read_piece(*this, cfg_.direct_io, p, rels[p.request], dirs, open_file),
                                   std::memory_order_relaxed);
        } catch (...) {
          errors.record(std::current_exception());
          stop = true;
        }
      }
    }
  };

  TaskGroup group;
  for (size_t w = 1; w < workers; ++w) group.spawn([&] { work(nullptr); });
  bool interrupted = false;
  try {
    work(&opts.interrupt);  // the calling thread is a worker too
  } catch (const Interrupted&) {
    interrupted = true;
  }
  group.wait(nullptr);
  errors.rethrow_if_failed();
  if (interrupted) throw Interrupted();
  for (size_t i = 0; i < reqs.size(); ++i) reqs[i].nread = got[i].load();
  name_.check_complete(reqs, [&](size_t i) { return rels[i]; });
}

}  // namespace pdt::local
