#include "storage.h"

#include "dfs/dfs_mounts.h"

#include <cerrno>
#include <cstring>

namespace pdt {

std::vector<ReadPiece> split_pieces(const std::vector<ReadRequest>& reqs, uint64_t min_piece, size_t streams) {
  std::vector<ReadPiece> out;
  out.reserve(reqs.size());
  constexpr uint64_t kMiB = 1 << 20;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const ReadRequest& r = reqs[i];
    uint64_t piece = min_piece;
    if (streams > 1) piece = std::max(min_piece, ((r.length + streams - 1) / streams + kMiB - 1) / kMiB * kMiB);
    uint64_t done = 0;
    do {
      uint64_t len = std::min(piece, r.length - done);
      out.push_back({i, r.offset + done, len, r.buf + done});
      done += len;
    } while (done < r.length);
  }
  return out;
}

void FirstError::record(std::exception_ptr e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!first_) first_ = e;
  else ++others_;
  failed_.store(true, std::memory_order_relaxed);
}

void FirstError::rethrow() {
  std::lock_guard<std::mutex> lock(mu_);
  if (others_ > 0) {
    try {
      std::rethrow_exception(first_);
    } catch (const StorageError& e) {
      throw StorageError(e.err(), e.der(), e.context(),
                         (e.detail().empty() ? describe_errno(e.err()) : e.detail()) + "; " +
                             std::to_string(others_) + " more I/O(s) in the batch failed");
    }
  }
  std::rethrow_exception(first_);
}

}  // namespace pdt

#include "dfs/dfs_storage.h"
#include "local/local_storage.h"

namespace pdt {

std::unique_ptr<Storage> connect_local(const std::string& root, const std::string& pool,
                                       const std::string& container, bool read_only, bool direct_io) {
  return make_local_storage({root, pool, container, read_only, direct_io});
}

std::unique_ptr<Storage> connect_dfs(const std::string& pool, const std::string& container,
                                     const std::string& system, bool read_only) {
  return std::make_unique<DfsStorage>(pool, container, system, read_only, std::string());
}

void close_kept_connections() {
  dfsmounts::close_all();  // touches DAOS only where a mount was made
}

std::unique_ptr<Storage> attach_storage(const std::string& blob) {
  if (blob.rfind(kLocalBlobTag, 0) == 0) return attach_local_storage(blob);
  if (blob.rfind(kDfsBlobTag, 0) == 0) return attach_dfs_storage(blob);
  throw_errno(EINVAL, {"attach", "", "", ""}, "not a serialized container handle");
}

}  // namespace pdt
