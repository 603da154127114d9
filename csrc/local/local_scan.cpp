// The local namespace scan: directories listed in parallel on native threads (a directory
// item queues its subdirectories), regular files collected with their sizes.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <mutex>

#include "local/local_storage.h"
#include "paths.h"
#include "work_queue.h"

namespace pdt::local {

Index LocalStorage::scan(const std::string& path, const ScanOptions& opts) {
  std::string top = norm(path, "scan");
  {
    Fd probe = open_or_throw(top, O_PATH, "scan");
    struct stat st;
    if (::fstat(probe.fd, &st) != 0) fail(errno, "scan", top);
    if (!S_ISDIR(st.st_mode)) fail(ENOTDIR, "scan", top);
  }
  std::mutex mu;
  std::vector<Index::Entry> entries;
  ScanCounters counters;

  std::function<void(WorkQueue&, std::string)> scan_dir = [&](WorkQueue& q, std::string rel_dir) {
    std::string abs_dir = join_path(top, rel_dir);
    int dir_fd = open_beneath(abs_dir, O_RDONLY | O_DIRECTORY);
    if (dir_fd == -ENOENT && !rel_dir.empty()) {  // removed since its parent was listed
      ++counters.vanished;
      return;
    }
    if (dir_fd < 0) fail(-dir_fd, "scan", abs_dir);
    Fd fd(dir_fd);
    std::vector<Index::Entry> found;
    for_each_entry(fd, abs_dir, [&](const char* name, unsigned char type, int dfd) {
      struct stat st;
      if (type == DT_UNKNOWN || type == DT_REG) {
        if (::fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
          if (errno == ENOENT) {  // removed since the listing: skipped, as os.walk does
            ++counters.vanished;
            return;
          }
          fail(errno, "scan", join_path(abs_dir, name));
        }
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
      }
      if (type == DT_DIR) {
        std::string sub = join_path(rel_dir, name);
        q.push([&scan_dir, sub](WorkQueue& q2) { scan_dir(q2, sub); });
      } else if (type == DT_REG) {
        found.push_back({join_path(rel_dir, name), static_cast<uint64_t>(st.st_size)});
      }
    });
    counters.files += found.size();
    ++counters.dirs_done;
    std::lock_guard<std::mutex> lock(mu);
    if (entries.empty()) entries = std::move(found);
    else entries.insert(entries.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
  };

  WorkQueue queue;
  queue.push([&scan_dir](WorkQueue& q) { scan_dir(q, ""); });
  size_t threads = opts.threads ? opts.threads : std::min<size_t>(16, 2 * cpu_count());
  return finish_scan(queue, threads, opts, counters, top, entries);
}

}  // namespace pdt::local
