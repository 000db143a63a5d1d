// A one-line progress bar on stderr: "[#####.....] 12/20  3.1 img/s  ETA 4s". Redrawn in place
// when stderr is a terminal; otherwise printed as plain lines every ~10% so logs stay readable.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace scv::cli {

class ProgressBar {
 public:
  ProgressBar(int64_t total, std::string unit)
      : total_(total), unit_(std::move(unit)), tty_(isatty(2)), start_(clock::now()) {}

  void update(int64_t done) {
    const double secs = std::chrono::duration<double>(clock::now() - start_).count();
    const double rate = secs > 0 ? double(done) / secs : 0.0;
    const double eta = rate > 0 ? double(total_ - done) / rate : 0.0;
    const int width = 30;
    const int filled = total_ > 0 ? int(width * done / total_) : width;
    if (!tty_) {
      const int64_t step = total_ >= 10 ? total_ / 10 : 1;
      if (done != total_ && done % step != 0) return;
    }
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "%s[%s] %lld/%lld  %.1f %s/s  ETA %.0fs%s", tty_ ? "\r" : "", bar.c_str(),
                 (long long)done, (long long)total_, rate, unit_.c_str(), eta,
                 tty_ ? "\033[K" : "\n");
    if (tty_ && done == total_) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  using clock = std::chrono::steady_clock;
  int64_t total_;
  std::string unit_;
  bool tty_;
  clock::time_point start_;
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
