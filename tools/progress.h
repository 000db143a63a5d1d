// The one progress style of the CLI, on stderr: "PREFIX [#####.....] 12/20  3.1 img/s  ETA 4s
// EXTRA". Redrawn in place (at most 10 times a second) when stderr is a terminal; otherwise
// printed as plain lines every ~10% or every 10 s, whichever comes first, so logs and pipes stay
// readable and a long run is never silent.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace scv::cli {

class ProgressBar {
 public:
  ProgressBar(int64_t total, std::string unit, std::string prefix = "")
      : total_(total),
        unit_(std::move(unit)),
        prefix_(std::move(prefix)),
        tty_(isatty(2)),
        start_(clock::now()) {}

  // Erases the bar from the terminal line (before printing a result line on stdout/stderr).
  void clear() {
    if (tty_ && drawn_) std::fprintf(stderr, "\r\033[K");
  }

  void update(int64_t done, const std::string& extra = "") {
    const double secs = std::chrono::duration<double>(clock::now() - start_).count();
    const double rate = secs > 0 ? double(done) / secs : 0.0;
    const double eta = rate > 0 ? double(total_ - done) / rate : 0.0;
    const int width = 30;
    const int filled = total_ > 0 ? int(width * done / total_) : width;
    if (done != total_) {
      if (tty_ && secs - last_ < 0.1 && drawn_) return;
      if (!tty_) {
        const int64_t step = total_ >= 10 ? total_ / 10 : 1;
        if (done / step == last_done_ / step && secs - last_ < 10) return;
      }
    }
    last_ = secs;
    last_done_ = done;
    drawn_ = true;
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "%s%s%s[%s] %lld/%lld  %.1f %s/s  ETA %.0fs%s%s%s", tty_ ? "\r" : "",
                 prefix_.c_str(), prefix_.empty() ? "" : " ", bar.c_str(), (long long)done,
                 (long long)total_, rate, unit_.c_str(), eta, extra.empty() ? "" : "  ",
                 extra.c_str(), tty_ ? "\033[K" : "\n");
    if (tty_ && done == total_) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  using clock = std::chrono::steady_clock;
  int64_t total_;
  std::string unit_, prefix_;
  bool tty_;
  clock::time_point start_;
  double last_ = -1;
  int64_t last_done_ = 0;
  bool drawn_ = false;
};

// JSON string literal with escapes.
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace scv::cli
