// The I/O profile: facts of a storage that the layers above tune their I/O by. Each backend
// computes its own from what it knows (local: its directory's file system, via fstatfs;
// dfs: DAOS's), so every process reaching the same place (connected, attached, unpickled,
// forked) gets the same profile. Python exposes it as Storage.profile / Container.profile and
// lets a user override it with pydaos_torch.IOProfile.
#pragma once
#include <cstdint>
#include <string>

namespace pdt {

struct IoProfile {
  // The file system the data lives on ("ext2/ext3/ext4", "tmpfs", "nfs", ..., or "daos").
  std::string file_system;
  // Buffered writes to one file serialize on its inode lock (ext4, xfs, btrfs, tmpfs...): a
  // second writer thread per file only adds CPU, so writers keep one write in flight.
  bool serial_writes = false;
  // The client caches file data (the page cache): writers start writeback early, and pages of
  // files about to be superseded are worth dropping (File::drop_clean_cache).
  bool client_cache = false;
  // A write at least this large skips a writer's chunk buffers (one copy instead of two).
  uint64_t direct_write_min = 0;
  // The buffer of a checkpoint reader, serving torch.load's small reads.
  uint64_t read_buffer = 0;
  // Large writes are handed to the storage in pieces of this size (dfs: one dfs_write each).
  uint64_t piece_size = 0;
  // Batch reads run on this many native threads (local: the CPUs this process may use), which
  // N DataLoader workers share; 0 where the depth is I/Os in flight, not threads (dfs).
  // (pydaos_torch.IOProfile.depth_for_workers shares them out.)
  uint32_t cpu_threads = 0;
};

// The profile of a directory on a local file system (fstatfs of an open descriptor).
IoProfile local_profile(int dir_fd);

}  // namespace pdt
