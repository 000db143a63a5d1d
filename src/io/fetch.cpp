// The weights table, cache paths and a verified, resumable HTTP download with libcurl.
//
// Download steps (fetch_file):
//   1. final = cache/<name>; if it exists and its hash checks out, done.
//   2. open cache/<name>.part (append, exclusive flock so two fetches cannot interleave) and ask
//      the server for the bytes after what the part already holds (Range: bytes=N-).
//      206 -> append; 200 -> the server ignored the range, restart the part from zero;
//      416 -> nothing after N: the part may already be the whole file, verify it.
//   3. on a clean end: fsync, check SHA-256 against the prefix in the name, rename to final.
//      A resumed part that fails the check is thrown away and downloaded once more from zero.
//   4. on an error: one line saying what happened, the URL, and where a hand-downloaded copy
//      goes. The part stays only when it holds a prefix of what the server sent (interrupted).
#include "scratchcv/fetch.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "core/progress.h"
#include "scratchcv/file_util.h"
#include "scratchcv/sha256.h"

namespace scv {

// ---- the table --------------------------------------------------------------------------------

namespace {

// One weights release of an architecture: the SHA-256 prefix in its file name, acc@1, and the
// evaluation resize when it is not its version's usual one (V1 256, V2 232; crop 224).
struct Release {
  const char* sha = nullptr;  // nullptr: no such release
  double top1 = 0;
  int resize = 0;
};

struct ArchReleases {
  const char* arch;
  Release v1, v2;
};

// From torchvision/models/resnet.py (0.14): <Arch>_Weights.IMAGENET1K_V1/V2 urls, transforms and
// acc@1. DEFAULT is the newest release (V2 where there is one).
constexpr ArchReleases kReleases[] = {
    {"resnet18", {"f37072fd", 69.758}, {}},
    {"resnet34", {"b627a593", 73.314}, {}},
    {"resnet50", {"0676ba61", 76.130}, {"11ad3fa6", 80.858}},
    {"resnet101", {"63fe2227", 77.374}, {"cd907fc2", 81.886}},
    {"resnet152", {"394f9c45", 78.312}, {"f82ba261", 82.284}},
    {"resnext50_32x4d", {"7cdf4587", 77.618}, {"1a0047aa", 81.198}},
    {"resnext101_32x8d", {"8ba56ff5", 79.312}, {"110c445d", 82.834}},
    {"resnext101_64x4d", {"173b62eb", 83.246, 232}, {}},
    {"wide_resnet50_2", {"95faca4d", 78.468}, {"9ba9bcbe", 81.602}},
    {"wide_resnet101_2", {"32ee1156", 78.848}, {"d733dc28", 82.510}},
};

}  // namespace

const std::vector<ModelFile>& model_files() {
  static const std::vector<ModelFile> files = [] {
    std::vector<ModelFile> out;
    for (const ArchReleases& a : kReleases) {
      const Release* releases[] = {&a.v1, &a.v2};
      for (int v = 0; v < 2; ++v) {
        const Release& r = *releases[v];
        if (!r.sha) continue;
        const int usual_resize = v == 0 ? 256 : 232;
        out.push_back({a.arch, str("IMAGENET1K_V", v + 1), str(a.arch, "-", r.sha, ".pth"),
                       r.resize ? r.resize : usual_resize, 224, r.top1, v == 1 || !a.v2.sha});
      }
    }
    return out;
  }();
  return files;
}

static std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

Result<ModelFile> find_model_file(const std::string& arch, const std::string& weights) {
  std::string w = upper(weights.empty() ? "V1" : weights);
  if (w == "V1" || w == "V2") w = "IMAGENET1K_" + w;
  std::string archs, choices;
  bool arch_known = false;
  for (const ModelFile& f : model_files()) {
    if (archs.find(" " + f.arch + ",") == std::string::npos) archs += " " + f.arch + ",";
    if (f.arch != arch) continue;
    arch_known = true;
    choices += (choices.empty() ? "" : ", ") + f.weights.substr(f.weights.size() - 2);
    if (f.weights == w || (w == "DEFAULT" && f.is_default)) return f;
  }
  if (!arch_known) {
    archs.pop_back();
    return error("unknown architecture '", arch, "' (known:", archs, ")");
  }
  return error("no weights '", weights, "' for ", arch, " (choose ", choices, " or DEFAULT)");
}

// ---- paths ------------------------------------------------------------------------------------

static std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string default_cache_dir() {
  if (std::string d = env_or_empty("SCV_CACHE_DIR"); !d.empty()) return d;
  if (std::string d = env_or_empty("XDG_CACHE_HOME"); !d.empty()) return d + "/scratchcv";
  std::string home = env_or_empty("HOME");
  if (home.empty())
    if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) home = pw->pw_dir;
  if (home.empty()) return ".cache/scratchcv";
  return home + "/.cache/scratchcv";
}

std::string default_base_url() {
  if (std::string u = env_or_empty("SCV_MODEL_BASE_URL"); !u.empty()) return u;
  return "https://download.pytorch.org/models/";
}

std::string model_url(const std::string& file_name, const std::string& base_url) {
  std::string base = base_url.empty() ? default_base_url() : base_url;
  if (!base.empty() && base.back() != '/') base += '/';
  return base + file_name;
}

static std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string cached_model_path(const std::string& arch, const std::string& weights,
                              const std::string& cache_dir) {
  Result<ModelFile> f = find_model_file(arch, weights);
  if (!f.ok()) return "";
  return join(cache_dir.empty() ? default_cache_dir() : cache_dir, f->file_name);
}

std::string missing_weights_message(const std::string& arch, const std::string& weights) {
  Result<ModelFile> f = find_model_file(arch, weights);
  if (!f.ok()) return "missing weights: " + f.status().message();
  std::string cmd = "scratchcv fetch " + arch;
  if (!weights.empty()) cmd += " --weights " + weights;
  return "missing weights: run `" + cmd + "`, or download " + model_url(f->file_name) + " to " +
         join(default_cache_dir(), f->file_name);
}

// ---- hashes -----------------------------------------------------------------------------------

Result<std::string> hash_prefix_from_name(const std::string& file_name) {
  std::string stem = file_name.substr(file_name.rfind('/') + 1);
  if (size_t dot = stem.rfind('.'); dot != std::string::npos && dot > 0) stem.resize(dot);
  size_t dash = stem.rfind('-');
  std::string hex = dash == std::string::npos ? "" : stem.substr(dash + 1);
  bool is_hex = hex.size() >= 8 && hex.size() <= 64;
  for (char c : hex) is_hex = is_hex && std::isxdigit(static_cast<unsigned char>(c));
  if (!is_hex)
    return error("'", file_name,
                 "' carries no SHA-256 prefix (expected NAME-<8 to 64 hex digits>.EXT, like "
                 "resnet50-0676ba61.pth), so it cannot be verified");
  for (char& c : hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return hex;
}

Status verify_file_hash(const std::string& path, const std::string& file_name) {
  SCV_ASSIGN_OR_RETURN(std::string prefix, hash_prefix_from_name(file_name));
  SCV_ASSIGN_OR_RETURN(std::string hash, sha256_file_hex(path));
  if (hash.compare(0, prefix.size(), prefix) != 0)
    return error("checksum mismatch: sha256 should start with ", prefix, " but is ", hash);
  return Status();
}

// ---- download ---------------------------------------------------------------------------------

namespace {

Status make_dirs(const std::string& dir) {
  if (dir.empty() || is_directory(dir)) return Status();
  size_t slash = dir.find_last_of('/', dir.size() >= 2 ? dir.size() - 2 : 0);
  if (slash != std::string::npos && slash > 0) SCV_TRY(make_dirs(dir.substr(0, slash)));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return error("cannot create cache directory ", dir, ": ", std::strerror(errno));
  return Status();
}

// State shared with libcurl's callbacks for one transfer.
struct Transfer {
  int fd = -1;
  std::string name;
  int64_t offset = 0;   // bytes the part held when this request was sent
  int64_t base = 0;     // bytes of the file before this response's body (offset or 0)
  int64_t total = -1;   // full file size when known
  int64_t written = 0;  // body bytes written in this transfer
  long status = 0;      // HTTP status of the current response
  bool body_started = false;
  bool range_mismatch = false;
  int write_errno = 0;
  Progress mode = Progress::none;
  std::unique_ptr<ProgressBar> bar;  // created when the body starts
};

// Parses status lines and Content-Range of each response (redirects reset it).
size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    size_t sp = line.find(' ');
    t->status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
    t->base = 0;
    t->total = -1;
    return size * n;
  }
  std::string lower = line;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.rfind("content-range:", 0) == 0) {
    // "Content-Range: bytes FIRST-LAST/TOTAL"
    long long first = -1, last = -1, total = -1;
    if (std::sscanf(lower.c_str(), "content-range: bytes %lld-%lld/%lld", &first, &last, &total) >=
        2) {
      t->base = first;
      if (total >= 0) t->total = total;
    }
  } else if (lower.rfind("content-length:", 0) == 0 && t->status != 206) {
    t->total = std::strtoll(lower.c_str() + 15, nullptr, 10);
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->body_started) {
    t->body_started = true;
    if (t->status == 206) {
      if (t->base != t->offset) {  // a range we did not ask for: refuse it
        t->range_mismatch = true;
        return 0;
      }
    } else if (t->offset > 0) {  // 200 (or no status, file://): the whole file, start again
      if (t->mode != Progress::none)
        std::fprintf(stderr,
                     "the server ignored the request to resume at byte %" PRId64
                     "; downloading the whole file again\n",
                     t->offset);
      if (::ftruncate(t->fd, 0) != 0) {
        t->write_errno = errno;
        return 0;
      }
      t->base = 0;
    }
  }
  const size_t len = size * n;
  size_t done = 0;
  while (done < len) {
    ssize_t w = ::write(t->fd, data + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      t->write_errno = w < 0 ? errno : ENOSPC;
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  t->written += static_cast<int64_t>(len);
  return len;
}

// The one progress style (src/core/progress.h), in MB, started when the body starts (the size
// is known then); bytes resumed from an earlier run are not counted in the rate.
void draw_progress(Transfer* t, bool final_draw) {
  if (t->mode == Progress::none || !t->body_started) return;
  if (!t->bar) {
    t->bar = std::make_unique<ProgressBar>(
        t->total, "MB", t->name,
        t->mode == Progress::bar ? ProgressBar::Style::redraw : ProgressBar::Style::lines, 1e6);
    t->bar->set_first(t->base);
  }
  t->bar->set_total(t->total);
  t->bar->update(t->base + t->written, "", final_draw);
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  draw_progress(static_cast<Transfer*>(user), false);
  return 0;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Empties the part (after a bad resume) so the next request starts from byte zero.
void truncate_part(int fd) {
  if (::ftruncate(fd, 0) != 0) std::fprintf(stderr, "warning: cannot truncate partial file\n");
}

int64_t file_size(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

struct Outcome {
  enum Kind { kDone, kRetryFromZero, kFailed } kind;
  Status status;
};

}  // namespace

// Sets up libcurl for one request of `url` (from byte t.offset) and runs it; *code gets the HTTP
// status. CURLE_FAILED_INIT when libcurl cannot start.
static CURLcode perform_request(const std::string& url, Transfer& t, const FetchOptions& opts,
                                char (&errbuf)[CURL_ERROR_SIZE], long* code) {
  CURL* curl = curl_easy_init();
  if (!curl) return CURLE_FAILED_INIT;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "scratchcv-fetch/0.1");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, opts.connect_timeout_s);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, opts.low_speed_bytes);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, opts.low_speed_time_s);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  // CURLOPT_RANGE rather than RESUME_FROM: libcurl then leaves a 200 answer (range ignored) or
  // an odd Content-Range to us instead of failing the transfer.
  const std::string range = str(t.offset, "-");
  if (t.offset > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, code);
  curl_easy_cleanup(curl);
  return rc;
}

// Words for a failed transfer (not an HTTP error status).
static std::string transfer_error_text(CURLcode rc, const std::string& detail,
                                       const std::string& sizes) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "offline or DNS failure" + detail;
    case CURLE_COULDNT_CONNECT:
      return "cannot connect" + detail;
    case CURLE_OPERATION_TIMEDOUT:
      return str("timed out after ", sizes, detail);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      return str("transfer interrupted after ", sizes, detail);
    default:
      return str("download failed after ", sizes, detail.empty() ? "" : detail);
  }
}

// One request: asks for the bytes after what the part holds, verifies and renames on success.
static Outcome transfer_once(const std::string& url, const std::string& name,
                             const std::string& part, const std::string& final_path, int fd,
                             const FetchOptions& opts, Progress mode, bool may_retry) {
  Transfer t;
  t.fd = fd;
  t.name = name;
  t.mode = mode;
  t.offset = file_size(fd);
  const std::string by_hand = "; to install it by hand, download " + url + " to " + final_path;
  if (mode != Progress::none) {
    if (t.offset > 0)
      std::fprintf(stderr, "resuming %s from byte %" PRId64 " -> %s\n", url.c_str(), t.offset,
                   final_path.c_str());
    else
      std::fprintf(stderr, "downloading %s -> %s\n", url.c_str(), final_path.c_str());
  }

  char errbuf[CURL_ERROR_SIZE] = {0};
  long code = 0;
  CURLcode rc = perform_request(url, t, opts, errbuf, &code);
  if (rc == CURLE_FAILED_INIT) return {Outcome::kFailed, error("cannot start libcurl", by_hand)};
  if (t.body_started) draw_progress(&t, true);

  const int64_t have = file_size(fd);
  auto sizes = [&] {
    return str(have, t.total > 0 ? str(" of ", t.total) : std::string(), " bytes");
  };
  auto keep_or_drop_part = [&] {
    if (file_size(fd) == 0) ::unlink(part.c_str());
  };
  const std::string detail = errbuf[0] ? std::string(" (") + errbuf + ")" : "";

  if (rc == CURLE_HTTP_RETURNED_ERROR) {
    if (code == 416 && t.offset > 0) {
      // Nothing after the bytes we hold: the part is complete already, or longer than the file.
      if (verify_file_hash(part, name).ok()) {
        // fall through to the rename below
      } else {
        truncate_part(fd);
        if (may_retry) return {Outcome::kRetryFromZero, Status()};
        ::unlink(part.c_str());
        return {Outcome::kFailed, error("HTTP 416 from ", url, by_hand)};
      }
    } else {
      keep_or_drop_part();
      return {Outcome::kFailed, error("HTTP ", code, " from ", url, by_hand)};
    }
  } else if (rc != CURLE_OK) {
    std::string what;
    if (t.range_mismatch) {
      what = "server answered the resume request with another byte range";
      truncate_part(fd);
      if (may_retry) return {Outcome::kRetryFromZero, Status()};
    } else if (t.write_errno) {
      what = str("cannot write ", part, ": ", std::strerror(t.write_errno));
    } else {
      what = transfer_error_text(rc, detail, sizes());
    }
    keep_or_drop_part();
    bool kept = file_exists(part);
    return {Outcome::kFailed, error(what, " fetching ", url,
                                    kept ? " (partial download kept for resuming)" : "", by_hand)};
  } else if (code != 0 && code != 200 && code != 206) {
    keep_or_drop_part();
    return {Outcome::kFailed, error("unexpected HTTP ", code, " from ", url, by_hand)};
  }

  // Complete: make it durable, check the hash, then publish under the final name.
  ::fsync(fd);
  Status v = verify_file_hash(part, name);
  if (!v.ok()) {
    const bool resumed = t.offset > 0 && t.base > 0;
    if (resumed && may_retry) {
      truncate_part(fd);
      if (mode != Progress::none)
        std::fprintf(stderr, "resumed download of %s failed its checksum; starting again\n",
                     name.c_str());
      return {Outcome::kRetryFromZero, Status()};
    }
    ::unlink(part.c_str());
    return {Outcome::kFailed, error(v.message(), " for ", name, " downloaded from ", url,
                                    " (wrong or corrupted file; deleted)", by_hand)};
  }
  if (::rename(part.c_str(), final_path.c_str()) != 0)
    return {Outcome::kFailed,
            error("cannot rename ", part, " to ", final_path, ": ", std::strerror(errno))};
  return {Outcome::kDone, Status()};
}

Result<std::string> fetch_file(const std::string& file_name, const FetchOptions& opts) {
  if (file_name.empty() || file_name.find('/') != std::string::npos || file_name[0] == '.')
    return error("bad file name '", file_name, "' (a plain name like resnet50-0676ba61.pth)");
  SCV_TRY(hash_prefix_from_name(file_name).status());
  const std::string dir = opts.cache_dir.empty() ? default_cache_dir() : opts.cache_dir;
  const std::string final_path = join(dir, file_name);
  const std::string part = final_path + ".part";
  const std::string url = model_url(file_name, opts.base_url);
  Progress mode = opts.progress;
  if (mode == Progress::automatic) mode = ::isatty(2) ? Progress::bar : Progress::lines;

  if (file_exists(final_path)) {
    Status v = verify_file_hash(final_path, file_name);
    if (v.ok()) {
      if (mode != Progress::none)
        std::fprintf(stderr, "%s: already in the cache (sha256 ok)\n", final_path.c_str());
      return final_path;
    }
    std::fprintf(stderr, "warning: %s: %s; downloading it again\n", final_path.c_str(),
                 v.message().c_str());
    ::unlink(final_path.c_str());
  }
  SCV_TRY(make_dirs(dir));

  int fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return error("cannot create ", part, ": ", std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return error("another process is downloading ", part, " right now; wait for it to finish");
  }
  global_init();
  Outcome out = transfer_once(url, file_name, part, final_path, fd, opts, mode, true);
  if (out.kind == Outcome::kRetryFromZero)
    out = transfer_once(url, file_name, part, final_path, fd, opts, mode, false);
  ::close(fd);
  if (out.kind != Outcome::kDone) {
    if (out.status.ok()) return error("download of ", url, " did not complete");
    return out.status;
  }
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);  // make the rename durable
    ::close(dfd);
  }
  return final_path;
}

}  // namespace scv
