// The local backend's classes (private to local/; the public face is local.h).
//
// Confinement: every path is opened relative to the container's directory descriptor with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so neither ".." nor a symbolic link can
// reach outside the container (the kernel answers EXDEV, reported as PermissionError).
#pragma once
#include <dirent.h>
#include <sys/types.h>

#include <cerrno>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "backend_common.h"
#include "local/local.h"

namespace pdt::local {

constexpr char kHandleTag[] = "PDTLOCAL1";

// Closes a descriptor at scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  ~Fd();
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

class LocalStorage final : public Storage {
 public:
  explicit LocalStorage(const Config& cfg);
  ~LocalStorage() override { disconnect(); }

  std::string backend() const override { return "local"; }
  const std::string& pool() const override { return name_.pool(); }
  const std::string& container() const override { return name_.container(); }
  bool read_only() const override { return name_.read_only(); }
  std::string describe() const override { return "local:" + dir_; }
  const IoProfile& profile() const override { return profile_; }

  FileInfo stat(const std::string& path) override;
  std::unique_ptr<File> open(const std::string& path, const OpenOptions& o) override;
  void read_batch(std::vector<ReadRequest>& reqs, const BatchOptions& opts) override;  // local_read.cpp
  void mkdirs(const std::string& path, uint32_t mode) override;
  void remove(const std::string& path, bool recursive) override;
  void rename(const std::string& from, const std::string& to) override;
  bool keep_as(const std::string& from, const std::string& to) override;
  std::vector<std::pair<std::string, bool>> listdir(const std::string& path) override;
  Index scan(const std::string& path, const ScanOptions& opts) override;  // local_scan.cpp
  std::string serialize_handle() override;
  void disconnect() override;

  // Used by LocalFile, the batch read and the scan.
  const ContainerName& name() const { return name_; }
  std::string norm(std::string_view path, const char* op) const { return name_.norm(path, op); }
  [[noreturn]] void fail(int err, const char* op, std::string_view path, std::string detail = {}) const;
  int container_fd() const;
  // openat2 confined to the container; returns a descriptor or -errno.
  int open_beneath(std::string_view rel, int flags, mode_t mode = 0) const;
  Fd open_or_throw(std::string_view rel, int flags, const char* op, mode_t mode = 0) const;
  // The parent directory of `rel` (opened O_PATH) and the last component.
  std::pair<Fd, std::string> open_parent(const std::string& rel, const char* op) const;
  uint64_t pread_full(int fd, char* buf, uint64_t len, uint64_t off, std::string_view rel) const;
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
  static size_t default_depth();

 private:
  void remove_rel(const std::string& rel, bool recursive);

  Config cfg_;
  ContainerName name_;
  std::string dir_;
  int dirfd_ = -1;
  IoProfile profile_;
};

std::unique_ptr<File> open_file(const LocalStorage& s, std::string rel, Fd fd);  // local_file.cpp

}  // namespace pdt::local
