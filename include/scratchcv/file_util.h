// Small file helpers shared by every reader and writer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "scratchcv/status.h"

namespace scv {

// Whole file into memory. Errors name the path and the reason (strerror).
Result<std::vector<uint8_t>> read_file(const std::string& path);

// Writes via a temporary file in the same directory, fsync, then rename: readers see either the
// old file or the complete new one, never a half-written file. On failure the temp is removed.
Status write_file_atomic(const std::string& path, const void* data, size_t size);
// Same, but the content is produced by `writer(tmp_path)` (for libraries that write by path).
Status write_file_atomic_with(const std::string& path,
                              const std::function<Status(const std::string& tmp_path)>& writer);

// True when both paths name the same existing file (same device and inode).
bool same_file(const std::string& a, const std::string& b);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

}  // namespace scv
