#include "scratchcv/file_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace scv {

namespace {
void note_input(int fd, const std::string& path);
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
  note_input(fd, path);
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

// ---- input protection -------------------------------------------------------------------------

namespace {
struct InputRegistry {
  std::mutex mu;
  bool on = false;
  std::vector<std::pair<dev_t, ino_t>> ids;
  std::vector<std::string> paths;
};
InputRegistry& inputs() {
  static InputRegistry r;
  return r;
}
void note_input(int fd, const std::string& path) {
  InputRegistry& r = inputs();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.on) return;
  struct stat st;
  if (::fstat(fd, &st) != 0) return;
  r.ids.emplace_back(st.st_dev, st.st_ino);
  r.paths.push_back(path);
}
// The input path that is the same file as `st`, or "" when none.
std::string protected_input(const struct stat& st) {
  InputRegistry& r = inputs();
  std::lock_guard<std::mutex> lock(r.mu);
  for (size_t i = 0; i < r.ids.size(); ++i)
    if (r.ids[i].first == st.st_dev && r.ids[i].second == st.st_ino) return r.paths[i];
  return "";
}
}  // namespace

void protect_inputs(bool on) {
  std::lock_guard<std::mutex> lock(inputs().mu);
  inputs().on = on;
}

void release_input(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return;
  InputRegistry& r = inputs();
  std::lock_guard<std::mutex> lock(r.mu);
  for (size_t i = r.ids.size(); i-- > 0;)
    if (r.ids[i].first == st.st_dev && r.ids[i].second == st.st_ino) {
      r.ids.erase(r.ids.begin() + long(i));
      r.paths.erase(r.paths.begin() + long(i));
    }
}

Result<std::vector<uint8_t>> read_input(const std::string& path) {
  if (path != "-") return read_file(path);
  std::vector<uint8_t> buf;
  uint8_t chunk[1 << 16];
  for (;;) {
    ssize_t r = ::read(0, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return error("standard input: read failed: ", std::strerror(errno));
    if (r == 0) break;
    buf.insert(buf.end(), chunk, chunk + r);
  }
  return buf;
}

// ---- safe outputs -----------------------------------------------------------------------------

namespace {

std::string dir_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}
std::string base_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Follows symbolic links (also dangling ones: the link's target is what gets created).
Result<std::string> resolve_links(const std::string& path) {
  std::string p = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    std::vector<char> buf(size_t(st.st_size > 0 ? st.st_size : 255) + 2);
    const ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size() - 1);
    if (n < 0) return error(path, ": cannot read symbolic link: ", std::strerror(errno));
    std::string target(buf.data(), size_t(n));
    p = target.empty() || target[0] == '/' ? target : dir_of(p) + "/" + target;
  }
  return error(path, ": too many levels of symbolic links");
}

Status write_all(int fd, const void* data, size_t size, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t w = ::write(fd, p + done, size - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return error(path, ": write failed: ", std::strerror(w < 0 ? errno : ENOSPC));
    done += static_cast<size_t>(w);
  }
  return Status();
}

mode_t current_umask() {
  static const mode_t mask = [] {
    const mode_t m = ::umask(022);
    ::umask(m);
    return m;
  }();
  return mask;
}

// The temporary being written, removed by the SIGINT/SIGTERM handler (async-signal-safe: a
// fixed buffer and unlink only). One write at a time holds it (the mutex).
std::mutex g_temp_mu;
char g_temp_path[4096];
volatile sig_atomic_t g_temp_live = 0;
struct sigaction g_old_int, g_old_term;

// The temporaries of a write_files_atomic batch (at most kBatchTemps at a time).
constexpr int kBatchTemps = 16;
char g_batch_path[kBatchTemps][4096];
volatile sig_atomic_t g_batch_live = 0;

void on_fatal_signal(int sig) {
  if (g_temp_live) ::unlink(g_temp_path);
  for (int i = 0; i < g_batch_live; ++i) ::unlink(g_batch_path[i]);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// While alive: the temporary at `path` is removed if SIGINT/SIGTERM kill the process. Installed
// only where the signal's action is the default (a program with its own handler keeps it).
class TempGuard {
 public:
  explicit TempGuard(const std::string& path) : lock_(g_temp_mu) {
    std::snprintf(g_temp_path, sizeof g_temp_path, "%s", path.c_str());
    g_temp_live = 1;
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    struct sigaction cur {};
    if (::sigaction(SIGINT, nullptr, &cur) == 0 && cur.sa_handler == SIG_DFL)
      int_ = ::sigaction(SIGINT, &sa, &g_old_int) == 0;
    if (::sigaction(SIGTERM, nullptr, &cur) == 0 && cur.sa_handler == SIG_DFL)
      term_ = ::sigaction(SIGTERM, &sa, &g_old_term) == 0;
  }
  ~TempGuard() {
    if (int_) ::sigaction(SIGINT, &g_old_int, nullptr);
    if (term_) ::sigaction(SIGTERM, &g_old_term, nullptr);
    g_temp_live = 0;
  }

 private:
  std::lock_guard<std::mutex> lock_;
  bool int_ = false, term_ = false;
};

// TempGuard for a batch: temporaries registered with add() are removed on SIGINT/SIGTERM.
class BatchGuard {
 public:
  BatchGuard() : guard_("") { g_temp_live = 0; }
  ~BatchGuard() { g_batch_live = 0; }
  void add(const std::string& path) {
    std::snprintf(g_batch_path[g_batch_live], sizeof g_batch_path[0], "%s", path.c_str());
    g_batch_live = g_batch_live + 1;
  }

 private:
  TempGuard guard_;  // holds the lock and the signal handlers
};

// Where and how an output goes, decided before writing.
struct OutputPlan {
  enum Kind { kStdout, kThrough, kReplace } kind = kReplace;
  std::string target;  // symlinks resolved
  bool exists = false;
  struct stat st {};
};

Result<OutputPlan> plan_output(const std::string& path) {
  OutputPlan plan;
  if (path == "-") {
    plan.kind = OutputPlan::kStdout;
    return plan;
  }
  if (path.empty()) return error("empty output path");
  SCV_ASSIGN_OR_RETURN(plan.target, resolve_links(path));
  if (::stat(plan.target.c_str(), &plan.st) == 0) {
    plan.exists = true;
    if (S_ISDIR(plan.st.st_mode)) return error(path, ": is a directory (expected a file name)");
    if (std::string in = protected_input(plan.st); !in.empty())
      return error(path, ": refusing to overwrite the input file '", in,
                   "' with the output (it is the same file)");
    if (!S_ISREG(plan.st.st_mode)) plan.kind = OutputPlan::kThrough;
  } else if (errno != ENOENT) {
    return error(path, ": cannot write: ", std::strerror(errno));
  }
  if (plan.kind == OutputPlan::kReplace) {
    const std::string dir = dir_of(plan.target);
    struct stat ds;
    if (::stat(dir.c_str(), &ds) != 0 || !S_ISDIR(ds.st_mode))
      return error(path, ": cannot write: directory '", dir, "' does not exist");
    if (::access(dir.c_str(), W_OK) != 0)
      return error(path, ": cannot write: directory '", dir, "' is not writable (",
                   std::strerror(errno), ")");
  }
  return plan;
}

Status write_through(const OutputPlan& plan, const std::string& path, const void* data,
                     size_t size) {
  if (plan.kind == OutputPlan::kStdout) {
    std::fflush(stdout);  // keep the order of anything printed before
    return write_all(1, data, size, "standard output");
  }
  int fd = ::open(plan.target.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return error(path, ": cannot open for writing: ", std::strerror(errno));
  Status st = write_all(fd, data, size, path);
  ::close(fd);
  return st;
}

// Creates the temporary next to the target and returns its fd; *tmp receives its name.
Result<int> make_temp(const OutputPlan& plan, const std::string& path, std::string* tmp) {
  std::string templ = dir_of(plan.target) + "/." + base_of(plan.target) + ".XXXXXX";
  std::vector<char> name(templ.begin(), templ.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0) return error(path, ": cannot create a temporary file: ", std::strerror(errno));
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  *tmp = name.data();
  return fd;
}

// Gives the temporary the final mode (and owner), fsyncs it, renames it over the target and
// fsyncs the directory. Closes fd. On failure removes the temporary.
Status commit_temp(const OutputPlan& plan, const std::string& path, int fd,
                   const std::string& tmp) {
  const mode_t mode = plan.exists ? (plan.st.st_mode & 07777) : (0666 & ~current_umask());
  if (plan.exists) (void)!::fchown(fd, plan.st.st_uid, plan.st.st_gid);  // best effort
  Status st;
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0)
    st = error(path, ": cannot write: ", std::strerror(errno));
  if (::close(fd) != 0 && st.ok()) st = error(path, ": write failed: ", std::strerror(errno));
  if (st.ok() && ::rename(tmp.c_str(), plan.target.c_str()) != 0)
    st = error(path, ": cannot write: ", std::strerror(errno));
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  int dfd = ::open(dir_of(plan.target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status();
}

}  // namespace

Status write_files_atomic(const std::vector<OutputFile>& files) {
  std::vector<OutputPlan> plans;
  for (const OutputFile& f : files) {
    SCV_ASSIGN_OR_RETURN(OutputPlan plan, plan_output(f.path));
    plans.push_back(std::move(plan));
  }
  std::vector<size_t> replace;
  for (size_t i = 0; i < files.size(); ++i)
    if (plans[i].kind == OutputPlan::kReplace)
      replace.push_back(i);
    else
      SCV_TRY(write_through(plans[i], files[i].path, files[i].data, files[i].size));
  for (size_t b = 0; b < replace.size(); b += kBatchTemps) {
    const size_t e = std::min(replace.size(), b + size_t(kBatchTemps));
    BatchGuard guard;
    std::vector<int> fds;
    std::vector<std::string> tmps;
    Status st;
    for (size_t k = b; k < e && st.ok(); ++k) {
      const OutputFile& f = files[replace[k]];
      std::string tmp;
      auto fd = make_temp(plans[replace[k]], f.path, &tmp);
      if (!fd.ok()) {
        st = fd.status();
        break;
      }
      guard.add(tmp);
      fds.push_back(*fd);
      tmps.push_back(tmp);
      st = write_all(*fd, f.data, f.size, f.path);
    }
    if (!st.ok()) {
      for (size_t k = 0; k < fds.size(); ++k) ::close(fds[k]), ::unlink(tmps[k].c_str());
      return st;
    }
    // The fsyncs (and renames) of all files at once: the filesystem commits them together.
    std::vector<Status> done(fds.size());
    std::vector<std::thread> threads;
    for (size_t k = 0; k < fds.size(); ++k)
      threads.emplace_back([&, k] {
        done[k] = commit_temp(plans[replace[b + k]], files[replace[b + k]].path, fds[k], tmps[k]);
      });
    for (std::thread& t : threads) t.join();
    for (const Status& d : done) SCV_TRY(d);
  }
  return Status();
}

Status check_output(const std::string& path) {
  return plan_output(path).status();
}

Status write_file_atomic(const std::string& path, const void* data, size_t size) {
  SCV_ASSIGN_OR_RETURN(OutputPlan plan, plan_output(path));
  if (plan.kind != OutputPlan::kReplace) return write_through(plan, path, data, size);
  std::string tmp;
  SCV_ASSIGN_OR_RETURN(int fd, make_temp(plan, path, &tmp));
  TempGuard guard(tmp);
  Status st = write_all(fd, data, size, path);
  if (!st.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  return commit_temp(plan, path, fd, tmp);
}

Status write_file_atomic_with(const std::string& path,
                              const std::function<Status(const std::string&)>& writer) {
  SCV_ASSIGN_OR_RETURN(OutputPlan plan, plan_output(path));
  if (plan.kind != OutputPlan::kReplace) {
    // The library writes a file; pass its bytes through to the stream or device.
    char templ[] = "/tmp/scratchcv.XXXXXX";
    int fd = ::mkstemp(templ);
    if (fd < 0) return error(path, ": cannot create a temporary file: ", std::strerror(errno));
    ::close(fd);
    const std::string tmp = templ;
    TempGuard guard(tmp);
    Status st = writer(tmp);
    Result<std::vector<uint8_t>> bytes =
        st.ok() ? read_file(tmp) : Result<std::vector<uint8_t>>(st);
    ::unlink(tmp.c_str());
    if (!bytes.ok()) return bytes.status();
    return write_through(plan, path, bytes->data(), bytes->size());
  }
  std::string tmp;
  SCV_ASSIGN_OR_RETURN(int fd, make_temp(plan, path, &tmp));
  TempGuard guard(tmp);
  Status st = writer(tmp);
  if (!st.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  return commit_temp(plan, path, fd, tmp);
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
