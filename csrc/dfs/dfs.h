// The DAOS backend's public face: a DFS (POSIX) container reached through libdfs, loaded at
// run time. Its classes are private (dfs_storage.h).
#pragma once
#include <memory>
#include <string>

#include "storage.h"

namespace pdt::dfs {

std::unique_ptr<Storage> connect(const std::string& pool, const std::string& container, const std::string& system,
                                 bool read_only);
// From Storage::serialize_handle() bytes of a DAOS container: no new connection.
bool is_handle(const std::string& blob);
std::unique_ptr<Storage> attach(const std::string& blob);
// Closes the connections kept for other processes (touches DAOS only where a mount was made).
void close_kept_connections();

}  // namespace pdt::dfs
