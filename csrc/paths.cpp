#include "paths.h"

#include <cerrno>
#include <vector>

#include "errors.h"

namespace pdt {

std::string normalize_path(std::string_view path, const char* op) {
  if (path.find('\0') != std::string_view::npos)
    throw_errno(EINVAL, {op, "", "", std::string(path)}, "path contains a NUL byte");
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part == "..") {
      if (parts.empty())
        throw_errno(EPERM, {op, "", "", std::string(path)}, "path escapes the container ('..' above its root)");
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out += '/';
    out.append(p);
  }
  return out;
}

std::pair<std::string_view, std::string_view> split_parent(std::string_view p) {
  size_t slash = p.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), p};
  return {p.substr(0, slash), p.substr(slash + 1)};
}

std::string join_path(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  std::string out(a);
  out += '/';
  out.append(b);
  return out;
}

std::string display_path(std::string_view normalized) {
  std::string out = "/";
  out.append(normalized);
  return out;
}

}  // namespace pdt
