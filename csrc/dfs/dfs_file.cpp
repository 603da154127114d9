// An open DFS file: positioned reads and writes through the event queue.
#include <fcntl.h>

#include <cerrno>

#include "dfs/dfs_storage.h"
#include "paths.h"

namespace pdt {
namespace {

class DfsFile final : public File {
 public:
  DfsFile(DfsStorage& s, std::string rel, daos::dfs_obj_t* obj, dfsmounts::MountRef mount)
      : s_(s), rel_(std::move(rel)), obj_(obj), user_(std::move(mount)) {
    display_ = display_path(rel_);
  }
  ~DfsFile() override {
    if (obj_) s_.api().dfs_release(obj_);
  }
  const std::string& path() const override { return display_; }

  daos::dfs_obj_t* obj() const {
    if (!obj_) s_.fail(EBADF, "use", rel_, "file is closed");
    return obj_;
  }

  // Runs ops through the storage's event queue; returns total bytes done.
  uint64_t run(std::vector<IoOp>& ops, const char* op_name, const BatchOptions& opts) {
    size_t next = 0;
    uint64_t total = 0;
    FirstError errors;
    DfsStorage::IoSource src;
    src.next = [&]() -> IoOp* { return next < ops.size() ? &ops[next++] : nullptr; };
    src.more = [&] { return next < ops.size(); };
    src.wait = [] {};
    src.done = [&](IoOp& op) {
      if (op.err)
        errors.record(std::make_exception_ptr(s_.error(op.err, op_name, rel_, op.detail, op.der)));
      total += op.done;
    };
    s_.run_io(src, opts.depth ? opts.depth : DfsStorage::default_depth(), opts.interrupt, errors);
    errors.rethrow_if_failed();
    return total;
  }

  std::vector<IoOp> chunk(char* buf, uint64_t len, uint64_t off, bool write) {
    std::vector<IoOp> ops;
    const uint64_t piece = s_.profile().piece_size;
    for (uint64_t done = 0; done < len || ops.empty(); done += piece) {
      uint64_t n = std::min(piece, len - done);
      ops.push_back(IoOp{obj(), buf + done, n, off + done, write, ops.size()});
      ops.back().path = rel_;
      if (n == 0) break;
    }
    return ops;
  }

  uint64_t read_at(char* buf, uint64_t len, uint64_t off, bool up_to) override {
    if (len == 0) return 0;
    auto ops = chunk(buf, len, off, false);
    run(ops, "read", {});
    uint64_t n = 0;  // bytes up to the first short piece: the end of the file
    for (const auto& op : ops) {
      n += op.done;
      if (op.done < op.length) break;
    }
    if (n < len && !up_to)
      s_.fail(EIO, "read", rel_, short_read_detail(n, len));
    return n;
  }

  void write_at(const char* buf, uint64_t len, uint64_t off) override {
    if (len == 0) return;
    auto ops = chunk(const_cast<char*>(buf), len, off, true);
    run(ops, "write", {});
  }

  void write_many(std::vector<WriteRequest>& reqs, const BatchOptions& opts) override {
    std::vector<IoOp> ops;
    for (const auto& r : reqs)
      for (auto& op : chunk(const_cast<char*>(r.buf), r.length, r.offset, true)) {
        op.tag = ops.size();
        if (op.length) ops.push_back(op);
      }
    run(ops, "write", opts);
  }

  uint64_t size() override {
    uint64_t sz = 0;
    int rc = s_.api().dfs_get_size(s_.dfs(), obj(), &sz);
    if (rc != 0) s_.fail(rc, "stat", rel_);
    return sz;
  }

  void truncate(uint64_t size) override {
    // dfs_punch(offset, DFS_MAX_FSIZE) sets the size to offset (truncate or extend)
    int rc = s_.api().dfs_punch(s_.dfs(), obj(), size, daos::kMaxFileSize);
    if (rc != 0) s_.fail(rc, "truncate", rel_);
  }

  void sync() override {
    // A no-op in DAOS: dfs_sync only checks its arguments. Writes are durable on completion.
    int rc = s_.api().dfs_sync(s_.dfs());
    if (rc != 0) s_.fail(rc, "sync", rel_);
  }

  void close() override {
    if (!obj_) return;
    int rc = s_.api().dfs_release(obj_);
    obj_ = nullptr;
    user_.reset();
    if (rc != 0) s_.fail(rc, "close", rel_);
  }

 private:
  DfsStorage& s_;
  std::string rel_;
  std::string display_;
  daos::dfs_obj_t* obj_;
  dfsmounts::MountUser user_;  // released after obj_: the mount outlives its open objects
};

}  // namespace

std::unique_ptr<File> DfsStorage::open(const std::string& path, const OpenOptions& o) {
  std::string rel = norm(path, "open");
  if (rel.empty()) fail(EISDIR, "open", rel);
  int flags = O_RDONLY;
  if (o.write) {
    name_.check_writable("open", rel);
    flags = O_RDWR | (o.create ? O_CREAT : 0) | (o.exclusive ? O_EXCL : 0);
  }
  uint32_t cid = 0;
  if (!o.object_class.empty()) {
    int id = a_.daos_oclass_name2id(o.object_class.c_str());
    if (id <= 0) fail(EINVAL, "open", rel, "unknown DAOS object class '" + o.object_class + "'");
    cid = static_cast<uint32_t>(id);
  }
  auto [d, base] = split_parent(rel);
  // A create goes into the directory the path names now (never a cached, removed one).
  DirRef parent = dir(d, "open", o.create);
  std::string name(base);
  daos::dfs_obj_t* obj = nullptr;
  int rc = a_.dfs_open(dfs(), parent->obj, name.c_str(), S_IFREG | (o.mode & 07777), flags, cid, o.chunk_size,
                       nullptr, &obj);
  if (rc == ENOENT && !o.create && !d.empty()) {  // the cached parent may be a removed directory
    parent = dir(d, "open", true);
    rc = a_.dfs_open(dfs(), parent->obj, name.c_str(), S_IFREG | (o.mode & 07777), flags, cid, o.chunk_size,
                     nullptr, &obj);
  }
  if (rc == EINVAL) {
    struct stat st;
    if (a_.dfs_stat(dfs_, parent->obj, name.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) rc = EISDIR;
  }
  if (rc != 0) fail(rc, "open", rel);
  auto file = std::make_unique<DfsFile>(*this, rel, obj, mount_);
  // O_TRUNC is applied once here, not per chunk: DFS would truncate on every open.
  if (o.write && o.truncate) file->truncate(0);
  return file;
}

}  // namespace pdt
