// Small file helpers shared by every reader and writer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "scratchcv/status.h"

namespace scv {

// Whole file into memory. Errors name the path and the reason (strerror).
Result<std::vector<uint8_t>> read_file(const std::string& path);

// A whole regular file mapped read-only (MAP_PRIVATE): pages are read from the page cache on
// first touch instead of being copied up front. Writing through data() crashes. The file must
// not be truncated while mapped (reads past the new end would fault). An empty file maps to
// data() == nullptr, size() == 0. Errors name the path and the reason, as read_file's do.
class MappedFile {
 public:
  static Result<std::shared_ptr<const MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Lets the kernel drop this process's pages that lie wholly inside [p, p + n): the contents
  // do not change (they are read again from the file if touched), only resident memory shrinks.
  void release(const void* p, size_t n) const;

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

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
