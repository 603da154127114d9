// An open local file: positioned reads and writes, writes in parallel on native threads,
// writeback started early, and its clean cached pages dropped on request.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "local/local_storage.h"
#include "paths.h"

namespace pdt::local {
namespace {

// cachestat(2), Linux 6.5+, has the same number on every architecture.
constexpr long kSysCachestat = 451;

struct CachestatRange {
  uint64_t off, len;
};
struct Cachestat {
  uint64_t cache, dirty, writeback, evicted, recently_evicted;
};

// Whether every cached page of fd is clean: cachestat(2) where the kernel has it; otherwise
// a file untouched for twice the kernel's dirty expiry counts as clean.
bool pages_clean(int fd) {
  static std::atomic<bool> no_cachestat{false};  // ENOSYS or a seccomp filter: not asked again
  if (!no_cachestat.load(std::memory_order_relaxed)) {
    CachestatRange range{0, 0};  // len 0: to the end of the file
    Cachestat cs{};
    if (::syscall(kSysCachestat, fd, &range, &cs, 0u) == 0) return cs.dirty == 0 && cs.writeback == 0;
    no_cachestat = true;
  }
  double expire_s = 30.0;
  if (FILE* f = std::fopen("/proc/sys/vm/dirty_expire_centisecs", "re")) {
    long cs = 0;
    if (std::fscanf(f, "%ld", &cs) == 1) expire_s = cs / 100.0;
    std::fclose(f);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return false;
  return std::difftime(std::time(nullptr), st.st_mtim.tv_sec) >= 2 * expire_s;
}

class LocalFile final : public File {
 public:
  LocalFile(const LocalStorage& s, std::string rel, Fd fd)
      : s_(s), rel_(std::move(rel)), display_(display_path(rel_)), fd_(std::move(fd)) {}
  const std::string& path() const override { return display_; }

  uint64_t read_at(char* buf, uint64_t len, uint64_t off, bool up_to) override {
    uint64_t n = s_.pread_full(fd(), buf, len, off, rel_);
    if (n < len && !up_to) s_.fail(EIO, "read", rel_, short_read_detail(n, len));
    return n;
  }

  void write_at(const char* buf, uint64_t len, uint64_t off) override {
    uint64_t done = 0;
    while (done < len) {
      ssize_t n = ::pwrite(fd(), buf + done, len - done, static_cast<off_t>(off + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        s_.fail(errno, "write", rel_);
      }
      done += static_cast<uint64_t>(n);
    }
  }

  void write_many(std::vector<WriteRequest>& reqs, const BatchOptions& opts) override {
    std::atomic<size_t> next{0};
    FirstError errors;
    auto work = [&] {
      for (size_t k; !errors.failed() && (k = next.fetch_add(1)) < reqs.size();) {
        try {
          write_at(reqs[k].buf, reqs[k].length, reqs[k].offset);
        } catch (...) {
          errors.record(std::current_exception());
        }
      }
    };
    size_t workers = std::min(opts.depth ? opts.depth : LocalStorage::default_depth(), reqs.size());
    TaskGroup group;
    for (size_t w = 0; w < workers; ++w) group.spawn(work);
    bool ok = group.wait(opts.interrupt);
    errors.rethrow_if_failed();
    if (!ok) throw Interrupted();
  }

  uint64_t size() override {
    struct stat st;
    if (::fstat(fd(), &st) != 0) s_.fail(errno, "stat", rel_);
    return static_cast<uint64_t>(st.st_size);
  }

  void truncate(uint64_t size) override {
    if (::ftruncate(fd(), static_cast<off_t>(size)) != 0) s_.fail(errno, "truncate", rel_);
  }

  void sync() override {
    if (::fsync(fd()) != 0) s_.fail(errno, "fsync", rel_);
  }

  bool start_writeback(uint64_t off, uint64_t len) override {
    // Errors are not fatal: the sync() before the commit still makes the data durable.
    return ::sync_file_range(fd(), static_cast<off_t>(off), static_cast<off_t>(len), SYNC_FILE_RANGE_WRITE) == 0;
  }

  bool drop_clean_cache() override {
    // Dirty pages are left alone: dropping them would start writing them out.
    int f = fd();
    return pages_clean(f) && ::posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED) == 0;
  }

  void close() override {
    int f = fd_.release();
    if (f >= 0 && ::close(f) != 0) s_.fail(errno, "close", rel_);
  }

 private:
  int fd() const {
    if (fd_.fd < 0) s_.fail(EBADF, "use", rel_, "file is closed");
    return fd_.fd;
  }

  const LocalStorage& s_;
  std::string rel_;
  std::string display_;
  Fd fd_;
};

}  // namespace

std::unique_ptr<File> open_file(const LocalStorage& s, std::string rel, Fd fd) {
  return std::make_unique<LocalFile>(s, std::move(rel), std::move(fd));
}

}  // namespace pdt::local
