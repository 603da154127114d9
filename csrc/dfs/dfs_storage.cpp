#include "dfs/dfs_storage.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "paths.h"

namespace pdt {
namespace {

constexpr uint64_t kPieceBytes = 8ull << 20;  // one dfs_read per 8 MiB: many RPCs in flight
constexpr int64_t kPollTimeoutUs = 20000;       // wake to answer Ctrl-C
constexpr unsigned kPollBatch = 64;

// Process-wide DAOS initialization, with fork awareness.
struct Runtime {
  std::mutex mu;
  int refs = 0;
  pid_t pid = 0;          // process whose daos_init the state belongs to
  bool atfork_set = false;
};
Runtime g_rt;

void after_fork_child() {
  // Runs in the child of a fork. With daos_reinit (2.6.4+) the inherited library state is
  // repaired here, so the child can attach from serialized handles; without it, the state
  // stays marked as foreign and any use raises a clear error.
  if (g_rt.refs > 0) {
    const daos::Api& a = daos::api();
    if (a.daos_reinit && a.daos_reinit() == 0) g_rt.pid = getpid();
  }
}

[[noreturn]] void fork_error(const ErrorContext& ctx) {
  const daos::Api& a = daos::api();
  throw_errno(ENOTSUP, ctx,
              std::string("this process was forked from one that had initialized DAOS, and the DAOS client "
                          "library (") + a.path + ", DAOS " + a.version_floor() +
                  " features) has no daos_reinit (DAOS 2.6.4+), so DAOS cannot be used after fork: use "
                  "multiprocessing_context='spawn' or 'forkserver' (e.g. DataLoader(..., "
                  "multiprocessing_context='spawn'))");
}

void runtime_acquire(const ErrorContext& ctx) {
  const daos::Api& a = daos::api();
  std::lock_guard<std::mutex> lock(g_rt.mu);
  if (!g_rt.atfork_set) {
    pthread_atfork(nullptr, nullptr, after_fork_child);
    g_rt.atfork_set = true;
  }
  if (g_rt.refs > 0) {
    if (g_rt.pid != getpid()) fork_error(ctx);
    ++g_rt.refs;
    return;
  }
  int rc = a.daos_init();
  if (rc != 0) {
    int der = -rc;
    std::string why = "daos_init failed";
    if (der == 2034 || der == 1006 || der == 1033)  // AGENT_COMM, UNREACH, NOREPLY
      why = "the DAOS agent is not reachable (is daos_agent running on this node? its socket directory is "
            "DAOS_AGENT_DRPC_DIR, default /var/run/daos_agent)";
    throw_der(der, ctx, why);
  }
  rc = a.dfs_init();
  if (rc != 0) {
    a.daos_fini();
    throw_errno(rc, ctx, "dfs_init failed");
  }
  g_rt.refs = 1;
  g_rt.pid = getpid();
}

void runtime_release() {
  const daos::Api& a = daos::api();
  std::lock_guard<std::mutex> lock(g_rt.mu);
  if (g_rt.refs == 0 || g_rt.pid != getpid()) return;
  if (--g_rt.refs > 0) return;  // only the last connection of the process finalizes
  a.dfs_fini();
  a.daos_fini();
}

// Explains a failed dfs_connect by redoing its steps with the DAOS calls that return DER
// codes: which of pool and container is wrong, or which permission is missing.
[[noreturn]] void explain_connect_failure(const daos::Api& a, int rc, const ErrorContext& ctx,
                                          const std::string& pool, const std::string& cont,
                                          const char* sys, bool read_only) {
  daos::handle_t poh{0}, coh{0};
  // A read-write container open needs a read-write pool handle, as in dfs_connect.
  unsigned pool_flags = read_only ? daos::kPoolConnectRO : daos::kPoolConnectRW;
  int prc = a.daos_pool_connect2(pool.c_str(), sys, pool_flags, &poh, nullptr, nullptr);
  if (prc != 0) {
    int der = -prc;
    if (der == 1005 || der == 2003)
      throw_der(der, ctx, "pool '" + pool + "' not found" + (sys ? " in system '" + std::string(sys) + "'" : ""));
    if (der == 1001)
      throw_der(der, ctx, "no permission to connect to pool '" + pool + "' (check the pool ACL: dmg pool get-acl)");
    throw_der(der, ctx, "cannot connect to pool '" + pool + "'");
  }
  unsigned flags = read_only ? daos::kContOpenRO : daos::kContOpenRW;
  int crc = a.daos_cont_open2(poh, cont.c_str(), flags, &coh, nullptr, nullptr);
  if (crc == 0) a.daos_cont_close(coh, nullptr);
  a.daos_pool_disconnect(poh, nullptr);
  if (crc != 0) {
    int der = -crc;
    // ENOENT whatever daos_der2errno says (DER_CONT_NONEXIST is EIO there): it is not found
    if (der == 1005 || der == 2003 || der == 2050)
      throw StorageError(ENOENT, der, ctx, "container '" + cont + "' not found in pool '" + pool + "'");
    if (der == 1001)
      throw_der(der, ctx,
                std::string("no permission to open container '") + cont + "' " + (read_only ? "read-only" : "read-write") +
                    " (check the container ACL: daos cont get-acl " + pool + " " + cont + ")");
    throw_der(der, ctx, "cannot open container '" + cont + "'");
  }
  if (rc == EPERM || rc == EACCES)
    throw_errno(rc, ctx, std::string("no permission to mount container '") + cont + "' " +
                             (read_only ? "read-only" : "read-write"));
  throw_errno(rc, ctx, "dfs_connect failed (is '" + cont + "' a POSIX container?)");
}

std::vector<std::string> split_blob(const std::string& blob, size_t fields) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (out.size() + 1 < fields) {
    size_t nl = blob.find('\n', pos);
    if (nl == std::string::npos) break;
    out.push_back(blob.substr(pos, nl - pos));
    pos = nl + 1;
  }
  out.push_back(blob.substr(std::min(pos, blob.size())));
  return out;
}

}  // namespace

DirObj::~DirObj() {
  if (obj) api->dfs_release(obj);
}

DfsStorage::DfsStorage(std::string pool, std::string container, std::string system, bool read_only,
                       const std::string& global)
    : a_(daos::api()),
      pool_(std::move(pool)),
      cont_(std::move(container)),
      sys_(std::move(system)),
      read_only_(read_only),
      owner_pid_(getpid()),
      attached_(!global.empty()) {
  ErrorContext c{attached_ ? "attach" : "connect", pool_, cont_, ""};
  if (!attached_ && (pool_.empty() || cont_.empty()))
    throw_errno(EINVAL, c, "a pool and a container are required (arguments, or DAOS_POOL and DAOS_CONT)");
  runtime_acquire(c);
  int flags = read_only_ ? O_RDONLY : O_RDWR;
  int rc;
  if (attached_) {
    global_ = global;
    daos::iov_t iov{global_.data(), global_.size(), global_.size()};
    rc = a_.dfs_global2local_all(flags, iov, &dfs_);
    if (rc != 0) {
      runtime_release();
      throw_errno(rc, c, "dfs_global2local_all failed");
    }
    return;
  }
  const char* sys = sys_.empty() ? nullptr : sys_.c_str();
  rc = a_.dfs_connect(pool_.c_str(), sys, cont_.c_str(), flags, nullptr, &dfs_);
  if (rc != 0) {
    try {
      explain_connect_failure(a_, rc, c, pool_, cont_, sys, read_only_);
    } catch (...) {
      runtime_release();
      throw;
    }
  }
}

DfsStorage::~DfsStorage() {
  try {
    disconnect();
  } catch (...) {
  }
}

void DfsStorage::disconnect() {
  if (!dfs_) return;
  if (getpid() != owner_pid_) {  // inherited through fork: the parent owns it
    dfs_ = nullptr;
    return;
  }
  drop_cache();
  {
    std::lock_guard<std::mutex> lock(eq_mu_);
    if (eq_pid_ == getpid() && eq_.cookie) a_.daos_eq_destroy(eq_, daos::kEqDestroyForce);
    eq_ = {0};
  }
  int rc = a_.dfs_disconnect(dfs_);
  dfs_ = nullptr;
  runtime_release();
  if (rc != 0) throw_errno(rc, ctx("disconnect", ""));
}

void DfsStorage::drop_cache() {
  std::lock_guard<std::mutex> lock(cache_mu_);
  cache_.clear();
  lru_.clear();
}

std::string DfsStorage::describe() const {
  return "daos://" + pool_ + "/" + cont_ + (sys_.empty() ? "" : " (system " + sys_ + ")");
}

std::string DfsStorage::features() const { return "DAOS " + a_.version_floor() + "+ (" + a_.path + ")"; }

ErrorContext DfsStorage::ctx(const char* op, std::string_view path) const {
  return {op, pool_, cont_, display_path(path)};
}

std::string DfsStorage::norm(std::string_view path, const char* op) const {
  try {
    return normalize_path(path, op);
  } catch (const StorageError& e) {
    throw StorageError(e.err(), 0, {op, pool_, cont_, std::string(path)}, e.detail());
  }
}

void DfsStorage::fail(int err, const char* op, std::string_view path, std::string detail) const {
  throw_errno(err, ctx(op, path), std::move(detail));
}

daos::dfs_t* DfsStorage::dfs() const {
  if (!dfs_) fail(EBADF, "use", "", "container is disconnected");
  if (getpid() != owner_pid_)
    fail(EBADF, "use", "",
         "this DAOS handle belongs to process " + std::to_string(owner_pid_) +
             "; attach in this process from serialized handles (pydaos_torch containers do it on unpickling)");
  return dfs_;
}

size_t DfsStorage::default_depth() {
  // CaRT lets 64 RPCs per context be in flight by default (D_QUOTA_RPCS).
  const char* q = std::getenv("D_QUOTA_RPCS");
  long v = q ? std::strtol(q, nullptr, 10) : 0;
  return v > 0 ? static_cast<size_t>(v) : 64;
}

void DfsStorage::ensure_eq() {
  if (eq_pid_ == getpid() && eq_.cookie) return;
  int rc = a_.daos_eq_create(&eq_);
  if (rc != 0) throw_der(-rc, ctx("daos_eq_create", ""));
  eq_pid_ = getpid();
}

DirRef DfsStorage::dir(std::string_view rel, const char* op) {
  if (rel.empty()) return make_dir_ref(&a_, nullptr);
  std::string key(rel);
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  daos::dfs_obj_t* obj = nullptr;
  mode_t mode = 0;
  std::string full = display_path(rel);
  int rc = a_.dfs_lookup(dfs(), full.c_str(), read_only_ ? O_RDONLY : O_RDWR, &obj, &mode, nullptr);
  if (rc != 0) fail(rc, op, rel);
  auto ref = make_dir_ref(&a_, obj);
  if (!S_ISDIR(mode)) fail(ENOTDIR, op, rel);
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second->second;  // another thread won the race
  lru_.emplace_front(key, ref);
  cache_[key] = lru_.begin();
  if (lru_.size() > cache_capacity_) {
    cache_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return ref;
}

void DfsStorage::run_io(IoSource& src, size_t depth, const InterruptCheck& interrupt, FirstError& errors) {
  struct Slot {
    daos::event_t ev;  // first member: a completed event pointer is its slot's pointer
    IoOp* op;
    daos::iov_t iov;
    daos::sg_list_t sgl;
    uint64_t nread;
  };
  std::lock_guard<std::mutex> lock(eq_mu_);
  ensure_eq();
  depth = std::max<size_t>(1, depth);
  std::vector<Slot> slots(depth);
  std::vector<Slot*> free_slots;
  for (auto& s : slots) free_slots.push_back(&s);
  size_t inflight = 0;
  bool stopping = false;
  auto last_check = std::chrono::steady_clock::now();
  daos::event_t* done[kPollBatch];

  for (;;) {
    // Launch as many ready ops as the depth allows.
    while (!stopping && !free_slots.empty() && !errors.failed()) {
      IoOp* op = src.next();
      if (!op) break;
      Slot* s = free_slots.back();
      free_slots.pop_back();
      std::memset(&s->ev, 0, sizeof s->ev);
      s->op = op;
      s->iov = {op->buf, op->length, op->length};
      s->sgl = {1, 0, &s->iov};
      s->nread = 0;
      int rc = a_.daos_event_init(&s->ev, eq_, nullptr);
      if (rc != 0) {
        op->err = der_to_errno(-rc);
        src.done(*op);
        free_slots.push_back(s);
        continue;
      }
      rc = op->write ? a_.dfs_write(dfs_, op->obj, &s->sgl, op->offset, &s->ev)
                     : a_.dfs_read(dfs_, op->obj, &s->sgl, op->offset, &s->nread, &s->ev);
      if (rc != 0) {  // not launched: the event never completes
        a_.daos_event_fini(&s->ev);
        op->err = rc;
        src.done(*op);
        free_slots.push_back(s);
        continue;
      }
      ++inflight;
    }
    if (errors.failed()) stopping = true;
    if (inflight == 0) {
      if (stopping || !src.more()) break;
      src.wait();
    } else {
      int n = a_.daos_eq_poll(eq_, 1, kPollTimeoutUs, std::min<unsigned>(kPollBatch, inflight), done);
      if (n < 0) {
        // The queue itself failed: nothing more can be reaped; report it.
        errors.record(std::make_exception_ptr(StorageError(der_to_errno(-n), -n, ctx("daos_eq_poll", ""), "")));
        break;
      }
      for (int i = 0; i < n; ++i) {
        Slot* s = reinterpret_cast<Slot*>(done[i]);
        IoOp* op = s->op;
        op->err = s->ev.ev_error;  // dfs events carry a positive errno
        op->done = op->write ? (op->err ? 0 : op->length) : s->nread;
        a_.daos_event_fini(&s->ev);
        free_slots.push_back(s);
        --inflight;
        src.done(*op);
      }
    }
    if (interrupt && !stopping) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_check > std::chrono::milliseconds(50)) {
        last_check = now;
        if (interrupt()) {
          stopping = true;
          errors.record(std::make_exception_ptr(Interrupted()));
        }
      }
    }
  }
}

void DfsStorage::read_batch(std::vector<ReadRequest>& reqs, const BatchOptions& opts) {
  dfs();
  size_t nreq = reqs.size();
  std::vector<std::string> rels(nreq);
  for (size_t i = 0; i < nreq; ++i) rels[i] = norm(reqs[i].path, "read");
  std::vector<ReadPiece> pieces = split_pieces(reqs, kPieceBytes);
  std::vector<IoOp> ops(pieces.size());
  std::vector<size_t> first_piece(nreq + 1, 0);
  for (size_t k = 0; k < pieces.size(); ++k) {
    ops[k] = IoOp{nullptr, pieces[k].buf, pieces[k].length, pieces[k].offset, false, pieces[k].request};
    first_piece[pieces[k].request + 1] = k + 1;
  }
  std::vector<daos::dfs_obj_t*> objs(nreq, nullptr);
  std::vector<size_t> left(nreq);
  for (size_t i = 0; i < nreq; ++i) left[i] = first_piece[i + 1] - first_piece[i];

  // Opens have no asynchronous form in DFS: native threads run them ahead of the reads.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<size_t> ready;  // op indices whose file is open
  size_t opened = 0;         // requests finished opening (ok or not)
  FirstError errors;
  std::atomic<size_t> next_req{0};
  TaskGroup openers;
  auto open_one = [&](size_t i) {
    auto [dir_part, base] = split_parent(rels[i]);
    if (base.empty()) fail(EISDIR, "read", rels[i]);
    DirRef parent = dir(dir_part, "read");
    daos::dfs_obj_t* obj = nullptr;
    std::string name(base);
    int rc = a_.dfs_open(dfs_, parent->obj, name.c_str(), S_IFREG, O_RDONLY, 0, 0, nullptr, &obj);
    if (rc == EINVAL) {  // DFS answers EINVAL when the entry is not a regular file
      struct stat st;
      if (a_.dfs_stat(dfs_, parent->obj, name.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) rc = EISDIR;
    }
    if (rc != 0) fail(rc, "read", rels[i]);
    return obj;
  };
  size_t nopeners = std::min<size_t>(16, nreq);
  for (size_t t = 0; t < nopeners; ++t) {
    openers.spawn([&] {
      for (size_t i; !errors.failed() && (i = next_req.fetch_add(1)) < nreq;) {
        daos::dfs_obj_t* obj = nullptr;
        try {
          obj = open_one(i);
        } catch (...) {
          errors.record(std::current_exception());
        }
        std::lock_guard<std::mutex> lock(mu);
        objs[i] = obj;
        if (obj)
          for (size_t k = first_piece[i]; k < first_piece[i + 1]; ++k) ready.push_back(k);
        ++opened;
        cv.notify_one();
      }
      std::lock_guard<std::mutex> lock(mu);
      cv.notify_one();
    });
  }

  std::vector<uint64_t> got(nreq, 0);
  IoSource src;
  src.next = [&]() -> IoOp* {
    std::lock_guard<std::mutex> lock(mu);
    if (ready.empty()) return nullptr;
    size_t k = ready.front();
    ready.pop_front();
    ops[k].obj = objs[ops[k].tag];
    return &ops[k];
  };
  src.more = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return !ready.empty() || (opened < nreq && !errors.failed());
  };
  src.wait = [&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return !ready.empty() || opened == nreq; });
  };
  src.done = [&](IoOp& op) {
    size_t i = op.tag;
    if (op.err) {
      errors.record(std::make_exception_ptr(StorageError(op.err, 0, ctx("read", rels[i]), "")));
    } else {
      got[i] += op.done;
    }
    if (--left[i] == 0) {
      a_.dfs_release(objs[i]);
      objs[i] = nullptr;
    }
  };
  try {
    run_io(src, opts.depth ? opts.depth : default_depth(), opts.interrupt, errors);
  } catch (...) {
    errors.record(std::current_exception());
  }
  if (errors.failed()) next_req.store(nreq);  // stop the openers early
  openers.wait(nullptr);
  for (auto*& o : objs)  // files opened but never (fully) read after a failure
    if (o) {
      a_.dfs_release(o);
      o = nullptr;
    }
  errors.rethrow_if_failed();
  for (size_t i = 0; i < nreq; ++i) {
    reqs[i].nread = got[i];
    if (got[i] < reqs[i].length && !reqs[i].up_to)
      fail(EIO, "read", rels[i],
           "short read: got " + std::to_string(got[i]) + " of " + std::to_string(reqs[i].length) +
               " bytes at offset " + std::to_string(reqs[i].offset) + " (file truncated or smaller than expected)");
  }
}

FileInfo DfsStorage::stat(const std::string& path) {
  std::string rel = norm(path, "stat");
  struct stat st;
  if (rel.empty()) {
    daos::dfs_obj_t* obj = nullptr;
    mode_t mode = 0;
    int rc = a_.dfs_lookup(dfs(), "/", O_RDONLY, &obj, &mode, &st);
    if (rc != 0) fail(rc, "stat", rel);
    a_.dfs_release(obj);
  } else {
    auto [d, base] = split_parent(rel);
    DirRef parent = dir(d, "stat");
    std::string name(base);
    int rc = a_.dfs_stat(dfs(), parent->obj, name.c_str(), &st);
    if (rc != 0) fail(rc, "stat", rel);
  }
  return {static_cast<uint64_t>(st.st_size), static_cast<uint32_t>(st.st_mode),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

void DfsStorage::mkdirs(const std::string& path, uint32_t mode) {
  std::string rel = norm(path, "mkdirs");
  if (read_only_) fail(EPERM, "mkdirs", rel, "container was opened read-only");
  size_t pos = 0;
  while (!rel.empty() && pos <= rel.size()) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) slash = rel.size();
    std::string prefix = rel.substr(0, slash);
    auto [d, base] = split_parent(prefix);
    DirRef parent = dir(d, "mkdirs");
    std::string name(base);
    int rc = a_.dfs_mkdir(dfs(), parent->obj, name.c_str(), S_IFDIR | mode, 0);
    if (rc == EEXIST) {
      struct stat st;
      rc = a_.dfs_stat(dfs_, parent->obj, name.c_str(), &st);
      if (rc == 0 && !S_ISDIR(st.st_mode)) fail(ENOTDIR, "mkdirs", prefix, "exists and is not a directory");
    }
    if (rc != 0) fail(rc, "mkdirs", prefix);
    pos = slash + 1;
  }
}

void DfsStorage::remove(const std::string& path, bool recursive) {
  std::string rel = norm(path, "remove");
  if (read_only_) fail(EPERM, "remove", rel, "container was opened read-only");
  if (rel.empty()) fail(EPERM, "remove", rel, "cannot remove the container's root");
  auto [d, base] = split_parent(rel);
  DirRef parent = dir(d, "remove");
  std::string name(base);
  int rc = a_.dfs_remove(dfs(), parent->obj, name.c_str(), recursive, nullptr);
  if (rc != 0) fail(rc, "remove", rel);
  std::lock_guard<std::mutex> lock(cache_mu_);  // forget cached handles under the removed path
  for (auto it = lru_.begin(); it != lru_.end();) {
    const std::string& k = it->first;
    if (k == rel || (k.size() > rel.size() && k.compare(0, rel.size(), rel) == 0 && k[rel.size()] == '/')) {
      cache_.erase(k);
      it = lru_.erase(it);
    } else {
      ++it;
    }
  }
}

void DfsStorage::rename(const std::string& from, const std::string& to) {
  std::string a = norm(from, "rename"), b = norm(to, "rename");
  if (read_only_) fail(EPERM, "rename", a, "container was opened read-only");
  if (a.empty() || b.empty()) fail(EPERM, "rename", a, "cannot rename the container's root");
  auto [da, na] = split_parent(a);
  auto [db, nb] = split_parent(b);
  DirRef pa = dir(da, "rename"), pb = dir(db, "rename");
  std::string sa(na), sb(nb);
  int rc = a_.dfs_move(dfs(), pa->obj, sa.c_str(), pb->obj, sb.c_str(), nullptr);
  if (rc != 0) fail(rc, "rename", a, "to '" + display_path(b) + "': " + describe_errno(rc));
  drop_cache();  // a renamed directory invalidates cached paths below it
}

std::vector<std::pair<std::string, bool>> DfsStorage::listdir(const std::string& path) {
  std::string rel = norm(path, "listdir");
  DirRef d = dir(rel, "listdir");
  std::vector<std::pair<std::string, bool>> out;
  daos::anchor_t anchor;
  std::memset(&anchor, 0, sizeof anchor);
  std::vector<struct dirent> ents(128);
  for (;;) {
    uint32_t n = static_cast<uint32_t>(ents.size());
    daos::dfs_obj_t* obj = d->obj;
    if (!obj) {  // root: readdir needs a real object
      mode_t mode;
      int rc = a_.dfs_lookup(dfs(), "/", O_RDONLY, &obj, &mode, nullptr);
      if (rc != 0) fail(rc, "listdir", rel);
      d = make_dir_ref(&a_, obj);
    }
    int rc = a_.dfs_readdir(dfs(), obj, &anchor, &n, ents.data());
    if (rc != 0) fail(rc, "listdir", rel);
    for (uint32_t i = 0; i < n; ++i) {
      struct stat st;
      bool is_dir = a_.dfs_stat(dfs_, obj, ents[i].d_name, &st) == 0 && S_ISDIR(st.st_mode);
      out.emplace_back(ents[i].d_name, is_dir);
    }
    if (n == 0 || anchor.da_type == daos::kAnchorEof) break;
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string DfsStorage::serialize_handle() {
  if (global_.empty()) {
    daos::iov_t iov{nullptr, 0, 0};
    int rc = a_.dfs_local2global_all(dfs(), &iov);
    if (rc != 0) fail(rc, "dfs_local2global_all", "");
    std::string buf(iov.iov_buf_len, '\0');
    iov = {buf.data(), buf.size(), 0};
    rc = a_.dfs_local2global_all(dfs_, &iov);
    if (rc != 0) fail(rc, "dfs_local2global_all", "");
    buf.resize(iov.iov_len ? iov.iov_len : buf.size());
    global_ = std::move(buf);
  }
  return std::string(kDfsBlobTag) + '\n' + pool_ + '\n' + cont_ + '\n' + sys_ + '\n' +
         (read_only_ ? "ro" : "rw") + '\n' + global_;
}

std::unique_ptr<Storage> attach_dfs_storage(const std::string& blob) {
  auto f = split_blob(blob, 6);
  if (f.size() != 6 || f[0] != kDfsBlobTag || f[5].empty())
    throw_errno(EINVAL, {"attach", "", "", ""}, "not a serialized DAOS container handle");
  return std::make_unique<DfsStorage>(f[1], f[2], f[3], f[4] == "ro", f[5]);
}

}  // namespace pdt
