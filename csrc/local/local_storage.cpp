#include "local/local_storage.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "paths.h"

namespace pdt::local {
namespace {

FileInfo to_info(const struct stat& st) {
  int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return {static_cast<uint64_t>(st.st_size), static_cast<uint32_t>(st.st_mode), mtime};
}

}  // namespace

Fd::~Fd() {
  if (fd >= 0) ::close(fd);
}

LocalStorage::LocalStorage(const Config& cfg) : cfg_(cfg), name_(cfg.pool, cfg.container, cfg.read_only) {
  ErrorContext ctx{"connect", cfg.pool, cfg.container, cfg.root};
  char resolved[PATH_MAX];
  if (!::realpath(cfg.root.c_str(), resolved)) throw_errno(errno, ctx, "local root '" + cfg.root + "' not found");
  cfg_.root = resolved;
  std::string dir = cfg_.root;
  if (!cfg.pool.empty() || !cfg.container.empty()) {
    if (cfg.pool.empty() || cfg.container.empty())
      throw_errno(EINVAL, ctx, "give both a pool and a container, or neither (the root is the container)");
    for (const std::string* n : {&cfg.pool, &cfg.container})
      if (n->find('/') != std::string::npos || *n == "." || *n == "..")
        throw_errno(EINVAL, ctx, "invalid pool or container name '" + *n + "'");
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
  profile_ = local_profile(dirfd_);
}

void LocalStorage::fail(int err, const char* op, std::string_view path, std::string detail) const {
  if (err == EXDEV) {
    err = EPERM;
    detail = "path escapes the container (through '..' or a symbolic link)";
  }
  throw_errno(err, name_.ctx(op, path), detail);
}

int LocalStorage::container_fd() const {
  if (dirfd_ < 0) throw_errno(EBADF, name_.ctx("use", ""), "container is disconnected");
  return dirfd_;
}

int LocalStorage::open_beneath(std::string_view rel, int flags, mode_t mode) const {
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

Fd LocalStorage::open_or_throw(std::string_view rel, int flags, const char* op, mode_t mode) const {
  int fd = open_beneath(rel, flags, mode);
  if (fd < 0) fail(-fd, op, rel);
  return Fd(fd);
}

std::pair<Fd, std::string> LocalStorage::open_parent(const std::string& rel, const char* op) const {
  auto [dir, base] = split_parent(rel);
  return {open_or_throw(dir, O_PATH | O_DIRECTORY, op), std::string(base)};
}

uint64_t LocalStorage::pread_full(int fd, char* buf, uint64_t len, uint64_t off, std::string_view rel) const {
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

size_t LocalStorage::default_depth() { return std::max<size_t>(2, cpu_count()); }

FileInfo LocalStorage::stat(const std::string& path) {
  std::string rel = norm(path, "stat");
  Fd fd = open_or_throw(rel, O_PATH | O_NOFOLLOW, "stat");
  struct stat st;
  if (::fstat(fd.fd, &st) != 0) fail(errno, "stat", rel);
  return to_info(st);
}

std::unique_ptr<File> LocalStorage::open(const std::string& path, const OpenOptions& o) {
  std::string rel = norm(path, "open");
  if (rel.empty()) fail(EISDIR, "open", rel);
  int flags = O_RDONLY;
  if (o.write) {
    name_.check_writable("open", rel);
    flags = O_RDWR | (o.create ? O_CREAT : 0) | (o.truncate ? O_TRUNC : 0) | (o.exclusive ? O_EXCL : 0);
  }
  Fd fd = open_or_throw(rel, flags, "open", o.mode);
  struct stat st;
  if (::fstat(fd.fd, &st) != 0) fail(errno, "open", rel);
  if (S_ISDIR(st.st_mode)) fail(EISDIR, "open", rel);
  return open_file(*this, rel, std::move(fd));
}

void LocalStorage::mkdirs(const std::string& path, uint32_t mode) {
  std::string rel = norm(path, "mkdirs");
  name_.check_writable("mkdirs", rel);
  for_each_prefix(rel, [&](const std::string& prefix) {
    auto [pfd, base] = open_parent(prefix, "mkdirs");
    if (::mkdirat(pfd.fd, base.c_str(), mode) != 0 && errno != EEXIST) fail(errno, "mkdirs", prefix);
    struct stat st;
    if (::fstatat(pfd.fd, base.c_str(), &st, 0) != 0) fail(errno, "mkdirs", prefix);
    if (!S_ISDIR(st.st_mode)) fail(ENOTDIR, "mkdirs", prefix, "exists and is not a directory");
  });
}

void LocalStorage::remove(const std::string& path, bool recursive) {
  std::string rel = norm(path, "remove");
  name_.check_writable("remove", rel);
  if (rel.empty()) fail(EPERM, "remove", rel, "cannot remove the container's root");
  remove_rel(rel, recursive);
}

void LocalStorage::remove_rel(const std::string& rel, bool recursive) {
  auto [pfd, base] = open_parent(rel, "remove");
  if (::unlinkat(pfd.fd, base.c_str(), 0) == 0) return;
  if (errno != EISDIR && errno != EPERM) fail(errno, "remove", rel);
  if (::unlinkat(pfd.fd, base.c_str(), AT_REMOVEDIR) == 0) return;
  if ((errno == ENOTEMPTY || errno == EEXIST) && recursive) {
    for (auto& [n, is_dir] : listdir(rel)) remove_rel(join_path(rel, n), true);
    if (::unlinkat(pfd.fd, base.c_str(), AT_REMOVEDIR) == 0) return;
  }
  fail(errno, "remove", rel);
}

void LocalStorage::rename(const std::string& from, const std::string& to) {
  std::string a = norm(from, "rename"), b = norm(to, "rename");
  name_.check_writable("rename", a);
  if (a.empty() || b.empty()) fail(EPERM, "rename", a, "cannot rename the container's root");
  auto [pa, na] = open_parent(a, "rename");
  auto [pb, nb] = open_parent(b, "rename");
  if (::renameat(pa.fd, na.c_str(), pb.fd, nb.c_str()) != 0)
    fail(errno, "rename", a, "to '" + display_path(b) + "': " + describe_errno(errno));
}

bool LocalStorage::keep_as(const std::string& from, const std::string& to) {
  std::string a = norm(from, "keep_as"), b = norm(to, "keep_as");
  name_.check_writable("keep_as", b);
  if (a.empty() || b.empty()) fail(EPERM, "keep_as", a, "the container's root is not a file");
  auto [pa, na] = open_parent(a, "keep_as");
  auto [pb, nb] = open_parent(b, "keep_as");
  // flags 0: a symbolic link `from` is linked itself, never followed out of the container
  if (::linkat(pa.fd, na.c_str(), pb.fd, nb.c_str(), 0) != 0)
    fail(errno, "keep_as", a, "as '" + display_path(b) + "': " + describe_errno(errno));
  return true;
}

std::vector<std::pair<std::string, bool>> LocalStorage::listdir(const std::string& path) {
  std::string rel = norm(path, "listdir");
  Fd fd = open_or_throw(rel, O_RDONLY | O_DIRECTORY, "listdir");
  std::vector<std::pair<std::string, bool>> out;
  for_each_entry(fd, rel, [&](const char* n, unsigned char type, int dfd) {
    bool is_dir = type == DT_DIR;
    if (type == DT_UNKNOWN) {
      struct stat st;
      is_dir = ::fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    out.emplace_back(n, is_dir);
  });
  std::sort(out.begin(), out.end());
  return out;
}

std::string LocalStorage::serialize_handle() {
  container_fd();
  return encode_handle(kHandleTag, {cfg_.root, cfg_.pool, cfg_.container, cfg_.read_only ? "ro" : "rw",
                                    cfg_.direct_io ? "direct" : "buffered"});
}

void LocalStorage::disconnect() {
  if (dirfd_ >= 0) ::close(dirfd_);
  dirfd_ = -1;
}

std::unique_ptr<Storage> connect(const Config& cfg) { return std::make_unique<LocalStorage>(cfg); }

bool is_handle(const std::string& blob) { return has_tag(blob, kHandleTag); }

std::unique_ptr<Storage> attach(const std::string& blob) {
  auto f = decode_handle(blob, kHandleTag, 5, "local");
  return connect({f[0], f[1], f[2], f[3] == "ro", f[4] == "direct"});
}

}  // namespace pdt::local
