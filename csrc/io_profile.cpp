#include "io_profile.h"

#include <sched.h>
#include <sys/vfs.h>

#include <algorithm>
#include <cstdio>

#include "thread_pool.h"

namespace pdt {
namespace {

// Values from linux/magic.h; some are missing from older kernel headers.
constexpr long kExt = 0xEF53, kXfs = 0x58465342, kBtrfs = 0x9123683E, kF2fs = 0xF2F52010,
               kTmpfs = 0x01021994, kOverlay = 0x794C7630, kNfs = 0x6969, kFuse = 0x65735546,
               kLustre = 0x0BD00BD0, kGpfs = 0x47504653;

// Local file systems whose buffered writes to one file serialize on the inode lock. Parallel
// and network ones (dfuse, Lustre, GPFS, NFS) keep several writes in flight.
const char* serial_fs_name(long magic) {
  switch (magic) {
    case kExt: return "ext2/ext3/ext4";
    case kXfs: return "xfs";
    case kBtrfs: return "btrfs";
    case kF2fs: return "f2fs";
    case kTmpfs: return "tmpfs";
    case kOverlay: return "overlay";
    default: return nullptr;
  }
}

std::string other_fs_name(long magic) {
  switch (magic) {
    case kNfs: return "nfs";
    case kFuse: return "fuse";
    case kLustre: return "lustre";
    case kGpfs: return "gpfs";
    default: {
      char hex[32];
      std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(magic));
      return hex;
    }
  }
}

uint32_t affinity_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<uint32_t>(std::max(1, CPU_COUNT(&set)));
  return static_cast<uint32_t>(cpu_count());
}

}  // namespace

IoProfile local_profile(int dir_fd) {
  IoProfile p;
  struct statfs st;
  long magic = fstatfs(dir_fd, &st) == 0 ? static_cast<long>(st.f_type) : 0;
  const char* serial = serial_fs_name(magic);
  p.file_system = serial ? serial : magic ? other_fs_name(magic) : "unknown";
  p.serial_writes = serial != nullptr;
  p.client_cache = true;
  // A local write is a copy into the page cache: only small records are worth buffering.
  p.direct_write_min = 256 << 10;
  // A larger buffer makes torch.load copy each tensor twice (results/README.md, checkpoints).
  p.read_buffer = 64 << 10;
  p.piece_size = 8 << 20;
  p.cpu_threads = affinity_cpus();
  return p;
}

}  // namespace pdt
