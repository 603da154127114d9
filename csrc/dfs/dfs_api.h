// DAOS's client API as seen through dlopen(): our own declarations of the few types we
// pass across (layouts from DAOS 2.2-2.8, see docs/architecture.md), and a table of every
// function pointer we use, resolved at run time so one build works with or without DAOS.
#pragma once
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace pdt::daos {

struct handle_t { uint64_t cookie; };
struct obj_id_t { uint64_t lo, hi; };
struct iov_t { void* iov_buf; size_t iov_buf_len; size_t iov_len; };
struct sg_list_t { uint32_t sg_nr; uint32_t sg_nr_out; iov_t* sg_iovs; };
struct anchor_t {
  uint16_t da_type;  // 3 = EOF
  uint16_t da_shard;
  uint32_t da_flags;
  uint64_t da_sub_anchors;
  uint8_t da_buf[104];
};
// daos_event_t is 168 B (2.0) or 176 B (2.2+); we reserve more and only read ev_error.
struct alignas(16) event_t {
  int ev_error;
  unsigned char opaque[252];
};
struct dfs_t;
struct dfs_obj_t;

static_assert(sizeof(iov_t) == 24, "d_iov_t layout");
static_assert(sizeof(sg_list_t) == 16, "d_sg_list_t layout");
static_assert(sizeof(anchor_t) == 120, "daos_anchor_t layout");
static_assert(offsetof(event_t, ev_error) == 0, "daos_event_t.ev_error at offset 0");

// DAOS's values (tests/test_daos_headers.py holds them against each release's headers)
constexpr int kAnchorEof = 3;                             // DAOS_ANCHOR_TYPE_EOF
constexpr int64_t kEqNoWait = 0;                          // DAOS_EQ_NOWAIT
constexpr int kEqDestroyForce = 1;                        // DAOS_EQ_DESTROY_FORCE
constexpr unsigned kPoolConnectRO = 1, kPoolConnectRW = 2;  // DAOS_PC_RO, DAOS_PC_RW
constexpr unsigned kContOpenRO = 1, kContOpenRW = 2;        // DAOS_COO_RO, DAOS_COO_RW
constexpr uint64_t kMaxFileSize = ~0ull;                  // DFS_MAX_FSIZE: dfs_punch to the end

struct Api {
  void* lib = nullptr;
  std::string path;  // what was loaded

  // libdaos (found through libdfs's dependencies); negative DER codes
  int (*daos_init)();
  int (*daos_fini)();
  int (*daos_eq_create)(handle_t*);
  int (*daos_eq_destroy)(handle_t, int);
  int (*daos_eq_poll)(handle_t, int, int64_t, unsigned, event_t**);
  int (*daos_event_init)(event_t*, handle_t, event_t*);
  int (*daos_event_fini)(event_t*);
  int (*daos_event_test)(event_t*, int64_t, bool*);  // 2.0+
  int (*daos_event_abort)(event_t*);  // 2.0+; a no-op in every release (event.c), but the API
  int (*daos_oclass_name2id)(const char*);
  int (*daos_pool_connect2)(const char*, const char*, unsigned, handle_t*, void*, event_t*);
  int (*daos_pool_disconnect)(handle_t, event_t*);
  int (*daos_cont_open2)(handle_t, const char*, unsigned, handle_t*, void*, event_t*);
  int (*daos_cont_close)(handle_t, event_t*);
  int (*daos_pool_local2global)(handle_t, iov_t*);
  int (*daos_pool_global2local)(iov_t, handle_t*);
  int (*daos_cont_local2global)(handle_t, iov_t*);
  int (*daos_cont_global2local)(handle_t, iov_t, handle_t*);
  // libdfs; positive errno. We mount on handles of our own (dfs_mount) rather than through
  // dfs_connect, whose handle cache ignores the access mode (see dfs_mounts.h).
  int (*dfs_mount)(handle_t, handle_t, int, dfs_t**);
  int (*dfs_umount)(dfs_t*);
  int (*dfs_local2global)(dfs_t*, iov_t*);
  int (*dfs_global2local)(handle_t, handle_t, int, iov_t, dfs_t**);
  int (*dfs_lookup)(dfs_t*, const char*, int, dfs_obj_t**, mode_t*, struct stat*);
  int (*dfs_open)(dfs_t*, dfs_obj_t*, const char*, mode_t, int, uint32_t, uint64_t, const char*, dfs_obj_t**);
  int (*dfs_release)(dfs_obj_t*);
  int (*dfs_read)(dfs_t*, dfs_obj_t*, sg_list_t*, uint64_t, uint64_t*, event_t*);
  int (*dfs_write)(dfs_t*, dfs_obj_t*, sg_list_t*, uint64_t, event_t*);
  int (*dfs_get_size)(dfs_t*, dfs_obj_t*, uint64_t*);
  int (*dfs_punch)(dfs_t*, dfs_obj_t*, uint64_t, uint64_t);
  int (*dfs_stat)(dfs_t*, dfs_obj_t*, const char*, struct stat*);
  int (*dfs_readdir)(dfs_t*, dfs_obj_t*, anchor_t*, uint32_t*, struct dirent*);
  int (*dfs_obj_anchor_split)(dfs_obj_t*, uint32_t*, anchor_t*);
  int (*dfs_obj_anchor_set)(dfs_obj_t*, uint32_t, anchor_t*);
  int (*dfs_mkdir)(dfs_t*, dfs_obj_t*, const char*, mode_t, uint32_t);
  int (*dfs_remove)(dfs_t*, dfs_obj_t*, const char*, bool, obj_id_t*);
  int (*dfs_move)(dfs_t*, dfs_obj_t*, const char*, dfs_obj_t*, const char*, obj_id_t*);
  int (*dfs_sync)(dfs_t*);
  // optional, probed by symbol (there is no version call before DAOS 2.8)
  void* dfs_connect_probe;  // dfs_connect (2.2+): only proves the release, never called
  int (*dfs_readdirplus)(dfs_t*, dfs_obj_t*, anchor_t*, uint32_t*, struct dirent*, struct stat*);  // 2.4+
  int (*daos_reinit)();  // 2.6.4+: makes fork without exec safe

  std::string version_floor() const;  // "2.2", "2.4" or "2.6.4": what the symbols prove
};

// Every call through api() holds this gate shared; fork takes it exclusively, so no thread
// of ours is inside DAOS when a child is forked. (On DAOS such a child keeps the locks and
// the network context that thread held, forever: daos_reinit resets neither.)
class CallGate {
 public:
  CallGate();
  void enter();  // waits while a fork is pending (writer preference: fork is not starved)
  void leave();
  void lock_for_fork();
  void unlock_after_fork();  // in the parent
  void reset_in_child();     // the lock word still counts the parent's waiting threads

 private:
  void init();
  pthread_rwlock_t lock_;
};
CallGate& call_gate();

// Loads libdfs once per process: $PYDAOS_TORCH_LIBDFS, else "libdfs.so" from the loader's
// search path. Throws StorageError naming the library and any missing symbol. The table's
// pointers enter call_gate() around each call.
const Api& api();
// The library path that api() would load, for messages.
std::string library_name();
// True when libdfs can be loaded (without throwing).
bool available(std::string* why = nullptr);

}  // namespace pdt::daos
