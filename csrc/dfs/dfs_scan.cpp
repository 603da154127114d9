// Parallel namespace scan of a DFS container.
//
// dfs_readdirplus costs about two round trips per entry, serially inside one call, so we
// take names with dfs_readdir and stat them on many native threads. Directories run in
// parallel; a directory whose object has several shards (an SX class) is split with
// dfs_obj_anchor_split so each shard is listed by its own thread.
#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "dfs/dfs_storage.h"
#include "paths.h"
#include "work_queue.h"

namespace pdt {
namespace {

struct ScanState {
  ScanState(DfsStorage& st, std::string t, uint32_t b) : s(st), top(std::move(t)), batch(b) {}
  DfsStorage& s;
  std::string top;
  uint32_t batch;
  std::mutex mu;
  std::vector<Index::Entry> entries;
  ScanCounters counters;
};

void stat_names(ScanState& st, WorkQueue& q, const std::string& rel_dir, std::vector<std::string> names);

// Lists one directory (or one shard of it when shard >= 0), queueing stat batches.
void list_dir(ScanState& st, WorkQueue& q, const std::string& rel_dir, int shard) {
  const daos::Api& a = st.s.api();
  std::string abs_dir = join_path(st.top, rel_dir);
  DirRef d;
  try {
    d = st.s.dir(abs_dir, "scan");
  } catch (const StorageError& e) {
    if (e.err() != ENOENT || rel_dir.empty()) throw;
    ++st.counters.vanished;  // a subdirectory removed since its parent was listed
    return;
  }
  DirRef holder = d;
  if (!d->obj) {  // the root: readdir needs an object of its own
    daos::dfs_obj_t* obj = nullptr;
    mode_t mode;
    int rc = a.dfs_lookup(st.s.dfs(), "/", O_RDONLY, &obj, &mode, nullptr);
    if (rc != 0) st.s.fail(rc, "scan", abs_dir);
    holder = make_dir_ref(&a, obj);
  }
  daos::anchor_t anchor;
  std::memset(&anchor, 0, sizeof anchor);
  if (shard < 0) {
    uint32_t nr = 0;  // 0 asks for DAOS's recommendation: one per shard group
    if (a.dfs_obj_anchor_split(holder->obj, &nr, nullptr) == 0 && nr > 1) {
      for (uint32_t i = 0; i < nr; ++i)
        q.push([&st, rel_dir, i](WorkQueue& q2) { list_dir(st, q2, rel_dir, static_cast<int>(i)); });
      return;
    }
  } else {
    int rc = a.dfs_obj_anchor_set(holder->obj, static_cast<uint32_t>(shard), &anchor);
    if (rc != 0) st.s.fail(rc, "scan", abs_dir, "dfs_obj_anchor_set failed");
  }
  std::vector<struct dirent> ents(st.batch);
  for (;;) {
    uint32_t n = st.batch;
    int rc = a.dfs_readdir(st.s.dfs(), holder->obj, &anchor, &n, ents.data());
    if (rc != 0) st.s.fail(rc, "scan", abs_dir);
    if (n > 0) {
      std::vector<std::string> names;
      names.reserve(n);
      for (uint32_t i = 0; i < n; ++i) names.emplace_back(ents[i].d_name);
      q.push([&st, rel_dir, names = std::move(names)](WorkQueue& q2) mutable {
        stat_names(st, q2, rel_dir, std::move(names));
      });
    }
    if (n == 0 || anchor.da_type == daos::kAnchorEof) break;
  }
  if (shard <= 0) ++st.counters.dirs_done;
}

void stat_names(ScanState& st, WorkQueue& q, const std::string& rel_dir, std::vector<std::string> names) {
  const daos::Api& a = st.s.api();
  std::string abs_dir = join_path(st.top, rel_dir);
  DirRef d = st.s.dir(abs_dir, "scan");
  std::vector<Index::Entry> local;
  for (const auto& name : names) {
    struct stat sb;
    int rc = a.dfs_stat(st.s.dfs(), d->obj, name.c_str(), &sb);
    if (rc == ENOENT) {  // removed while we listed: skipped and counted
      ++st.counters.vanished;
      continue;
    }
    if (rc != 0) st.s.fail(rc, "scan", join_path(abs_dir, name));
    std::string rel = join_path(rel_dir, name);
    if (S_ISDIR(sb.st_mode))
      q.push([&st, rel](WorkQueue& q2) { list_dir(st, q2, rel, -1); });
    else if (S_ISREG(sb.st_mode))
      local.push_back({std::move(rel), static_cast<uint64_t>(sb.st_size)});
  }
  st.counters.files += local.size();
  std::lock_guard<std::mutex> lock(st.mu);
  st.entries.insert(st.entries.end(), std::make_move_iterator(local.begin()), std::make_move_iterator(local.end()));
}

}  // namespace

Index DfsStorage::scan(const std::string& path, const ScanOptions& opts) {
  std::string top = norm(path, "scan");
  forget(top);  // another process may have re-made directories under it: look them up anew
  FileInfo info = stat(top);
  if (!S_ISDIR(info.mode)) fail(ENOTDIR, "scan", top);
  ScanState st{*this, top, std::max<uint32_t>(1, opts.readdir_batch)};
  WorkQueue queue;
  queue.push([&st](WorkQueue& q) { list_dir(st, q, "", -1); });
  return finish_scan(queue, opts.threads ? opts.threads : 16, opts, st.counters, top, st.entries);
}

}  // namespace pdt
