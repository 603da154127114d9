#include "requests.h"

#include <algorithm>
#include <atomic>

namespace pdt {
namespace {
std::atomic<uint64_t> g_abandoned_io{0};
}  // namespace

uint64_t abandoned_io_count() { return g_abandoned_io.load(); }
void note_abandoned_io() { g_abandoned_io.fetch_add(1); }

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

}  // namespace pdt
