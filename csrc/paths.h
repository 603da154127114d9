// Container paths: every path a user gives is taken relative to the container's root
// ("/a/b" and "a/b" name the same entry) and normalized lexically before any backend sees it.
#pragma once
#include <string>
#include <string_view>
#include <utility>

namespace pdt {

// "/a//./b/" -> "a/b"; "" or "/" -> "" (the root). Throws StorageError(EPERM) when ".."
// would climb above the container's root, and EINVAL for an embedded NUL byte.
std::string normalize_path(std::string_view path, const char* op);

// "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"}. Input must be normalized and non-empty.
std::pair<std::string_view, std::string_view> split_parent(std::string_view normalized);

// Joins two normalized paths ("" is the root).
std::string join_path(std::string_view a, std::string_view b);

// "/" + normalized, the form DAOS's dfs_lookup takes and error messages show.
std::string display_path(std::string_view normalized);

}  // namespace pdt
