#include "dfs/dfs_mounts.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "thread_pool.h"

namespace pdt {
// Process-wide daos_init reference count, with fork awareness (dfs_storage.cpp).
void dfs_runtime_acquire(const ErrorContext& ctx);
void dfs_runtime_release();
void dfs_runtime_register_fork_hooks();
}  // namespace pdt

namespace pdt::dfsmounts {

struct Pool {
  daos::handle_t poh{0};
  std::string key;
  int mounts = 0;
};

namespace {

constexpr char kFormTag[] = "PDTGLOB1";

struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Pool>> pools;
  std::map<std::string, MountRef> mounts;
  pid_t pid = 0;  // the process these entries belong to
  bool exiting = false;  // close_all ran: nothing is kept any more
};

Registry& reg() {
  static Registry* r = new Registry;  // never destroyed: close_all runs at exit
  return *r;
}

// A fork child inherits the parent's entries: they are the parent's to close, never ours.
void forget_if_forked(Registry& r) {
  if (r.pid == getpid()) return;
  r.pools.clear();
  r.mounts.clear();
  r.pid = getpid();
}

// A child of fork may attach from any mount's global form (Container.native re-attaches),
// so every mount this process connected must then outlive its local users.
void prepare_fork() {
  Registry& r = reg();
  r.mu.lock();
  if (r.pid == getpid())
    for (auto& kv : r.mounts)
      if (!kv.second->attached) kv.second->handed_out = true;
}
void after_fork() { reg().mu.unlock(); }

// Through the thread pool's fork hooks, ours registered before the DAOS runtime's (which make
// fork wait until no thread is inside DAOS): ours run first, so fork never waits for DAOS
// while holding the registry that a thread inside DAOS may need next. Registered before the
// registry's lock is taken: adding hooks takes the thread pool's lock, which a fork holds
// while it runs them.
void register_fork_hooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    ThreadPool::shared().add_fork_hooks({prepare_fork, after_fork, after_fork});
    dfs_runtime_register_fork_hooks();
  });
}

std::string mode_key(bool read_only) { return read_only ? "ro" : "rw"; }

void pool_put(Registry& r, const std::shared_ptr<Pool>& p) {
  if (--p->mounts > 0) return;
  const daos::Api& a = daos::api();
  // -DER_BUSY while a container handle is still open: keep the pool (and DAOS initialized)
  // rather than finalize under live handles.
  if (a.daos_pool_disconnect(p->poh, nullptr) != 0) return;
  auto it = r.pools.find(p->key);
  if (it != r.pools.end() && it->second == p) r.pools.erase(it);
  dfs_runtime_release();
}

[[noreturn]] void pool_failure(int der, const ErrorContext& ctx, const std::string& pool, const std::string& sys,
                               bool read_only) {
  if (der == 1005 || der == 2003)  // NONEXIST, ENOENT
    throw_der(der, ctx, "pool '" + pool + "' not found" + (sys.empty() ? "" : " in system '" + sys + "'"));
  if (der == 1001)  // NO_PERM
    throw_der(der, ctx,
              std::string("no permission to connect to pool '") + pool + "' " + (read_only ? "read-only" : "read-write") +
                  " (check the pool ACL: dmg pool get-acl " + pool + ")");
  throw_der(der, ctx, "cannot connect to pool '" + pool + "'");
}

[[noreturn]] void cont_failure(int der, const ErrorContext& ctx, const std::string& pool, const std::string& cont,
                               bool read_only) {
  // ENOENT whatever daos_der2errno says (DER_CONT_NONEXIST is EIO there): it is not found
  if (der == 1005 || der == 2003 || der == 2050)  // NONEXIST, ENOENT, CONT_NONEXIST
    throw StorageError(ENOENT, der, ctx, "container '" + cont + "' not found in pool '" + pool + "'");
  if (der == 1001)
    throw_der(der, ctx,
              std::string("no permission to open container '") + cont + "' " + (read_only ? "read-only" : "read-write") +
                  " (check the container ACL: daos cont get-acl " + pool + " " + cont + ")");
  throw_der(der, ctx, "cannot open container '" + cont + "'");
}

std::shared_ptr<Pool> pool_connect(Registry& r, const std::string& pool, const std::string& sys, bool read_only,
                                   const ErrorContext& ctx) {
  std::string key = "c\n" + sys + "\n" + pool + "\n" + mode_key(read_only);
  auto it = r.pools.find(key);
  if (it != r.pools.end()) return it->second;
  dfs_runtime_acquire(ctx);
  const daos::Api& a = daos::api();
  daos::handle_t poh{0};
  int rc = a.daos_pool_connect2(pool.c_str(), sys.empty() ? nullptr : sys.c_str(), read_only ? daos::kPoolConnectRO : daos::kPoolConnectRW,
                                &poh, nullptr, nullptr);
  if (rc != 0) {
    dfs_runtime_release();
    pool_failure(-rc, ctx, pool, sys, read_only);
  }
  auto p = std::make_shared<Pool>();
  p->poh = poh;
  p->key = key;
  r.pools[key] = p;
  return p;
}

std::shared_ptr<Pool> pool_attach(Registry& r, const std::string& glob, const ErrorContext& ctx) {
  std::string key = "a\n" + glob;
  auto it = r.pools.find(key);
  if (it != r.pools.end()) return it->second;
  dfs_runtime_acquire(ctx);
  const daos::Api& a = daos::api();
  std::string copy = glob;
  daos::handle_t poh{0};
  int rc = a.daos_pool_global2local(daos::iov_t{copy.data(), copy.size(), copy.size()}, &poh);
  if (rc != 0) {
    dfs_runtime_release();
    throw_der(-rc, ctx, "daos_pool_global2local failed: the serialized pool handle is not valid here");
  }
  auto p = std::make_shared<Pool>();
  p->poh = poh;
  p->key = key;
  r.pools[key] = p;
  return p;
}

MountRef new_mount(Registry& r, std::string key, std::shared_ptr<Pool> pool, daos::handle_t coh, daos::dfs_t* dfs,
                   bool read_only) {
  auto m = std::make_shared<Mount>();
  m->pool = std::move(pool);
  m->coh = coh;
  m->dfs = dfs;
  m->read_only = read_only;
  m->pid = getpid();
  m->owner_pid = m->pid;
  m->owner_host = this_host();
  m->key = std::move(key);
  m->users = 1;
  r.mounts[m->key] = m;
  return m;
}

// Closes a mount of this process; returns the first positive errno (0 if none).
int close_locked(Registry& r, const MountRef& m) {
  if (!m->dfs) return 0;
  const daos::Api& a = daos::api();
  int rc = a.dfs_umount(m->dfs);
  m->dfs = nullptr;
  int crc = a.daos_cont_close(m->coh, nullptr);
  auto it = r.mounts.find(m->key);
  if (it != r.mounts.end() && it->second == m) r.mounts.erase(it);
  if (crc == 0) pool_put(r, m->pool);  // else the pool stays: it still has a container open
  return rc ? rc : (crc ? der_to_errno(-crc) : 0);
}

void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

bool get_part(const std::string& in, size_t& pos, std::string* part) {
  uint64_t n = 0;
  if (in.size() - pos < sizeof n) return false;
  std::memcpy(&n, in.data() + pos, sizeof n);
  pos += sizeof n;
  if (in.size() - pos < n) return false;
  part->assign(in, pos, n);
  pos += n;
  return true;
}

// The global form of a handle through DAOS's two-call protocol (size, then fill).
template <typename Fn>
std::string global_bytes(Fn&& fill, bool der, const char* what, const ErrorContext& ctx) {
  daos::iov_t iov{nullptr, 0, 0};
  int rc = fill(&iov);
  std::string buf;
  if (rc == 0) {
    buf.assign(iov.iov_buf_len, '\0');
    iov = {buf.data(), buf.size(), 0};
    rc = fill(&iov);
  }
  if (rc != 0) {
    if (der) throw_der(-rc, ctx, std::string(what) + " failed");
    throw_errno(rc, ctx, std::string(what) + " failed");
  }
  buf.resize(iov.iov_len ? iov.iov_len : buf.size());
  return buf;
}

}  // namespace

std::string this_host() {
  char name[256] = {0};
  if (gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  char path[64], buf[512];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "re");
  if (!f) return true;
  bool got = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  const char* paren = got ? std::strrchr(buf, ')') : nullptr;
  return !(paren && paren[1] == ' ' && paren[2] == 'Z');  // a zombie has exited
}

std::string encode(const GlobalForm& g) {
  std::string out = std::string(kFormTag) + "\n" + std::to_string(g.owner_pid) + "\n" + g.owner_host + "\n";
  for (const std::string* part : {&g.pool, &g.cont, &g.mount}) {
    put_u64(out, part->size());
    out += *part;
  }
  return out;
}

bool decode(const std::string& bytes, GlobalForm* g) {
  size_t a = bytes.find('\n');
  if (a == std::string::npos || bytes.compare(0, a, kFormTag) != 0) return false;
  size_t b = bytes.find('\n', a + 1);
  if (b == std::string::npos) return false;
  size_t c = bytes.find('\n', b + 1);
  if (c == std::string::npos) return false;
  g->owner_pid = static_cast<pid_t>(std::strtol(bytes.c_str() + a + 1, nullptr, 10));
  g->owner_host = bytes.substr(b + 1, c - b - 1);
  size_t pos = c + 1;
  return get_part(bytes, pos, &g->pool) && get_part(bytes, pos, &g->cont) && get_part(bytes, pos, &g->mount) &&
         pos == bytes.size() && !g->pool.empty() && !g->cont.empty() && !g->mount.empty();
}

MountRef connect(const std::string& pool, const std::string& cont, const std::string& sys, bool read_only,
                 const ErrorContext& ctx) {
  const daos::Api& a = daos::api();
  Registry& r = reg();
  register_fork_hooks();
  std::lock_guard<std::mutex> lock(r.mu);
  forget_if_forked(r);
  std::string key = "c\n" + sys + "\n" + pool + "\n" + cont + "\n" + mode_key(read_only);
  auto it = r.mounts.find(key);
  if (it != r.mounts.end()) {  // live, or parked after its users left
    ++it->second->users;
    return it->second;
  }
  std::shared_ptr<Pool> p = pool_connect(r, pool, sys, read_only, ctx);
  ++p->mounts;
  daos::handle_t coh{0};
  int rc = a.daos_cont_open2(p->poh, cont.c_str(), read_only ? daos::kContOpenRO : daos::kContOpenRW, &coh, nullptr, nullptr);
  if (rc != 0) {
    pool_put(r, p);
    cont_failure(-rc, ctx, pool, cont, read_only);
  }
  daos::dfs_t* dfs = nullptr;
  rc = a.dfs_mount(p->poh, coh, read_only ? O_RDONLY : O_RDWR, &dfs);
  if (rc != 0) {
    a.daos_cont_close(coh, nullptr);
    pool_put(r, p);
    if (rc == EPERM || rc == EACCES)
      throw_errno(rc, ctx, std::string("no permission to mount container '") + cont + "' " +
                               (read_only ? "read-only" : "read-write"));
    throw_errno(rc, ctx, "dfs_mount failed (is '" + cont + "' a POSIX container?)");
  }
  return new_mount(r, key, p, coh, dfs, read_only);
}

MountRef attach(const std::string& form, bool read_only, const ErrorContext& ctx) {
  GlobalForm g;
  if (!decode(form, &g)) throw_errno(EINVAL, ctx, "not a serialized DAOS container handle (truncated or corrupted)");
  const daos::Api& a = daos::api();
  Registry& r = reg();
  register_fork_hooks();
  std::lock_guard<std::mutex> lock(r.mu);
  forget_if_forked(r);
  std::string key = "a\n" + form + "\n" + mode_key(read_only);
  auto it = r.mounts.find(key);
  if (it != r.mounts.end()) {
    ++it->second->users;
    return it->second;
  }
  std::shared_ptr<Pool> p = pool_attach(r, g.pool, ctx);
  ++p->mounts;
  daos::handle_t coh{0};
  std::string cont = g.cont, mnt = g.mount;
  int rc = a.daos_cont_global2local(p->poh, daos::iov_t{cont.data(), cont.size(), cont.size()}, &coh);
  if (rc != 0) {
    pool_put(r, p);
    throw_der(-rc, ctx, "daos_cont_global2local failed");
  }
  daos::dfs_t* dfs = nullptr;
  rc = a.dfs_global2local(p->poh, coh, read_only ? O_RDONLY : O_RDWR,
                          daos::iov_t{mnt.data(), mnt.size(), mnt.size()}, &dfs);
  if (rc != 0) {
    a.daos_cont_close(coh, nullptr);
    pool_put(r, p);
    throw_errno(rc, ctx, "dfs_global2local failed");
  }
  MountRef m = new_mount(r, key, p, coh, dfs, read_only);
  m->attached = true;
  m->owner_pid = g.owner_pid;
  m->owner_host = g.owner_host;
  m->global = form;  // passed on as it came: the owner's handles
  return m;
}

void release(const MountRef& m) {
  Registry& r = reg();
  std::lock_guard<std::mutex> lock(r.mu);
  if (m->pid != getpid() || !m->dfs) return;  // inherited through fork, or closed at exit
  if (--m->users > 0) return;
  if (!m->attached && m->handed_out && !r.exiting) return;  // parked: attached processes may be live
  int rc = close_locked(r, m);
  if (rc != 0) throw_errno(rc, {"disconnect", "", "", ""}, "closing the DAOS container mount failed");
}

std::string global_form(Mount& m, const ErrorContext& ctx) {
  Registry& r = reg();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!m.global.empty()) return m.global;
  if (!m.dfs) throw_errno(EBADF, ctx, "container is disconnected");
  const daos::Api& a = daos::api();
  GlobalForm g;
  g.owner_pid = m.owner_pid;
  g.owner_host = m.owner_host;
  daos::handle_t poh = m.pool->poh, coh = m.coh;
  g.pool = global_bytes([&](daos::iov_t* iov) { return a.daos_pool_local2global(poh, iov); }, true,
                        "daos_pool_local2global", ctx);
  g.cont = global_bytes([&](daos::iov_t* iov) { return a.daos_cont_local2global(coh, iov); }, true,
                        "daos_cont_local2global", ctx);
  g.mount = global_bytes([&](daos::iov_t* iov) { return a.dfs_local2global(m.dfs, iov); }, false,
                         "dfs_local2global", ctx);
  m.global = encode(g);
  return m.global;
}

void acquire(const MountRef& m) {
  Registry& r = reg();
  std::lock_guard<std::mutex> lock(r.mu);
  ++m->users;
}

void MountUser::reset() noexcept {
  if (!m_) return;
  try {
    release(m_);
  } catch (...) {  // a close that failed: nothing a file's destructor can do about it
  }
  m_.reset();
}

void hand_out(Mount& m) {
  Registry& r = reg();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!m.attached) m.handed_out = true;
}

void close_all() {
  Registry& r = reg();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.pid != getpid()) return;
  r.exiting = true;
  // Mounts still in use close with their last user: closing them now would leave their
  // objects (files, directories) to be released after daos_fini, which DAOS asserts on.
  auto mounts = r.mounts;
  for (auto& kv : mounts) {
    if (kv.second->users > 0) continue;
    try {
      close_locked(r, kv.second);
    } catch (...) {
    }
  }
}

}  // namespace pdt::dfsmounts
