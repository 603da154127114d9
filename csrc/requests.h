// The requests a batch carries, and how large ones are cut into pieces. Shared by the
// storage interface (storage.h), the backends and the index's read planning (index.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pdt {

// One read of a batch: `length` bytes at `offset` of `path` into `buf`.
struct ReadRequest {
  std::string path;
  uint64_t offset = 0;
  uint64_t length = 0;
  char* buf = nullptr;
  bool up_to = false;   // a short read (end of file) is fine; otherwise it is an error
  uint64_t nread = 0;   // out
};

// One write of a batch to an open file.
struct WriteRequest {
  const char* buf = nullptr;
  uint64_t length = 0;
  uint64_t offset = 0;
};

// Splits requests larger than `piece` into several, for parallelism within one file. With
// `streams` > 1 a large request is cut into at most that many long pieces (at least `piece`
// bytes each), so each stays one sequential stream the kernel's readahead can follow.
struct ReadPiece {
  size_t request;
  uint64_t offset;  // within the file
  uint64_t length;
  char* buf;
};
std::vector<ReadPiece> split_pieces(const std::vector<ReadRequest>& reqs, uint64_t piece, size_t streams = 0);

// I/O abandoned in flight: DAOS cannot cancel an I/O, so when its events never came back the
// backend leaks its own slots and counts it here; the caller must never free (or reuse) the
// buffers of a call during which the count changed (the bindings keep them alive for good).
uint64_t abandoned_io_count();
void note_abandoned_io();

}  // namespace pdt
