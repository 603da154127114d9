// The DAOS connections of this process: pool handles, container handles and DFS mounts, in
// a registry of our own keyed by access mode.
//
// Why not dfs_connect: libdfs caches pool and container handles by name only (DAOS
// src/client/dfs/mnt.c, dfs_hdl_lookup/dfs_hdl_insert), until dfs_fini. A read-write
// dfs_connect after a read-only one of the same container mounts on the read-only handles,
// and every write is then refused by the server (-DER_NO_PERM); dfs_global2local_all inserts
// into the same cache. So we connect the pool, open the container and mount ourselves.
//
// Lifetime: the process that connected owns the server-side handles. Processes that attach
// from their global form (DataLoader workers, MPI ranks) share them and lose them, with
// -DER_NO_HDL, when the owner disconnects or exits. So a mount whose global form has left
// the process (handed out: pickled, or inherited by a fork) is not disconnected when its last
// local user is done: it is parked, reused by the next connect of the same key, and closed at
// process exit (close_all).
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>

#include "dfs/dfs_api.h"
#include "errors.h"

namespace pdt::dfsmounts {

struct Pool;

struct Mount {
  std::shared_ptr<Pool> pool;
  daos::handle_t coh{0};
  daos::dfs_t* dfs = nullptr;  // nullptr once closed
  bool read_only = true;
  bool attached = false;       // made from another process's global form
  pid_t pid = 0;               // the process that made it
  pid_t owner_pid = 0;         // the process that connected (this one, unless attached)
  std::string owner_host;
  std::string key;
  std::string global;          // owner: its global form, made once
  bool handed_out = false;     // owner: the global form left this process
  int users = 0;
};
using MountRef = std::shared_ptr<Mount>;

// The global form of a mount, for another process: who connected, then the pool's, the
// container's and the mount's global forms.
struct GlobalForm {
  pid_t owner_pid = 0;
  std::string owner_host;
  std::string pool, cont, mount;  // daos_pool_/daos_cont_/dfs_local2global bytes
};
std::string encode(const GlobalForm& g);
bool decode(const std::string& bytes, GlobalForm* g);

// A mount of (system, pool, container) in this access mode: this process's live or parked
// one, or a new connection. Throws StorageError (explained: which of pool, container or
// permission is wrong).
MountRef connect(const std::string& pool, const std::string& cont, const std::string& sys, bool read_only,
                 const ErrorContext& ctx);
// A mount attached from another process's global form (no new connection); one per form
// and access mode in this process.
MountRef attach(const std::string& form, bool read_only, const ErrorContext& ctx);
// One user is done with the mount: closes it when no user is left, unless it was handed out.
void release(const MountRef& m);
// One more user (an open file keeps its mount: DAOS refuses to close a container handle with
// objects open, -DER_BUSY, and after daos_fini every handle is gone).
void acquire(const MountRef& m);

// A user for as long as it lives (an open file).
class MountUser {
 public:
  explicit MountUser(MountRef m) : m_(std::move(m)) { acquire(m_); }
  MountUser(const MountUser&) = delete;
  MountUser& operator=(const MountUser&) = delete;
  ~MountUser() { reset(); }
  void reset() noexcept;

 private:
  MountRef m_;
};
// The mount's global form (the owner makes it once; an attached mount passes its own on).
std::string global_form(Mount& m, const ErrorContext& ctx);
// The global form left this process: the mount must outlive its local users.
void hand_out(Mount& m);
// At exit: closes the mounts kept for attached processes (no user left), and lets the others
// close when their last user goes (instead of being kept). Errors are ignored.
void close_all();

// The host name the owner of a mount is recorded under.
std::string this_host();
// Whether process `pid` of this host is alive (a zombie is not).
bool process_alive(pid_t pid);

}  // namespace pdt::dfsmounts
