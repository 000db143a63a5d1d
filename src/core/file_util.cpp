#include "scratchcv/file_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace scv {

namespace {
// Opens path read-only; it must be a regular file. *size receives its size.
Result<int> open_regular(const std::string& path, size_t* size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error(path, ": cannot open: ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return error(path, ": not a regular file");
  }
  *size = static_cast<size_t>(st.st_size);
  return fd;
}
}  // namespace

Result<std::vector<uint8_t>> read_file(const std::string& path) {
  size_t size = 0;
  SCV_ASSIGN_OR_RETURN(int fd, open_regular(path, &size));
  std::vector<uint8_t> buf(size);
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t r = ::read(fd, buf.data() + got, buf.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int e = errno;
      ::close(fd);
      return error(path, ": read failed: ", r == 0 ? "unexpected end of file" : std::strerror(e));
    }
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  return buf;
}

Result<std::shared_ptr<const MappedFile>> MappedFile::open(const std::string& path) {
  size_t size = 0;
  SCV_ASSIGN_OR_RETURN(int fd, open_regular(path, &size));
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->size_ = size;
  if (m->size_ > 0) {
    void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return error(path, ": cannot map: ", std::strerror(e));
    }
    m->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file open
  return std::shared_ptr<const MappedFile>(std::move(m));
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::release(const void* p, size_t n) const {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p), hi = lo + n;
  const uintptr_t first = (lo + page - 1) / page * page, last = hi / page * page;
  if (!data_ || lo < reinterpret_cast<uintptr_t>(data_) ||
      hi > reinterpret_cast<uintptr_t>(data_) + size_ || first >= last)
    return;
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

static std::string temp_name_for(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid());
}

Status write_file_atomic_with(const std::string& path,
                              const std::function<Status(const std::string&)>& writer) {
  const std::string tmp = temp_name_for(path);
  Status st = writer(tmp);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return error(path, ": cannot write: ", std::strerror(e));
  }
  return Status();
}

Status write_file_atomic(const std::string& path, const void* data, size_t size) {
  return write_file_atomic_with(path, [&](const std::string& tmp) -> Status {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return error(path, ": cannot create: ", std::strerror(errno));
    const auto* p = static_cast<const uint8_t*>(data);
    size_t done = 0;
    while (done < size) {
      ssize_t w = ::write(fd, p + done, size - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        int e = errno;
        ::close(fd);
        return error(path, ": write failed: ", std::strerror(e));
      }
      done += static_cast<size_t>(w);
    }
    if (::close(fd) != 0) return error(path, ": write failed: ", std::strerror(errno));
    return Status();
  });
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace scv
