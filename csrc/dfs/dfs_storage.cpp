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
#include <thread>

#include "paths.h"
#include "thread_pool.h"

namespace pdt {
namespace {

constexpr uint64_t kPieceBytes = 8ull << 20;  // one dfs_read per 8 MiB: many RPCs in flight
constexpr int64_t kPollTimeoutUs = 20000;       // wake to answer Ctrl-C
constexpr unsigned kPollBatch = 64;

// Process-wide DAOS initialization, with fork awareness.
struct Runtime {
  std::mutex mu;
  int refs = 0;
  pid_t pid = 0;                     // process whose daos_init the state belongs to
  const daos::Api* api = nullptr;    // set at the first acquire (api() takes a lock)
  int reinit_der = 0;                // child of fork: what daos_reinit returned, if it failed
};
Runtime g_rt;

// Fork, in the thread pool's hooks (after its workers are joined): wait until no thread is
// inside DAOS, so the child never inherits a lock or a network context a thread held.
// g_rt.mu first: a thread holding it may be waiting to enter DAOS.
void before_fork() {
  g_rt.mu.lock();
  daos::call_gate().lock_for_fork();
}

void after_fork_parent() {
  daos::call_gate().unlock_after_fork();
  g_rt.mu.unlock();
}

void after_fork_child() {
  daos::call_gate().reset_in_child();
  g_rt.mu.unlock();
  // With daos_reinit (2.6.4+) the inherited library state is repaired here, so the child can
  // attach from serialized handles; otherwise the state stays foreign and any use raises.
  if (g_rt.refs == 0 || !g_rt.api->daos_reinit) return;
  int rc = g_rt.api->daos_reinit();
  if (rc == 0)
    g_rt.pid = getpid();
  else
    g_rt.reinit_der = -rc;
}

void register_fork_hooks() {
  static std::once_flag once;
  std::call_once(once, [] { ThreadPool::shared().add_fork_hooks({before_fork, after_fork_parent, after_fork_child}); });
}

[[noreturn]] void fork_error(const ErrorContext& ctx) {
  const daos::Api& a = *g_rt.api;
  const char* use_spawn =
      ", so DAOS cannot be used after this fork: use multiprocessing_context='spawn' or 'forkserver' (e.g. "
      "DataLoader(..., multiprocessing_context='spawn'))";
  if (a.daos_reinit && g_rt.reinit_der)
    throw_der(g_rt.reinit_der, ctx,
              std::string("this process was forked from one that had initialized DAOS, and daos_reinit failed in "
                          "the child") + use_spawn);
  if (a.daos_reinit)
    throw_errno(ENOTSUP, ctx,
                std::string("this process was forked from one that had initialized DAOS without running our fork "
                            "handlers (daos_reinit was not called)") + use_spawn);
  throw_errno(ENOTSUP, ctx,
              std::string("this process was forked from one that had initialized DAOS, and the DAOS client "
                          "library (") + a.path + ", DAOS " + a.version_floor() +
                  " features) has no daos_reinit (DAOS 2.6.4+), so DAOS cannot be used after fork: use "
                  "multiprocessing_context='spawn' or 'forkserver' (e.g. DataLoader(..., "
                  "multiprocessing_context='spawn'))");
}

}  // namespace

// Process-wide DAOS initialization (one daos_init per process while a pool handle is open),
// used by the mount registry (dfs_mounts.cpp).
void dfs_runtime_register_fork_hooks() { register_fork_hooks(); }

void dfs_runtime_acquire(const ErrorContext& ctx) {
  const daos::Api& a = daos::api();
  register_fork_hooks();  // before g_rt.mu: the hooks take it
  std::lock_guard<std::mutex> lock(g_rt.mu);
  g_rt.api = &a;
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
  g_rt.refs = 1;
  g_rt.pid = getpid();
}

void dfs_runtime_release() {
  const daos::Api& a = daos::api();
  std::lock_guard<std::mutex> lock(g_rt.mu);
  if (g_rt.refs == 0 || g_rt.pid != getpid()) return;
  if (--g_rt.refs > 0) return;  // only the last connection of the process finalizes
  a.daos_fini();
}

DirObj::~DirObj() {
  if (obj) api->dfs_release(obj);
}

DfsStorage::DfsStorage(std::string pool, std::string container, std::string system, bool read_only,
                       const std::string& global)
    : a_(daos::api()),
      name_(std::move(pool), std::move(container), read_only),
      sys_(std::move(system)),
      owner_pid_(getpid()) {
  ErrorContext c{global.empty() ? "connect" : "attach", name_.pool(), name_.container(), ""};
  if (global.empty() && (name_.pool().empty() || name_.container().empty()))
    throw_errno(EINVAL, c, "a pool and a container are required (arguments, or DAOS_POOL and DAOS_CONT)");
  mount_ = global.empty() ? dfsmounts::connect(name_.pool(), name_.container(), sys_, read_only, c)
                          : dfsmounts::attach(global, read_only, c);
  dfs_ = mount_->dfs;
}

DfsStorage::~DfsStorage() {
  try {
    disconnect();
  } catch (...) {
  }
}

void DfsStorage::disconnect() {
  if (!mount_) return;
  if (getpid() != owner_pid_) {  // inherited through fork: the parent's to close
    mount_.reset();
    dfs_ = nullptr;
    return;
  }
  drop_cache();
  {
    std::lock_guard<std::mutex> lock(eq_mu_);
    if (eq_pid_ == getpid() && eq_.cookie) a_.daos_eq_destroy(eq_, daos::kEqDestroyForce);
    eq_ = {0};
  }
  dfsmounts::MountRef m = std::move(mount_);
  dfs_ = nullptr;
  dfsmounts::release(m);  // the registry closes it when no user is left
}

void DfsStorage::drop_cache() {
  std::lock_guard<std::mutex> lock(cache_mu_);
  cache_.clear();
  lru_.clear();
}

std::string DfsStorage::describe() const {
  return "daos://" + name_.pool() + "/" + name_.container() + (sys_.empty() ? "" : " (system " + sys_ + ")");
}

const IoProfile& DfsStorage::profile() const {
  static const IoProfile kDaos = [] {
    IoProfile p;
    p.file_system = "daos";
    p.serial_writes = false;  // writes to one file go to many targets in parallel
    p.client_cache = false;   // libdfs caches no file data: nothing to write back or drop
    // A write is a network transfer: medium ones stay in a writer's chunk pipeline, which
    // overlaps them with serialization.
    p.direct_write_min = 16 << 20;
    p.read_buffer = 1 << 20;  // each refill is a round trip
    p.piece_size = 8 << 20;   // one dfs_write per piece: many RPCs in flight
    p.cpu_threads = 0;        // depth is I/Os in flight on the event queue, not threads
    return p;
  }();
  return kDaos;
}

std::string DfsStorage::features() const { return "DAOS " + a_.version_floor() + "+ (" + a_.path + ")"; }

void DfsStorage::fail(int err, const char* op, std::string_view path, std::string detail) const {
  throw error(err, op, path, std::move(detail));
}

StorageError DfsStorage::error(int err, const char* op, std::string_view path, std::string detail, int der) const {
  // A handle attached from another process's dies with that process's connection: DAOS
  // answers -DER_NO_HDL, which libdfs reports as EINVAL.
  if (err == EINVAL && mount_ && mount_->attached) {
    const auto& m = *mount_;
    std::string who = "the process that connected (pid " + std::to_string(m.owner_pid) + " on host " + m.owner_host + ")";
    bool here = m.owner_host == dfsmounts::this_host();
    std::string why = here && !dfsmounts::process_alive(m.owner_pid)
                          ? "this handle was revoked: " + who +
                                " has exited, and DAOS revokes every handle attached from its connection (-DER_NO_HDL); "
                                "connect again"
                          : "if " + who +
                                " has closed its connection or exited, DAOS has revoked this attached handle "
                                "(-DER_NO_HDL, reported as EINVAL)";
    detail = detail.empty() ? why : detail + "; " + why;
  }
  return StorageError(err, der, ctx(op, path), std::move(detail));
}

daos::dfs_t* DfsStorage::dfs() const {
  if (!dfs_ || !mount_->dfs) fail(EBADF, "use", "", "container is disconnected");
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

DirRef DfsStorage::dir(std::string_view rel, const char* op, bool fresh) {
  if (rel.empty()) return make_dir_ref(&a_, nullptr);
  std::string key(rel);
  if (!fresh) {
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
  int rc = a_.dfs_lookup(dfs(), full.c_str(), name_.read_only() ? O_RDONLY : O_RDWR, &obj, &mode, nullptr);
  if (rc != 0) {
    if (rc == ENOENT) forget(rel);
    fail(rc, op, rel);
  }
  auto ref = make_dir_ref(&a_, obj);
  if (!S_ISDIR(mode)) fail(ENOTDIR, op, rel);
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    if (!fresh) return it->second->second;  // another thread won the race
    lru_.erase(it->second);                 // replaced by what the namespace says now
    cache_.erase(it);
  }
  lru_.emplace_front(key, ref);
  cache_[key] = lru_.begin();
  if (lru_.size() > cache_capacity_) {
    cache_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return ref;
}

void DfsStorage::forget(std::string_view rel) {
  if (rel.empty()) return drop_cache();  // the root: everything is under it
  std::lock_guard<std::mutex> lock(cache_mu_);
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

namespace {

constexpr int kReapPollFailures = 50;                           // consecutive failed polls before giving up
constexpr auto kReapRetryDelay = std::chrono::milliseconds(10);  // between them

// How long in-flight events may take to come back once aborted: DAOS cannot cancel an RPC
// (daos_event_abort is a no-op), but every RPC ends by CRT_TIMEOUT (seconds, default 60).
std::chrono::seconds reap_deadline() {
  const char* t = std::getenv("CRT_TIMEOUT");
  long v = t ? std::strtol(t, nullptr, 10) : 0;
  return std::chrono::seconds(2 * (v > 0 ? v : 60));
}

const char* launch_name(const IoOp& op) { return op.write ? "dfs_write" : "dfs_read"; }

}  // namespace

// One run_io: a fixed array of slots (an event and what DAOS writes through it) of which at
// most `depth` are in flight. A slot is reused or freed only once its event is out of DAOS.
class EventRun {
 public:
  EventRun(DfsStorage& s, daos::handle_t eq, size_t depth, DfsStorage::IoSource& src, FirstError& errors)
      : s_(s), a_(s.api()), eq_(eq), depth_(depth), slots_(new Slot[depth]), src_(src), errors_(errors) {
    for (size_t i = 0; i < depth_; ++i) free_.push_back(&slots_[i]);
  }
  ~EventRun() {
    if (inflight_ > 0) slots_.release();  // abandoned: DAOS may still write into them
  }

  bool can_launch() const { return !free_.empty(); }
  size_t inflight() const { return inflight_; }

  void launch(IoOp* op);
  // One poll: completes what it returns; 0 or more = events reaped, negative = -DER.
  int poll();
  // After a failed poll: abort every event in flight and reap them all. False if some could
  // not be reaped (the slots are then leaked and the event queue must not be used again).
  bool abort_and_reap();
  bool reap_all();
  // The first of the ops in flight (by slot), to name its path in an error.
  const IoOp* first_inflight() const;
  void record_poll_failure(int der, bool reaped, size_t inflight_at_failure, const IoOp& op);

 private:
  struct Slot {
    daos::event_t ev;  // first member: a completed event pointer is its slot's pointer
    IoOp* op;
    daos::iov_t iov;
    daos::sg_list_t sgl;
    uint64_t nread;
  };
  Slot* slot_of(daos::event_t* ev) const;
  bool is_free(const Slot* s) const { return std::find(free_.begin(), free_.end(), s) != free_.end(); }
  bool out_of_daos(Slot* s);
  void finish(Slot* s, int err, uint64_t done);
  void fail_launch(Slot* s, int err, int der, std::string detail);  // the op never reached DAOS

  DfsStorage& s_;
  const daos::Api& a_;
  daos::handle_t eq_;
  size_t depth_;
  std::unique_ptr<Slot[]> slots_;
  std::vector<Slot*> free_;
  size_t inflight_ = 0;
  DfsStorage::IoSource& src_;
  FirstError& errors_;
};

void EventRun::launch(IoOp* op) {
  Slot* s = free_.back();
  free_.pop_back();
  std::memset(&s->ev, 0, sizeof s->ev);
  s->op = op;
  s->iov = {op->buf, op->length, op->length};
  s->sgl = {1, 0, &s->iov};
  s->nread = 0;
  int rc = a_.daos_event_init(&s->ev, eq_, nullptr);
  if (rc != 0)
    return fail_launch(s, der_to_errno(-rc), -rc, "daos_event_init failed: " + describe_errno(der_to_errno(-rc)));
  rc = op->write ? a_.dfs_write(s_.dfs(), op->obj, &s->sgl, op->offset, &s->ev)
                 : a_.dfs_read(s_.dfs(), op->obj, &s->sgl, op->offset, &s->nread, &s->ev);
  if (rc == 0 && s->ev.ev_error != 0 && out_of_daos(s))
    rc = s->ev.ev_error;  // DAOS 2.4+ dfs_read: failed at launch, reported through an event never queued
  else if (rc != 0)
    a_.daos_event_fini(&s->ev);
  if (rc != 0)
    return fail_launch(s, rc, 0, std::string(launch_name(*op)) + " could not be launched: " + describe_errno(rc));
  ++inflight_;
}

// True when the event is not in flight (never queued, or completed and now pulled out of the
// queue by daos_event_test); then it is finalized. Asked only when ev_error is already set.
bool EventRun::out_of_daos(Slot* s) {
  bool done = false;
  if (a_.daos_event_test(&s->ev, daos::kEqNoWait, &done) != 0) done = a_.daos_event_fini(&s->ev) == 0;
  else if (done) a_.daos_event_fini(&s->ev);
  return done;
}

void EventRun::fail_launch(Slot* s, int err, int der, std::string detail) {
  IoOp* op = s->op;
  op->err = err;
  op->der = der;
  op->detail = std::move(detail);
  free_.push_back(s);
  src_.done(*op);
}

EventRun::Slot* EventRun::slot_of(daos::event_t* ev) const {
  auto* s = reinterpret_cast<Slot*>(ev);
  return (s >= slots_.get() && s < slots_.get() + depth_) ? s : nullptr;
}

void EventRun::finish(Slot* s, int err, uint64_t done) {
  IoOp* op = s->op;
  op->err = err;
  op->done = done;
  a_.daos_event_fini(&s->ev);
  free_.push_back(s);
  --inflight_;
  src_.done(*op);
}

int EventRun::poll() {
  daos::event_t* done[kPollBatch];
  int n = a_.daos_eq_poll(eq_, 1, kPollTimeoutUs, std::min<unsigned>(kPollBatch, inflight_), done);
  for (int i = 0; i < n; ++i) {
    Slot* s = slot_of(done[i]);
    if (!s) {  // cannot happen unless DAOS hands back an event of another run: never touch it
      errors_.record(std::make_exception_ptr(StorageError(EIO, 0, s_.ctx("daos_eq_poll", ""),
                                                          "the event queue returned an unknown event")));
      continue;
    }
    int err = s->ev.ev_error;  // dfs events carry a positive errno
    finish(s, err, s->op->write ? (err ? 0 : s->op->length) : s->nread);
  }
  return n;
}

bool EventRun::abort_and_reap() {
  bool reaped = reap_all();
  if (!reaped) note_abandoned_io();  // the caller's buffers may still be written by DAOS
  return reaped;
}

bool EventRun::reap_all() {
  for (size_t i = 0; i < depth_; ++i)
    if (!is_free(&slots_[i])) a_.daos_event_abort(&slots_[i].ev);  // a no-op on DAOS: they still complete
  auto deadline = std::chrono::steady_clock::now() + reap_deadline();
  int failures = 0;
  while (inflight_ > 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (poll() >= 0) {
      failures = 0;
    } else if (++failures >= kReapPollFailures) {
      return false;
    } else {
      std::this_thread::sleep_for(kReapRetryDelay);
    }
  }
  return true;
}

const IoOp* EventRun::first_inflight() const {
  for (size_t i = 0; i < depth_; ++i)
    if (!is_free(&slots_[i])) return slots_[i].op;
  return nullptr;
}

void EventRun::record_poll_failure(int der, bool reaped, size_t inflight_at_failure, const IoOp& op) {
  std::string detail = "daos_eq_poll failed with " + std::to_string(inflight_at_failure) + " I/O(s) in flight";
  if (reaped)
    detail += "; they were aborted and reaped before returning";
  else
    detail += "; " + std::to_string(inflight_) +
              " of them could not be reaped: DAOS cannot cancel an I/O in flight, so their buffers may still be "
              "written; this connection's event queue was abandoned (a new one serves later I/O)";
  errors_.record(std::make_exception_ptr(
      StorageError(der_to_errno(der), der, s_.ctx(op.write ? "write" : "read", op.path), detail)));
}

void DfsStorage::run_io(IoSource& src, size_t depth, const InterruptCheck& interrupt, FirstError& errors) {
  std::lock_guard<std::mutex> lock(eq_mu_);
  ensure_eq();
  EventRun run(*this, eq_, std::max<size_t>(1, depth), src, errors);
  try {
    drive_io(run, src, interrupt, errors);
  } catch (...) {  // e.g. bad_alloc in a callback: the events in flight still point at the slots
    errors.record(std::current_exception());
    if (run.inflight() > 0 && !run.abort_and_reap()) eq_ = {0}, eq_pid_ = 0;
  }
}

void DfsStorage::drive_io(EventRun& run, IoSource& src, const InterruptCheck& interrupt, FirstError& errors) {
  bool stopping = false;
  auto last_check = std::chrono::steady_clock::now();
  for (;;) {
    while (!stopping && run.can_launch() && !errors.failed()) {
      IoOp* op = src.next();
      if (!op) break;
      run.launch(op);
    }
    if (errors.failed()) stopping = true;
    if (run.inflight() == 0) {
      if (stopping || !src.more()) break;
      src.wait();
      continue;
    }
    int n = run.poll();
    if (n < 0) {  // nothing was reaped by the failed poll: all are still in flight
      size_t inflight = run.inflight();
      const IoOp* in_flight = run.first_inflight();
      bool reaped = run.abort_and_reap();
      run.record_poll_failure(-n, reaped, inflight, *in_flight);
      if (!reaped) eq_ = {0}, eq_pid_ = 0;  // never polled nor destroyed again (eq_mu_ is held)
      return;
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
    ops[k].path = rels[pieces[k].request];
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
    if (rc == ENOENT && !dir_part.empty()) {  // the cached parent may be a removed directory
      parent = dir(dir_part, "read", true);
      rc = a_.dfs_open(dfs_, parent->obj, name.c_str(), S_IFREG, O_RDONLY, 0, 0, nullptr, &obj);
    }
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
      errors.record(std::make_exception_ptr(error(op.err, "read", rels[i], op.detail, op.der)));
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
  for (size_t i = 0; i < nreq; ++i) reqs[i].nread = got[i];
  name_.check_complete(reqs, [&](size_t i) { return std::string_view(rels[i]); });
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
    if (rc == ENOENT && !d.empty()) {  // the cached parent may be a removed directory
      parent = dir(d, "stat", true);
      rc = a_.dfs_stat(dfs(), parent->obj, name.c_str(), &st);
    }
    if (rc != 0) fail(rc, "stat", rel);
  }
  return {static_cast<uint64_t>(st.st_size), static_cast<uint32_t>(st.st_mode),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

void DfsStorage::mkdirs(const std::string& path, uint32_t mode) {
  std::string rel = norm(path, "mkdirs");
  name_.check_writable("mkdirs", rel);
  for_each_prefix(rel, [&](const std::string& prefix) {
    auto [d, base] = split_parent(prefix);
    DirRef parent = dir(d, "mkdirs", true);
    std::string n(base);
    int rc = a_.dfs_mkdir(dfs(), parent->obj, n.c_str(), S_IFDIR | mode, 0);
    if (rc == EEXIST) {
      struct stat st;
      rc = a_.dfs_stat(dfs_, parent->obj, n.c_str(), &st);
      if (rc == 0 && !S_ISDIR(st.st_mode)) fail(ENOTDIR, "mkdirs", prefix, "exists and is not a directory");
    }
    if (rc != 0) fail(rc, "mkdirs", prefix);
  });
}

void DfsStorage::remove(const std::string& path, bool recursive) {
  std::string rel = norm(path, "remove");
  name_.check_writable("remove", rel);
  if (rel.empty()) fail(EPERM, "remove", rel, "cannot remove the container's root");
  auto [d, base] = split_parent(rel);
  DirRef parent = dir(d, "remove", true);
  std::string name(base);
  int rc = a_.dfs_remove(dfs(), parent->obj, name.c_str(), recursive, nullptr);
  if (rc != 0) fail(rc, "remove", rel);
  forget(rel);  // cached handles under the removed path
}

// POSIX renames, which dfs_move is not: dfs_move has no same-name check (the entry is its
// own target: punched, removed, re-inserted and removed again) and no check that a
// directory goes under itself (it would be cut off from the namespace).
void DfsStorage::rename(const std::string& from, const std::string& to) {
  std::string a = norm(from, "rename"), b = norm(to, "rename");
  name_.check_writable("rename", a);
  if (a.empty() || b.empty()) fail(EPERM, "rename", a, "cannot rename the container's root");
  auto [da, na] = split_parent(a);
  auto [db, nb] = split_parent(b);
  DirRef pa = dir(da, "rename", true);
  std::string sa(na), sb(nb);
  if (a == b) {  // onto itself: nothing to do, once the name is known to exist
    struct stat st;
    int rc = a_.dfs_stat(dfs(), pa->obj, sa.c_str(), &st);
    if (rc != 0) fail(rc, "rename", a);
    return;
  }
  DirRef pb = dir(db, "rename", true);  // a file as `to`'s parent fails here with ENOTDIR
  if (b.size() > a.size() && b.compare(0, a.size(), a) == 0 && b[a.size()] == '/')
    fail(EINVAL, "rename", a, "cannot move a directory into itself ('" + display_path(b) + "')");
  int rc = a_.dfs_move(dfs(), pa->obj, sa.c_str(), pb->obj, sb.c_str(), nullptr);
  if (rc != 0) fail(rc, "rename", a, "to '" + display_path(b) + "': " + describe_errno(rc));
  drop_cache();  // a renamed directory invalidates cached paths below it
}

// DFS has no hard links: the data moves to the new name. dfs_move onto an existing name
// would punch that name's object first, so an existing `to` is refused (checked just before;
// two processes racing for one new name is the caller's to avoid).
bool DfsStorage::keep_as(const std::string& from, const std::string& to) {
  std::string a = norm(from, "keep_as"), b = norm(to, "keep_as");
  name_.check_writable("keep_as", b);
  if (a.empty() || b.empty()) fail(EPERM, "keep_as", a, "the container's root is not a file");
  if (a == b) fail(EEXIST, "keep_as", b);
  auto [db, nb] = split_parent(b);
  DirRef pb = dir(db, "keep_as", true);
  struct stat st;
  std::string sb(nb);
  int rc = a_.dfs_stat(dfs(), pb->obj, sb.c_str(), &st);
  if (rc == 0) fail(EEXIST, "keep_as", b);
  if (rc != ENOENT) fail(rc, "keep_as", b);
  rename(from, to);
  return false;
}

std::vector<std::pair<std::string, bool>> DfsStorage::listdir(const std::string& path) {
  std::string rel = norm(path, "listdir");
  DirRef d = dir(rel, "listdir", true);
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
  dfs();
  return encode_handle(kDfsHandleTag, {name_.pool(), name_.container(), sys_, name_.read_only() ? "ro" : "rw",
                                       dfsmounts::global_form(*mount_, ctx("serialize", ""))});
}

void DfsStorage::hand_out() {
  dfs();
  dfsmounts::hand_out(*mount_);
}

namespace dfs {

std::unique_ptr<Storage> connect(const std::string& pool, const std::string& container, const std::string& system,
                                 bool read_only) {
  return std::make_unique<DfsStorage>(pool, container, system, read_only, std::string());
}

bool is_handle(const std::string& blob) { return has_tag(blob, kDfsHandleTag); }

std::unique_ptr<Storage> attach(const std::string& blob) {
  auto f = decode_handle(blob, kDfsHandleTag, 5, "DAOS");
  if (f[4].empty()) throw_errno(EINVAL, {"attach", "", "", ""}, "not a serialized DAOS container handle");
  return std::make_unique<DfsStorage>(f[0], f[1], f[2], f[3] == "ro", f[4]);
}

void close_kept_connections() { dfsmounts::close_all(); }

}  // namespace dfs
}  // namespace pdt
