#include "local/local_storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "paths.h"
#include "work_queue.h"

namespace pdt {
namespace {

constexpr uint64_t kPieceBytes = 16ull << 20;  // large reads split for parallelism
constexpr uint64_t kDirectAlign = 4096;

// Closes a descriptor at scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

FileInfo to_info(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_size), static_cast<uint32_t>(st.st_mode), mtime_ns(st)};
}

class LocalFile;

class LocalStorage final : public Storage {
 public:
  explicit LocalStorage(const LocalConfig& cfg) : cfg_(cfg) {
    ErrorContext ctx{"connect", cfg.pool, cfg.container, cfg.root};
    char resolved[PATH_MAX];
    if (!::realpath(cfg.root.c_str(), resolved))
      throw_errno(errno, ctx, "local root '" + cfg.root + "' not found");
    cfg_.root = resolved;
    std::string dir = cfg_.root;
    if (!cfg.pool.empty() || !cfg.container.empty()) {
      if (cfg.pool.empty() || cfg.container.empty())
        throw_errno(EINVAL, ctx, "give both a pool and a container, or neither (the root is the container)");
      for (const std::string* name : {&cfg.pool, &cfg.container})
        if (name->find('/') != std::string::npos || *name == "." || *name == "..")
          throw_errno(EINVAL, ctx, "invalid pool or container name '" + *name + "'");
      struct stat st;
      if (::stat((dir + "/" + cfg.pool).c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw_errno(ENOENT, ctx, "pool '" + cfg.pool + "' not found under local root '" + cfg_.root + "'");
      dir += "/" + cfg.pool + "/" + cfg.container;
      if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw_errno(ENOENT, ctx, "container '" + cfg.container + "' not found in pool '" + cfg.pool +
                                     "' under local root '" + cfg_.root + "'");
    }
    dirfd_ = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd_ < 0) throw_errno(errno, ctx, "cannot open container directory '" + dir + "'");
    dir_ = dir;
  }
  ~LocalStorage() override { disconnect(); }

  std::string backend() const override { return "local"; }
  const std::string& pool() const override { return cfg_.pool; }
  const std::string& container() const override { return cfg_.container; }
  bool read_only() const override { return cfg_.read_only; }
  std::string describe() const override { return "local:" + dir_; }

  ErrorContext ctx(const char* op, std::string_view path) const {
    return {op, cfg_.pool, cfg_.container, display_path(path)};
  }

  // normalize_path, with this container named in its errors.
  std::string norm(std::string_view path, const char* op) const {
    try {
      return normalize_path(path, op);
    } catch (const StorageError& e) {
      throw StorageError(e.err(), 0, {op, cfg_.pool, cfg_.container, std::string(path)}, e.detail());
    }
  }

  [[noreturn]] void fail(int err, const char* op, std::string_view path, std::string detail = {}) const {
    if (err == EXDEV) {
      err = EPERM;
      detail = "path escapes the container (through '..' or a symbolic link)";
    }
    throw_errno(err, ctx(op, path), detail);
  }

  int container_fd() const {
    if (dirfd_ < 0) throw_errno(EBADF, ctx("use", ""), "container is disconnected");
    return dirfd_;
  }

  // openat2 confined to the container; returns a descriptor or -errno.
  int open_beneath(std::string_view rel, int flags, mode_t mode = 0) const {
    struct open_how how = {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    std::string p = rel.empty() ? std::string(".") : std::string(rel);
    for (;;) {
      long fd = ::syscall(SYS_openat2, container_fd(), p.c_str(), &how, sizeof how);
      if (fd >= 0) return static_cast<int>(fd);
      if (errno != EINTR && errno != EAGAIN) return -errno;
    }
  }

  Fd open_or_throw(std::string_view rel, int flags, const char* op, mode_t mode = 0) const {
    int fd = open_beneath(rel, flags, mode);
    if (fd < 0) fail(-fd, op, rel);
    return Fd(fd);
  }

  // The parent directory of `rel` (opened O_PATH) and the last component.
  std::pair<Fd, std::string> open_parent(const std::string& rel, const char* op) const {
    auto [dir, base] = split_parent(rel);
    return {open_or_throw(dir, O_PATH | O_DIRECTORY, op), std::string(base)};
  }

  void check_writable(const char* op, std::string_view path) const {
    if (cfg_.read_only) fail(EPERM, op, path, "container was opened read-only");
  }

  FileInfo stat(const std::string& path) override {
    std::string rel = norm(path, "stat");
    Fd fd = open_or_throw(rel, O_PATH | O_NOFOLLOW, "stat");
    struct stat st;
    if (::fstat(fd.fd, &st) != 0) fail(errno, "stat", rel);
    return to_info(st);
  }

  std::unique_ptr<File> open(const std::string& path, const OpenOptions& o) override;

  // The last few parent directories a batch worker opened (O_PATH, confined). Files are
  // then opened relative to their parent with openat(O_NOFOLLOW): a one-component lookup,
  // cheaper than resolving the whole path, and still confined (the name has no '/', and a
  // symbolic link as the last component takes the slow, checked road).
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

  // Reads one piece with pread, looping over partial reads. Returns the bytes read.
  uint64_t read_piece(const ReadPiece& p, std::string_view rel, DirFds& dirs) const {
    bool direct = cfg_.direct_io && (reinterpret_cast<uintptr_t>(p.buf) % kDirectAlign) == 0 &&
                  p.offset % kDirectAlign == 0 && p.length % kDirectAlign == 0;
    auto [dir, base] = split_parent(rel);
    if (base.empty()) fail(EISDIR, "read", rel);
    int dfd = dirs.get(dir);
    char name[NAME_MAX + 1];  // no allocation per file
    if (base.size() > NAME_MAX) fail(ENAMETOOLONG, "read", rel);
    std::memcpy(name, base.data(), base.size());
    name[base.size()] = '\0';
    int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
    int fd = ::openat(dfd, name, flags | (direct ? O_DIRECT : 0));
    if (fd < 0 && direct && errno == EINVAL) fd = ::openat(dfd, name, flags);  // no O_DIRECT here
    if (fd < 0 && errno == ELOOP) {  // a symbolic link: resolve it confined to the container
      fd = open_beneath(rel, O_RDONLY);
      if (fd < 0) fail(-fd, "read", rel);
    } else if (fd < 0) {
      fail(errno, "read", rel);
    }
    Fd guard(fd);
    return pread_full(fd, p.buf, p.length, p.offset, rel);
  }

  uint64_t pread_full(int fd, char* buf, uint64_t len, uint64_t off, std::string_view rel) const {
    uint64_t done = 0;
    while (done < len) {
      ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(off + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(errno, "read", rel);
      }
      if (n == 0) break;
      done += static_cast<uint64_t>(n);
    }
    return done;
  }

  void read_batch(std::vector<ReadRequest>& reqs, const BatchOptions& opts) override {
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
            got[p.request].fetch_add(read_piece(p, rels[p.request], dirs), std::memory_order_relaxed);
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
    for (size_t i = 0; i < reqs.size(); ++i) {
      reqs[i].nread = got[i].load();
      if (reqs[i].nread < reqs[i].length && !reqs[i].up_to)
        fail(EIO, "read", rels[i],
             "short read: got " + std::to_string(reqs[i].nread) + " of " + std::to_string(reqs[i].length) +
                 " bytes at offset " + std::to_string(reqs[i].offset) + " (file truncated or smaller than expected)");
    }
  }


  static size_t default_depth() { return std::max<size_t>(2, cpu_count()); }

  void mkdirs(const std::string& path, uint32_t mode) override {
    std::string rel = norm(path, "mkdirs");
    check_writable("mkdirs", rel);
    size_t pos = 0;
    while (pos <= rel.size() && !rel.empty()) {
      size_t slash = rel.find('/', pos);
      if (slash == std::string::npos) slash = rel.size();
      std::string prefix = rel.substr(0, slash);
      auto [pfd, base] = open_parent(prefix, "mkdirs");
      if (::mkdirat(pfd.fd, base.c_str(), mode) != 0 && errno != EEXIST) fail(errno, "mkdirs", prefix);
      struct stat st;
      if (::fstatat(pfd.fd, base.c_str(), &st, 0) != 0) fail(errno, "mkdirs", prefix);
      if (!S_ISDIR(st.st_mode)) fail(ENOTDIR, "mkdirs", prefix, "exists and is not a directory");
      pos = slash + 1;
    }
  }

  void remove(const std::string& path, bool recursive) override {
    std::string rel = norm(path, "remove");
    check_writable("remove", rel);
    if (rel.empty()) fail(EPERM, "remove", rel, "cannot remove the container's root");
    remove_rel(rel, recursive);
  }

  void remove_rel(const std::string& rel, bool recursive) {
    auto [pfd, base] = open_parent(rel, "remove");
    if (::unlinkat(pfd.fd, base.c_str(), 0) == 0) return;
    if (errno != EISDIR && errno != EPERM) fail(errno, "remove", rel);
    if (::unlinkat(pfd.fd, base.c_str(), AT_REMOVEDIR) == 0) return;
    if ((errno == ENOTEMPTY || errno == EEXIST) && recursive) {
      for (auto& [name, is_dir] : listdir(rel)) remove_rel(join_path(rel, name), true);
      if (::unlinkat(pfd.fd, base.c_str(), AT_REMOVEDIR) == 0) return;
    }
    fail(errno, "remove", rel);
  }

  void rename(const std::string& from, const std::string& to) override {
    std::string a = norm(from, "rename"), b = norm(to, "rename");
    check_writable("rename", a);
    if (a.empty() || b.empty()) fail(EPERM, "rename", a, "cannot rename the container's root");
    auto [pa, na] = open_parent(a, "rename");
    auto [pb, nb] = open_parent(b, "rename");
    if (::renameat(pa.fd, na.c_str(), pb.fd, nb.c_str()) != 0)
      fail(errno, "rename", a, "to '" + display_path(b) + "': " + describe_errno(errno));
  }

  std::vector<std::pair<std::string, bool>> listdir(const std::string& path) override {
    std::string rel = norm(path, "listdir");
    Fd fd = open_or_throw(rel, O_RDONLY | O_DIRECTORY, "listdir");
    std::vector<std::pair<std::string, bool>> out;
    for_each_entry(fd, rel, [&](const char* name, unsigned char type, int dfd) {
      bool is_dir = type == DT_DIR;
      if (type == DT_UNKNOWN) {
        struct stat st;
        is_dir = ::fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      }
      out.emplace_back(name, is_dir);
    });
    std::sort(out.begin(), out.end());
    return out;
  }

  // Calls fn(name, d_type, dir_fd) for each entry but "." and "..". Takes ownership of fd.
  template <typename Fn>
  void for_each_entry(Fd& fd, std::string_view rel, Fn&& fn) const {
    DIR* d = ::fdopendir(fd.fd);
    if (!d) fail(errno, "readdir", rel);
    fd.release();
    int dfd = ::dirfd(d);
    for (;;) {
      errno = 0;
      struct dirent* e = ::readdir(d);
      if (!e) {
        int err = errno;
        ::closedir(d);
        if (err) fail(err, "readdir", rel);
        return;
      }
      const char* n = e->d_name;
      if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
      fn(n, e->d_type, dfd);
    }
  }

  Index scan(const std::string& path, const ScanOptions& opts) override {
    std::string top = norm(path, "scan");
    {
      Fd probe = open_or_throw(top, O_PATH, "scan");
      struct stat st;
      if (::fstat(probe.fd, &st) != 0) fail(errno, "scan", top);
      if (!S_ISDIR(st.st_mode)) fail(ENOTDIR, "scan", top);
    }
    std::mutex mu;
    std::vector<Index::Entry> entries;
    std::atomic<uint64_t> dirs_done{0}, files{0};

    std::function<void(WorkQueue&, std::string)> scan_dir = [&](WorkQueue& q, std::string rel_dir) {
      std::string abs_dir = join_path(top, rel_dir);
      Fd fd = open_or_throw(abs_dir, O_RDONLY | O_DIRECTORY, "scan");
      std::vector<Index::Entry> local;
      for_each_entry(fd, abs_dir, [&](const char* name, unsigned char type, int dfd) {
        struct stat st;
        if (type == DT_UNKNOWN || type == DT_REG) {
          if (::fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) fail(errno, "scan", join_path(abs_dir, name));
          type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
        }
        if (type == DT_DIR) {
          std::string sub = join_path(rel_dir, name);
          q.push([&scan_dir, sub](WorkQueue& q2) { scan_dir(q2, sub); });
        } else if (type == DT_REG) {
          local.push_back({join_path(rel_dir, name), static_cast<uint64_t>(st.st_size)});
        }
      });
      files += local.size();
      ++dirs_done;
      std::lock_guard<std::mutex> lock(mu);
      if (entries.empty()) entries = std::move(local);
      else entries.insert(entries.end(), std::make_move_iterator(local.begin()), std::make_move_iterator(local.end()));
    };

    WorkQueue queue;
    queue.push([&scan_dir](WorkQueue& q) { scan_dir(q, ""); });
    size_t threads = opts.threads ? opts.threads : std::min<size_t>(16, 2 * cpu_count());
    auto last = std::chrono::steady_clock::now();
    queue.run(threads, [&] {
      auto now = std::chrono::steady_clock::now();
      if (opts.progress && now - last > std::chrono::milliseconds(500)) {
        last = now;
        opts.progress(dirs_done.load(), files.load());
      }
      return opts.interrupt && opts.interrupt();
    });
    if (opts.progress) opts.progress(dirs_done.load(), files.load());
    return Index::build(top, std::move(entries));
  }

  std::string serialize_handle() override {
    container_fd();
    std::string blob = kLocalBlobTag;
    for (const std::string* s : {&cfg_.root, &cfg_.pool, &cfg_.container}) blob += '\n' + *s;
    blob += cfg_.read_only ? "\nro" : "\nrw";
    blob += cfg_.direct_io ? "\ndirect" : "\nbuffered";
    return blob;
  }

  void disconnect() override {
    if (dirfd_ >= 0) ::close(dirfd_);
    dirfd_ = -1;
  }

 private:
  LocalConfig cfg_;
  std::string dir_;
  int dirfd_ = -1;
};

class LocalFile final : public File {
 public:
  LocalFile(const LocalStorage& s, std::string rel, Fd fd) : s_(s), rel_(std::move(rel)), fd_(std::move(fd)) {
    display_ = display_path(rel_);
  }
  const std::string& path() const override { return display_; }

  int fd() const {
    if (fd_.fd < 0) s_.fail(EBADF, "use", rel_, "file is closed");
    return fd_.fd;
  }

  uint64_t read_at(char* buf, uint64_t len, uint64_t off, bool up_to) override {
    uint64_t n = s_.pread_full(fd(), buf, len, off, rel_);
    if (n < len && !up_to)
      s_.fail(EIO, "read", rel_, "short read: got " + std::to_string(n) + " of " + std::to_string(len) + " bytes");
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

  void close() override {
    int f = fd_.release();
    if (f >= 0 && ::close(f) != 0) s_.fail(errno, "close", rel_);
  }

 private:
  const LocalStorage& s_;
  std::string rel_;
  std::string display_;
  Fd fd_;
};

std::unique_ptr<File> LocalStorage::open(const std::string& path, const OpenOptions& o) {
  std::string rel = norm(path, "open");
  if (rel.empty()) fail(EISDIR, "open", rel);
  int flags = O_RDONLY;
  if (o.write) {
    check_writable("open", rel);
    flags = O_RDWR | (o.create ? O_CREAT : 0) | (o.truncate ? O_TRUNC : 0) | (o.exclusive ? O_EXCL : 0);
  }
  Fd fd = open_or_throw(rel, flags, "open", o.mode);
  struct stat st;
  if (::fstat(fd.fd, &st) != 0) fail(errno, "open", rel);
  if (S_ISDIR(st.st_mode)) fail(EISDIR, "open", rel);
  return std::make_unique<LocalFile>(*this, rel, std::move(fd));
}

}  // namespace

std::unique_ptr<Storage> make_local_storage(const LocalConfig& cfg) { return std::make_unique<LocalStorage>(cfg); }

std::unique_ptr<Storage> attach_local_storage(const std::string& blob) {
  std::vector<std::string> f;
  size_t pos = 0;
  while (pos <= blob.size()) {
    size_t nl = blob.find('\n', pos);
    if (nl == std::string::npos) nl = blob.size();
    f.push_back(blob.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (f.size() != 6 || f[0] != kLocalBlobTag)
    throw_errno(EINVAL, {"attach", "", "", ""}, "not a serialized local container handle");
  LocalConfig cfg{f[1], f[2], f[3], f[4] == "ro", f[5] == "direct"};
  return make_local_storage(cfg);
}

}  // namespace pdt
