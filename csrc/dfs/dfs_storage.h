// The DAOS backend's classes (private to dfs/; the public face is dfs.h).
//
// Process model: one pool connection per job. The process that connects keeps it; other
// processes (DataLoader workers, MPI ranks) attach from serialize_handle() bytes (the global
// forms of the pool, container and mount handles), which opens no new connection. A handle
// is only used by the process that made it: a forked child attaches anew (after
// daos_reinit, DAOS 2.6.4+). Connections and mounts live in dfs_mounts.h's registry.
#pragma once
#include <sys/types.h>

#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dfs/dfs_api.h"
#include "backend_common.h"
#include "dfs/dfs.h"
#include "dfs/dfs_mounts.h"

namespace pdt {

constexpr char kDfsHandleTag[] = "PDTDFS2";

// A cached directory object; released (dfs_release) when the last user drops it.
struct DirObj {
  DirObj(const daos::Api* a, daos::dfs_obj_t* o) : api(a), obj(o) {}
  DirObj(const DirObj&) = delete;  // exactly one owner releases the object
  DirObj& operator=(const DirObj&) = delete;
  ~DirObj();
  const daos::Api* api;
  daos::dfs_obj_t* obj;  // nullptr is the container's root (dfs_open's parent = NULL)
};
using DirRef = std::shared_ptr<DirObj>;
inline DirRef make_dir_ref(const daos::Api* a, daos::dfs_obj_t* o) { return std::make_shared<DirObj>(a, o); }

// One asynchronous I/O on an open object, run through the event queue.
struct IoOp {
  daos::dfs_obj_t* obj = nullptr;
  char* buf = nullptr;
  uint64_t length = 0;
  uint64_t offset = 0;
  bool write = false;
  size_t tag = 0;      // the caller's bookkeeping (e.g. request index)
  uint64_t done = 0;   // out: bytes read (writes: length on success)
  int err = 0;         // out: positive errno
  std::string_view path{};  // container path, for errors (must outlive the op)
  int der = 0;            // out, with err: the DER when DAOS gave one
  std::string detail{};   // out, with err: which step failed
};

class DfsStorage final : public Storage {
 public:
  // Connects or, when `global` is non-empty, attaches to another process's mount.
  DfsStorage(std::string pool, std::string container, std::string system, bool read_only,
             const std::string& global);
  ~DfsStorage() override;

  std::string backend() const override { return "dfs"; }
  const std::string& pool() const override { return name_.pool(); }
  const std::string& container() const override { return name_.container(); }
  bool read_only() const override { return name_.read_only(); }
  std::string describe() const override;
  std::string features() const override;
  const IoProfile& profile() const override;

  FileInfo stat(const std::string& path) override;
  std::unique_ptr<File> open(const std::string& path, const OpenOptions& opts) override;
  void read_batch(std::vector<ReadRequest>& reqs, const BatchOptions& opts) override;
  void mkdirs(const std::string& path, uint32_t mode) override;
  void remove(const std::string& path, bool recursive) override;
  void rename(const std::string& from, const std::string& to) override;
  bool keep_as(const std::string& from, const std::string& to) override;
  std::vector<std::pair<std::string, bool>> listdir(const std::string& path) override;
  Index scan(const std::string& path, const ScanOptions& opts) override;
  std::string serialize_handle() override;
  void hand_out() override;
  void disconnect() override;

  // Used by DfsFile and the scan.
  const daos::Api& api() const { return a_; }
  daos::dfs_t* dfs() const;  // checks the handle belongs to this process
  const ContainerName& name() const { return name_; }
  ErrorContext ctx(const char* op, std::string_view path) const { return name_.ctx(op, path); }
  std::string norm(std::string_view path, const char* op) const { return name_.norm(path, op); }
  [[noreturn]] void fail(int err, const char* op, std::string_view path, std::string detail = {}) const;
  // The error for a failed DAOS call, explaining a revoked attached handle.
  StorageError error(int err, const char* op, std::string_view path, std::string detail = {}, int der = 0) const;
  // A directory object from the cache, or (fresh) looked up anew and cached. Another
  // process may have removed and re-created a cached directory: the cached object is then
  // DAOS's punched one, where creates land in an orphan and listings come back empty, so
  // every create, listing, rename, remove and scan uses a fresh lookup, and a read that
  // finds nothing through a cached parent looks it up again.
  DirRef dir(std::string_view rel, const char* op, bool fresh = false);
  // Runs ops with at most `depth` in flight, reaping completions only with daos_eq_poll.
  // `next` hands out the next op ready to start (nullptr: none right now); `more` tells
  // whether further ops may still come; `wait` blocks briefly until one may be ready.
  // Returns only once no event is in flight: DAOS cannot cancel an I/O, so a failed poll
  // aborts and reaps them; if they cannot be reaped the event queue is abandoned.
  struct IoSource {
    std::function<IoOp*()> next;
    std::function<bool()> more;
    std::function<void()> wait;
    std::function<void(IoOp&)> done;
  };
  void run_io(IoSource& src, size_t depth, const InterruptCheck& interrupt, FirstError& errors);
  static size_t default_depth();

 private:
  void ensure_eq();
  void drop_cache();
  void forget(std::string_view rel);  // drops cached directories at or under rel
  void drive_io(class EventRun& run, IoSource& src, const InterruptCheck& interrupt, FirstError& errors);

  const daos::Api& a_;
  ContainerName name_;
  std::string sys_;
  dfsmounts::MountRef mount_;
  daos::dfs_t* dfs_ = nullptr;  // mount_'s, while connected
  pid_t owner_pid_;             // the process that made this object
  std::mutex eq_mu_;  // one batch at a time drives the event queue
  daos::handle_t eq_{0};
  pid_t eq_pid_ = 0;
  std::mutex cache_mu_;
  std::list<std::pair<std::string, DirRef>> lru_;
  std::unordered_map<std::string, std::list<std::pair<std::string, DirRef>>::iterator> cache_;
  size_t cache_capacity_ = 4096;
};

}  // namespace pdt
