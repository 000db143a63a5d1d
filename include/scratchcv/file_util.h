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

// Whole file into memory; "-" reads standard input to its end (pipes included).
Result<std::vector<uint8_t>> read_input(const std::string& path);

// Safe outputs: every command writes through these, so the same rules hold everywhere.
//  - a regular file (or a new one) is written to a mkstemp temporary in the target's directory
//    (unpredictable name, O_EXCL), fsynced, then renamed over the target: readers and an
//    interrupted run (SIGINT, SIGTERM, SIGKILL, power loss) see the old file or the complete new
//    one, never a part. An existing file keeps its permission bits (and owner when possible); a
//    new one gets 0666 minus the umask. On SIGINT/SIGTERM during the write the temporary is
//    removed before the process dies.
//  - a symbolic link is followed to its final target, which is replaced (the link stays);
//  - "-" is standard output; FIFOs, character devices and sockets are written through, never
//    replaced (they cannot be written atomically);
//  - a directory, or a target that is the same file (device and inode, through any link) as an
//    input this process read while input protection is on (see protect_inputs), is refused.
// On failure nothing under the final name changes and the temporary is removed.
Status write_file_atomic(const std::string& path, const void* data, size_t size);
// Same, but the content is produced by `writer(tmp_path)` (for libraries that write by path).
Status write_file_atomic_with(const std::string& path,
                              const std::function<Status(const std::string& tmp_path)>& writer);

// Several files, each written as write_file_atomic writes one, with their fsyncs and renames
// run at once (one thread per file): the filesystem commits them together, which takes about
// the time of one file instead of one per file. Every path is checked before anything is
// written. On failure files already renamed stay complete; the others keep their old content.
struct OutputFile {
  std::string path;
  const void* data = nullptr;
  size_t size = 0;
};
Status write_files_atomic(const std::vector<OutputFile>& files);

// Checks, before any work, that `path` can be written by write_file_atomic: not a directory,
// its directory exists and is writable, not a protected input. Writes nothing.
Status check_output(const std::string& path);

// Input protection (the CLI turns it on): every file read_file/read_input/MappedFile::open
// opens from then on is remembered (device, inode), and write_file_atomic refuses to replace
// any of them ("refusing to overwrite the input file ..."). release_input(path) forgets one
// (a command that deliberately updates a file it read, as `mnist train --resume`).
void protect_inputs(bool on);
void release_input(const std::string& path);

// True when both paths name the same existing file (same device and inode).
bool same_file(const std::string& a, const std::string& b);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

}  // namespace scv
