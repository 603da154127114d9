// Reaching a storage: the one place that knows every backend.
#pragma once
#include <memory>
#include <string>

#include "storage.h"

namespace pdt {

std::unique_ptr<Storage> connect_local(const std::string& root, const std::string& pool,
                                       const std::string& container, bool read_only, bool direct_io);
std::unique_ptr<Storage> connect_dfs(const std::string& pool, const std::string& container,
                                     const std::string& system, bool read_only);
// Attaches in this process to a container serialized by Storage::serialize_handle(); the
// blob's tag names its backend.
std::unique_ptr<Storage> attach_storage(const std::string& blob);
// Closes the connections kept open for other processes after their last local user (see
// Storage::hand_out); called at interpreter exit.
void close_kept_connections();

}  // namespace pdt
