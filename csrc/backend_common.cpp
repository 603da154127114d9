#include "backend_common.h"

#include <cerrno>
#include <chrono>
#include <cstring>

#include "paths.h"
#include "work_queue.h"

namespace pdt {

ErrorContext ContainerName::ctx(const char* op, std::string_view path) const {
  return {op, pool_, cont_, display_path(path)};
}

std::string ContainerName::norm(std::string_view path, const char* op) const {
  try {
    return normalize_path(path, op);
  } catch (const StorageError& e) {
    throw StorageError(e.err(), 0, {op, pool_, cont_, std::string(path)}, e.detail());
  }
}

void ContainerName::check_writable(const char* op, std::string_view path) const {
  if (read_only_) throw_errno(EPERM, ctx(op, path), "container was opened read-only");
}

void ContainerName::check_complete(const std::vector<ReadRequest>& reqs,
                                   const std::function<std::string_view(size_t)>& rel) const {
  for (size_t i = 0; i < reqs.size(); ++i) {
    const ReadRequest& r = reqs[i];
    if (r.nread < r.length && !r.up_to)
      throw_errno(EIO, ctx("read", rel(i)),
                  "short read: got " + std::to_string(r.nread) + " of " + std::to_string(r.length) +
                      " bytes at offset " + std::to_string(r.offset) + " (file truncated or smaller than expected)");
  }
}

std::string short_read_detail(uint64_t got, uint64_t wanted) {
  return "short read: got " + std::to_string(got) + " of " + std::to_string(wanted) + " bytes";
}

void for_each_prefix(const std::string& rel, const std::function<void(const std::string&)>& fn) {
  size_t pos = 0;
  while (!rel.empty() && pos <= rel.size()) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) slash = rel.size();
    fn(rel.substr(0, slash));
    pos = slash + 1;
  }
}

Index finish_scan(WorkQueue& queue, size_t threads, const ScanOptions& opts, const ScanCounters& counters,
                  std::string top, std::vector<Index::Entry>& entries) {
  auto last = std::chrono::steady_clock::now();
  queue.run(threads, [&] {
    auto now = std::chrono::steady_clock::now();
    if (opts.progress && now - last > std::chrono::milliseconds(500)) {
      last = now;
      opts.progress(counters.dirs_done.load(), counters.files.load());
    }
    return opts.interrupt && opts.interrupt();
  });
  if (opts.progress) opts.progress(counters.dirs_done.load(), counters.files.load());
  Index ix = Index::build(std::move(top), std::move(entries));
  ix.set_vanished(counters.vanished.load());
  return ix;
}

std::string encode_handle(const char* tag, const std::vector<std::string>& fields) {
  std::string blob = tag;
  for (const std::string& f : fields) blob += '\n' + f;
  return blob;
}

bool has_tag(const std::string& blob, const char* tag) {
  size_t n = std::strlen(tag);
  return blob.compare(0, n, tag) == 0 && (blob.size() == n || blob[n] == '\n');
}

std::vector<std::string> decode_handle(const std::string& blob, const char* tag, size_t fields, const char* what) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (out.size() < fields) {  // the tag, then fields - 1 lines; the last field takes the rest
    size_t nl = blob.find('\n', pos);
    if (nl == std::string::npos) break;
    out.push_back(blob.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (pos <= blob.size() && out.size() == fields) out.push_back(blob.substr(pos));
  if (out.size() != fields + 1 || out[0] != tag)
    throw_errno(EINVAL, {"attach", "", "", ""}, std::string("not a serialized ") + what + " container handle");
  out.erase(out.begin());
  return out;
}

}  // namespace pdt
