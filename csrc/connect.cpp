#include "connect.h"

#include <cerrno>

#include "dfs/dfs.h"
#include "local/local.h"

namespace pdt {

std::unique_ptr<Storage> connect_local(const std::string& root, const std::string& pool,
                                       const std::string& container, bool read_only, bool direct_io) {
  return local::connect({root, pool, container, read_only, direct_io});
}

std::unique_ptr<Storage> connect_dfs(const std::string& pool, const std::string& container,
                                     const std::string& system, bool read_only) {
  return dfs::connect(pool, container, system, read_only);
}

std::unique_ptr<Storage> attach_storage(const std::string& blob) {
  if (local::is_handle(blob)) return local::attach(blob);
  if (dfs::is_handle(blob)) return dfs::attach(blob);
  throw_errno(EINVAL, {"attach", "", "", ""}, "not a serialized container handle");
}

void close_kept_connections() { dfs::close_kept_connections(); }

}  // namespace pdt
