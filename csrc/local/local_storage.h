// The local backend: a directory on a POSIX file system acting as a DAOS container,
// either <root>/<pool>/<container>/ or a root that is itself the container (a dfuse mount).
//
// Confinement: every path is opened relative to the container's directory descriptor with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so neither ".." nor a symbolic link can
// reach outside the container (the kernel answers EXDEV, reported as PermissionError).
#pragma once
#include <memory>
#include <string>

#include "storage.h"

namespace pdt {


struct LocalConfig {
  std::string root;       // absolute host path of the root
  std::string pool;       // "" when the root is the container
  std::string container;  // "" when the root is the container
  bool read_only = false;
  bool direct_io = false;  // O_DIRECT for batch reads where buffers allow it
};

std::unique_ptr<Storage> make_local_storage(const LocalConfig& cfg);
std::unique_ptr<Storage> attach_local_storage(const std::string& blob);
constexpr char kLocalBlobTag[] = "PDTLOCAL1";

}  // namespace pdt
