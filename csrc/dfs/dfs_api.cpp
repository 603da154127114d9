#include "dfs/dfs_api.h"

#include <dlfcn.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <type_traits>
#include <vector>

#include "errors.h"

namespace pdt::daos {
namespace {

std::mutex g_mu;
Api* g_api = nullptr;
Api* g_raw = nullptr;  // the symbols as resolved; g_api holds gated wrappers of them

template <typename F>
struct Gated;
template <typename R, typename... A>
struct Gated<R (*)(A...)> {
  using Fn = R (*)(A...);
  template <Fn Api::*Member>
  static R call(A... args) {
    CallGate& gate = call_gate();
    gate.enter();
    struct Leave {
      CallGate& g;
      ~Leave() { g.leave(); }
    } leave{gate};
    return (g_raw->*Member)(args...);
  }
};

// Resolves `name` into raw.*Member and puts its gated wrapper into gated.*Member.
template <auto Member>
void resolve(void* lib, const char* name, Api& raw, Api& gated, std::vector<std::string>* missing) {
  using Fn = std::remove_reference_t<decltype(raw.*Member)>;
  raw.*Member = reinterpret_cast<Fn>(::dlsym(lib, name));
  if (!(raw.*Member) && missing) missing->push_back(name);
  gated.*Member = raw.*Member ? &Gated<Fn>::template call<Member> : nullptr;
}

}  // namespace

CallGate::CallGate() { init(); }

void CallGate::init() {
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&lock_, &attr);
  pthread_rwlockattr_destroy(&attr);
}

void CallGate::enter() { pthread_rwlock_rdlock(&lock_); }
void CallGate::leave() { pthread_rwlock_unlock(&lock_); }
void CallGate::lock_for_fork() { pthread_rwlock_wrlock(&lock_); }
void CallGate::unlock_after_fork() { pthread_rwlock_unlock(&lock_); }
void CallGate::reset_in_child() { init(); }

CallGate& call_gate() {
  static CallGate* gate = new CallGate();  // leaked: calls may run during static destruction
  return *gate;
}

std::string library_name() {
  const char* env = std::getenv("PYDAOS_TORCH_LIBDFS");
  return (env && *env) ? env : "libdfs.so";
}

std::string Api::version_floor() const {
  if (daos_reinit) return "2.6.4";
  if (dfs_readdirplus) return "2.4";
  return "2.2";
}

const Api& api() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_api) return *g_api;
  std::string name = library_name();
  ErrorContext ctx{"load libdfs", "", "", ""};
  // RTLD_GLOBAL: libdfs's dependencies (libdaos, libgurt) are shared with anything else
  // in the process that uses DAOS.
  void* lib = ::dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    const char* why = ::dlerror();
    throw_errno(ELIBACC, ctx,
                "cannot load the DAOS client library '" + name + "': " + (why ? why : "unknown error") +
                    ". Install the DAOS client (daos-client package), add its lib64 directory to "
                    "LD_LIBRARY_PATH, or set PYDAOS_TORCH_LIBDFS to the path of libdfs.so");
  }
  auto* a = new Api();
  auto* raw = new Api();
  a->lib = raw->lib = lib;
  a->path = raw->path = name;
  std::vector<std::string> missing;
#define PDT_REQUIRE(sym) resolve<&Api::sym>(lib, #sym, *raw, *a, &missing)
  PDT_REQUIRE(daos_init);
  PDT_REQUIRE(daos_fini);
  PDT_REQUIRE(daos_eq_create);
  PDT_REQUIRE(daos_eq_destroy);
  PDT_REQUIRE(daos_eq_poll);
  PDT_REQUIRE(daos_event_init);
  PDT_REQUIRE(daos_event_fini);
  PDT_REQUIRE(daos_event_test);
  PDT_REQUIRE(daos_event_abort);
  PDT_REQUIRE(daos_oclass_name2id);
  PDT_REQUIRE(daos_pool_connect2);
  PDT_REQUIRE(daos_pool_disconnect);
  PDT_REQUIRE(daos_cont_open2);
  PDT_REQUIRE(daos_cont_close);
  PDT_REQUIRE(daos_pool_local2global);
  PDT_REQUIRE(daos_pool_global2local);
  PDT_REQUIRE(daos_cont_local2global);
  PDT_REQUIRE(daos_cont_global2local);
  PDT_REQUIRE(dfs_mount);
  PDT_REQUIRE(dfs_umount);
  PDT_REQUIRE(dfs_local2global);
  PDT_REQUIRE(dfs_global2local);
  // DAOS 2.0 is not supported (other event and attribute layouts): dfs_connect marks 2.2.
  a->dfs_connect_probe = raw->dfs_connect_probe = ::dlsym(lib, "dfs_connect");
  if (!a->dfs_connect_probe) missing.push_back("dfs_connect");
  PDT_REQUIRE(dfs_lookup);
  PDT_REQUIRE(dfs_open);
  PDT_REQUIRE(dfs_release);
  PDT_REQUIRE(dfs_read);
  PDT_REQUIRE(dfs_write);
  PDT_REQUIRE(dfs_get_size);
  PDT_REQUIRE(dfs_punch);
  PDT_REQUIRE(dfs_stat);
  PDT_REQUIRE(dfs_readdir);
  PDT_REQUIRE(dfs_obj_anchor_split);
  PDT_REQUIRE(dfs_obj_anchor_set);
  PDT_REQUIRE(dfs_mkdir);
  PDT_REQUIRE(dfs_remove);
  PDT_REQUIRE(dfs_move);
  PDT_REQUIRE(dfs_sync);
#undef PDT_REQUIRE
  resolve<&Api::dfs_readdirplus>(lib, "dfs_readdirplus", *raw, *a, nullptr);
  resolve<&Api::daos_reinit>(lib, "daos_reinit", *raw, *a, nullptr);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    bool old = false;
    for (const auto& m : missing) old |= (m == "dfs_connect");
    ::dlclose(lib);
    delete a;
    delete raw;
    throw_errno(ELIBACC, ctx,
                "the DAOS client library '" + name + "' lacks symbol(s): " + list +
                    (old ? " (pydaos-torch needs DAOS 2.2 or newer)" : ""));
  }
  g_raw = raw;
  g_api = a;
  return *g_api;
}

bool available(std::string* why) {
  try {
    api();
    return true;
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return false;
  }
}

}  // namespace pdt::daos
