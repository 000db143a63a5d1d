// The one progress style of scratchcv, on stderr, for every long job (photos, training steps,
// downloads):
//
//   PREFIX [#########.....................] 12/40  3.1 img/s  ETA 9s  EXTRA
//   resnet50.pth [###########...................] 35.6/102.5 MB  11.2 MB/s  ETA 6s
//
// Redrawn in place (at most 10 times a second) when stderr is a terminal; otherwise printed as
// plain lines every ~10% or every 10 s, whichever comes first, so logs and pipes stay readable
// and a long run is never silent. With a scale (downloads: 1e6, unit "MB") counts are shown as
// decimals of that unit; an unknown total (0 or less) shows the count and rate without bar and ETA.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace scv {

class ProgressBar {
 public:
  enum class Style { automatic, redraw, lines };  // automatic: redraw on a terminal, else lines

  ProgressBar(int64_t total, std::string unit, std::string prefix = "",
              Style style = Style::automatic, double scale = 1.0)
      : total_(total),
        unit_(std::move(unit)),
        prefix_(std::move(prefix)),
        tty_(style == Style::redraw || (style == Style::automatic && isatty(2))),
        scale_(scale),
        start_(clock::now()) {}

  // The total, when it is learnt after the start (a download's Content-Length).
  void set_total(int64_t total) { total_ = total; }
  // Counts below `first` were done before this run (a resumed download): not part of the rate.
  void set_first(int64_t first) { first_ = first; }

  // Erases the bar from the terminal line (before printing a result line on stdout/stderr).
  void clear() {
    if (tty_ && drawn_) std::fprintf(stderr, "\r\033[K");
  }

  // Draws `done` of the total; `force` draws now whatever the rate limit (the last update of a
  // job whose total was unknown).
  void update(int64_t done, const std::string& extra = "", bool force = false) {
    const double secs = std::chrono::duration<double>(clock::now() - start_).count();
    const bool finished = force || (total_ > 0 && done >= total_);
    if (finished && ended_ && done == last_done_) return;  // the last line is out already
    if (!finished) {
      if (tty_ && secs - last_ < 0.1 && drawn_) return;
      if (!tty_) {
        const int64_t step = total_ >= 10 ? total_ / 10 : 1;
        const bool same_tenth = total_ > 0 ? done / step == last_done_ / step : true;
        if (same_tenth && secs - last_ < 10) return;
      }
    }
    last_ = secs;
    last_done_ = done;
    drawn_ = true;
    ended_ = finished;
    const double rate = secs > 0 ? double(done - first_) / scale_ / secs : 0.0;
    std::string count, bar, eta;
    char buf[96];
    if (scale_ == 1.0)
      std::snprintf(buf, sizeof buf, "%lld", (long long)done);
    else
      std::snprintf(buf, sizeof buf, "%.1f", double(done) / scale_);
    count = buf;
    if (total_ > 0) {
      if (scale_ == 1.0)
        std::snprintf(buf, sizeof buf, "/%lld", (long long)total_);
      else
        std::snprintf(buf, sizeof buf, "/%.1f", double(total_) / scale_);
      count += buf;
      const size_t width = 30;
      const int64_t shown = done < total_ ? done : total_;  // a bar never overflows
      const size_t filled = size_t(width * shown / total_);
      bar.append(1, '[').append(filled, '#').append(width - filled, '.').append("] ");
      const double left = rate > 0 ? double(total_ - shown) / scale_ / rate : 0.0;
      std::snprintf(buf, sizeof buf, "  ETA %.0fs", left);
      eta = buf;
    }
    if (finished) {
      std::snprintf(buf, sizeof buf, "  took %.1fs", secs);
      eta = buf;
    }
    std::fprintf(stderr, "%s%s%s%s%s %s  %.1f %s/s%s%s%s%s", tty_ ? "\r" : "", prefix_.c_str(),
                 prefix_.empty() ? "" : " ", bar.c_str(), count.c_str(), unit_.c_str(), rate,
                 unit_.c_str(), eta.c_str(), extra.empty() ? "" : "  ", extra.c_str(),
                 tty_ ? "\033[K" : "\n");
    if (tty_ && finished) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  using clock = std::chrono::steady_clock;
  int64_t total_;
  std::string unit_, prefix_;
  bool tty_;
  double scale_;
  clock::time_point start_;
  double last_ = -1;
  int64_t last_done_ = 0, first_ = 0;
  bool drawn_ = false, ended_ = false;
};

}  // namespace scv
