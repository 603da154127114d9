#include "dfs/dfs_api.h"

#include <dlfcn.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "errors.h"

namespace pdt::daos {
namespace {

std::mutex g_mu;
Api* g_api = nullptr;

template <typename T>
void resolve(void* lib, const char* name, T& slot, std::vector<std::string>* missing) {
  slot = reinterpret_cast<T>(::dlsym(lib, name));
  if (!slot && missing) missing->push_back(name);
}

}  // namespace

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
  a->lib = lib;
  a->path = name;
  std::vector<std::string> missing;
#define PDT_REQUIRE(sym) resolve(lib, #sym, a->sym, &missing)
  PDT_REQUIRE(daos_init);
  PDT_REQUIRE(daos_fini);
  PDT_REQUIRE(daos_eq_create);
  PDT_REQUIRE(daos_eq_destroy);
  PDT_REQUIRE(daos_eq_poll);
  PDT_REQUIRE(daos_event_init);
  PDT_REQUIRE(daos_event_fini);
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
  resolve(lib, "dfs_connect", a->dfs_connect_probe, &missing);
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
  resolve(lib, "dfs_readdirplus", a->dfs_readdirplus, nullptr);
  resolve(lib, "daos_reinit", a->daos_reinit, nullptr);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    bool old = false;
    for (const auto& m : missing) old |= (m == "dfs_connect");
    ::dlclose(lib);
    delete a;
    throw_errno(ELIBACC, ctx,
                "the DAOS client library '" + name + "' lacks symbol(s): " + list +
                    (old ? " (pydaos-torch needs DAOS 2.2 or newer)" : ""));
  }
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
