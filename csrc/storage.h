// The one storage interface of the core. Two implementations: dfs/ (DAOS through libdfs,
// loaded at run time) and local/ (a POSIX directory acting as a container), reached through
// connect.h; helpers both share are in backend_common.h.
//
// Every path is a container path (see paths.h). Every call may block: callers release the
// GIL around them. Long calls take an InterruptCheck that they run every ~50 ms from the
// calling thread, and stop early (throwing Interrupted) when it returns true.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "index.h"
#include "io_profile.h"
#include "requests.h"
#include "thread_pool.h"

namespace pdt {

struct FileInfo {
  uint64_t size = 0;
  uint32_t mode = 0;     // st_mode: type and permission bits
  int64_t mtime_ns = 0;
};

struct BatchOptions {
  size_t depth = 0;          // I/Os in flight; 0 = the backend's default
  InterruptCheck interrupt;  // may be empty
  bool normalized = false;   // paths are already normalized (they come from an Index)
};

struct ScanOptions {
  size_t threads = 0;          // 0 = the backend's default
  uint32_t readdir_batch = 128;  // dirents per readdir call (dfs)
  InterruptCheck interrupt;
  // Called from the calling thread about twice a second: (directories done, files found).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct OpenOptions {
  bool write = false;
  bool create = false;
  bool truncate = false;
  bool exclusive = false;
  uint32_t mode = 0644;
  std::string object_class;  // dfs: DAOS object class name ("" = container default)
  uint64_t chunk_size = 0;   // dfs: array chunk size (0 = container default)
};

class File {
 public:
  virtual ~File() = default;
  virtual const std::string& path() const = 0;
  // Reads len bytes at off; a short read throws unless up_to. Returns the bytes read.
  virtual uint64_t read_at(char* buf, uint64_t len, uint64_t off, bool up_to) = 0;
  virtual void write_at(const char* buf, uint64_t len, uint64_t off) = 0;
  // Many writes in parallel (dfs: event queue; local: native threads).
  virtual void write_many(std::vector<WriteRequest>& reqs, const BatchOptions& opts) = 0;
  virtual uint64_t size() = 0;
  virtual void truncate(uint64_t size) = 0;
  // local: fsync(2). dfs: dfs_sync(), which DAOS implements as a no-op: a completed
  // dfs_write is already durable on the servers.
  virtual void sync() = 0;
  // Starts writing [off, off + len) to the device without waiting, so that a later sync()
  // finds little left (local: sync_file_range(SYNC_FILE_RANGE_WRITE)). Best effort: returns
  // false where it does nothing (dfs: nothing is cached on the client) or is unsupported.
  virtual bool start_writeback(uint64_t off, uint64_t len) {
    (void)off;
    (void)len;
    return false;
  }
  // Drops this file's cached pages when all of them are clean, so that a file about to be
  // superseded frees its memory (local: posix_fadvise(DONTNEED), checked with cachestat(2)
  // where the kernel has it). Best effort: returns false where it did nothing (dfs: the client
  // caches no file data).
  virtual bool drop_clean_cache() { return false; }
  virtual void close() = 0;
};

class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::string backend() const = 0;    // "dfs" or "local"
  virtual const std::string& pool() const = 0;
  virtual const std::string& container() const = 0;
  virtual bool read_only() const = 0;
  virtual std::string describe() const = 0;   // for repr and messages
  virtual std::string features() const { return {}; }  // e.g. DAOS feature probes
  // How this storage wants its I/O done, computed once by the backend (io_profile.h).
  virtual const IoProfile& profile() const = 0;

  virtual FileInfo stat(const std::string& path) = 0;
  virtual std::unique_ptr<File> open(const std::string& path, const OpenOptions& opts) = 0;
  // Reads every request; on failure throws the first error (naming how many others failed)
  // after every I/O in flight has ended.
  virtual void read_batch(std::vector<ReadRequest>& reqs, const BatchOptions& opts) = 0;
  virtual void mkdirs(const std::string& path, uint32_t mode) = 0;
  // Removes a file or an empty directory (or a whole tree when recursive).
  virtual void remove(const std::string& path, bool recursive) = 0;
  // Renames `from` onto `to`. local: atomic rename(2). dfs: dfs_move, which replaces an
  // existing target atomically only when DAOS runs with DTX (DFS_USE_DTX=1).
  virtual void rename(const std::string& from, const std::string& to) = 0;
  // Gives the data of file `from` the new name `to` (which must not exist: EEXIST), keeping
  // `from` where the storage can. local: a hard link (linkat), `from` stays. dfs: DFS has
  // no links, so a dfs_move onto the free name, `from` goes (a crash inside it can leave both
  // names on the one object). Returns whether `from` still names the data.
  virtual bool keep_as(const std::string& from, const std::string& to) = 0;
  // Names in one directory, sorted, with (is_dir).
  virtual std::vector<std::pair<std::string, bool>> listdir(const std::string& path) = 0;
  // Recursive parallel scan of regular files under `path`; symbolic links are skipped.
  virtual Index scan(const std::string& path, const ScanOptions& opts) = 0;

  // Bytes from which another process attaches to the same container (attach_storage()).
  virtual std::string serialize_handle() = 0;
  // The serialized handle is leaving this process (pickled; fork): on DAOS the connection
  // must then outlive this object, since closing it would revoke the handles attached to it.
  virtual void hand_out() {}
  virtual void disconnect() = 0;
};

}  // namespace pdt
