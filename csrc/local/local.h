// The local backend's public face: a directory on a POSIX file system acting as a DAOS
// container, either <root>/<pool>/<container>/ or a root that is itself the container (a
// dfuse mount). Its classes are private (local_storage.h).
#pragma once
#include <memory>
#include <string>

#include "storage.h"

namespace pdt::local {

struct Config {
  std::string root;       // host path of the root
  std::string pool;       // "" when the root is the container
  std::string container;  // "" when the root is the container
  bool read_only = false;
  bool direct_io = false;  // O_DIRECT for batch reads where buffers allow it
};

std::unique_ptr<Storage> connect(const Config& cfg);
// From Storage::serialize_handle() bytes of a local container.
bool is_handle(const std::string& blob);
std::unique_ptr<Storage> attach(const std::string& blob);

}  // namespace pdt::local
