// The classic CV subcommands: gray, yuv, blur, gaussian, canny, otsu (see docs/cv.md).
//
// Each reads a JPEG/PNG/BMP/WebP/TIFF (any channel count; '-' is stdin), converts it as the
// command documents, runs the algorithm from scratchcv/cv.h and writes the format OUT's extension
// names (PNG by default; '-' is stdout) through the safe-output helper. Common options: --compare
// PATH (side-by-side input|output PNG), --threads N, --isa ref|avx2|avx512, --bench N (time the
// algorithm alone N times and print median/min; used by bench/cv_bench.py).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli.h"
#include "runner.h"
#include "scratchcv/cpu.h"
#include "scratchcv/cv.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/thread_pool.h"

namespace {

using scv::Image;
using scv::Result;
using scv::Status;

struct Common {
  std::string compare, isa;
  int threads = 0, bench = 0, quality = 95;
};

// The common options and the IN OUT paths of one command.
struct Io {
  Common c;
  std::vector<std::string> pos;
  const std::string& in() const { return pos[0]; }
  const std::string& out() const { return pos[1]; }
};

void add_common(scv::cli::ArgParser& p, Common* c) {
  p.option("quality", &c->quality, "Q", "JPEG/WebP quality (default 95; WebP 100 = lossless)")
      .range(1, 100)
      .option("compare", &c->compare, "PATH", "also write a side-by-side input|output image")
      .threads(&c->threads)
      .option("isa", &c->isa, "ISA", "force a kernel path: ref, avx2 or avx512")
      .option("bench", &c->bench, "N", "time the algorithm alone N times (median/min, ms)");
}

// Applies --isa; returns a non-empty message on a bad value.
std::string apply_common(const Common& c) {
  if (!c.isa.empty()) {
    scv::Isa isa;
    if (!scv::parse_isa(c.isa, &isa))
      return "--isa must be ref, avx2 or avx512, got '" + c.isa + "'";
    if (!scv::isa_supported(isa)) return "--isa " + c.isa + " is not supported by this CPU";
    scv::set_active_isa(isa);
  }
  if (c.bench < 0 || c.bench > 100000) return "--bench must be between 1 and 100000";
  return "";
}

// Refuses an output path that names the input file (or is the same string).
std::string check_not_input(const std::string& in, const std::string& out) {
  if (in == out || scv::same_file(in, out))
    return "refusing to overwrite the input file '" + in + "' with the output";
  return "";
}

// Times `fn` n times (after one warm-up run): wall clock and process CPU time, median and min.
void time_it(const std::string& name, const char* mode, int n, const std::function<void()>& fn) {
  auto cpu_ms = [] {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
  };
  fn();
  std::vector<double> wall, cpu;
  for (int i = 0; i < n; ++i) {
    const double c0 = cpu_ms();
    auto t0 = std::chrono::steady_clock::now();
    fn();
    auto t1 = std::chrono::steady_clock::now();
    cpu.push_back(cpu_ms() - c0);
    wall.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  std::printf(
      "bench %s %s: median %.3f ms min %.3f ms cpu median %.3f ms min %.3f ms (n %d, threads %d, "
      "isa %s)\n",
      name.c_str(), mode, wall[wall.size() / 2], wall[0], cpu[cpu.size() / 2], cpu[0], n,
      scv::ThreadPool::global().num_threads(), scv::isa_name(scv::active_isa()));
}

// --bench N (nothing without it): the plain API (a new output image per call) and the
// dst-reusing overload.
void run_bench(const Common& c, const std::string& name, const std::function<void()>& alloc,
               const std::function<void()>& reuse) {
  if (!c.bench) return;
  time_it(name, "alloc", c.bench, alloc);
  time_it(name, "reuse", c.bench, reuse);
}

// input | output side by side, both converted to the larger channel count.
Image side_by_side(const Image& a, const Image& b) {
  const int c = std::max(a.channels, b.channels);
  const Image l = scv::convert_channels(a, c), r = scv::convert_channels(b, c);
  Image out(l.width + r.width, std::max(l.height, r.height), c);
  for (int y = 0; y < l.height; ++y)
    std::copy(l.row(y), l.row(y) + size_t(l.width) * c, out.row(y));
  for (int y = 0; y < r.height; ++y)
    std::copy(r.row(y), r.row(y) + size_t(r.width) * c, out.row(y) + size_t(l.width) * c);
  return out;
}

// The shared tail of every command: write OUT (and --compare), or print one error line.
int write_outputs(const scv::cli::ArgParser& p, const Io& io, const Image& input,
                  const Image& output) {
  Status st = scv::save_image(io.out(), output, io.c.quality);
  if (!st.ok()) return p.fail(st.message());
  if (!io.c.compare.empty()) {
    st = scv::save_image(io.c.compare, side_by_side(input, output), io.c.quality);
    if (!st.ok()) {
      std::remove(io.out().c_str());
      return p.fail(st.message());
    }
  }
  return 0;
}

// blur, gaussian, canny: an operation that can fail, as op() -> Result<Image> and
// into(&dst) -> Status. Timed with --bench (both forms), then run once and written.
template <class Op, class Into>
int run_and_write(const scv::cli::ArgParser& p, const Io& io, const std::string& name,
                  const Image& input, Op op, Into into) {
  Image tmp;
  run_bench(
      io.c, name, [&] { (void)op(); }, [&] { (void)into(&tmp); });
  auto out = op();
  if (!out.ok()) return p.fail(out.status().message());
  return write_outputs(p, io, input, *out);
}

// Checks the IN OUT count, applies the common options and refuses an OUT (or --compare) that
// would overwrite IN or cannot be written. Returns the exit code on failure, nullopt to go on.
std::optional<int> check_io(const scv::cli::ArgParser& p, const Io& io) {
  if (io.pos.size() != 2) {
    p.fail("expected IN and OUT paths, got " + std::to_string(io.pos.size()) +
           " positional arguments (see --help)");
    return 2;
  }
  scv::ThreadPool::set_global_threads(io.c.threads);  // the CV calls run on the process pool
  std::string msg = apply_common(io.c);
  if (!msg.empty()) return p.usage_error(msg);
  msg = check_not_input(io.in(), io.out());
  if (msg.empty()) msg = scv::check_output(io.out()).message();
  if (msg.empty() && !io.c.compare.empty()) {
    msg = check_not_input(io.in(), io.c.compare);
    if (msg.empty() && (io.c.compare == io.out() || scv::same_file(io.c.compare, io.out())))
      msg = "--compare must name a different file than OUT";
  }
  if (!msg.empty()) return p.fail(msg);
  return std::nullopt;
}

// Declares the common options, parses and runs check_io. Returns the exit code when the command
// ends here (--help, an error), nullopt to go on.
std::optional<int> begin(scv::cli::ArgParser& p, const std::vector<std::string>& args, Io* io) {
  add_common(p, &io->c);
  if (!p.parse(args, &io->pos)) return p.exit_code();
  return check_io(p, *io);
}

constexpr int kNoKsize = -1000000;
std::string check_ksize(int ksize) {
  if (ksize == kNoKsize) return "--ksize K is required (odd, 1..255)";
  if (ksize <= 0 || ksize % 2 == 0 || ksize > 255)
    return "--ksize must be odd and between 1 and 255, got " + std::to_string(ksize);
  return "";
}

Result<Image> load(const std::string& path) {
  return scv::load_image(path, scv::ColorMode::keep);
}

// ---- gray -------------------------------------------------------------------------------------
int cmd_gray(const std::vector<std::string>& args) {
  scv::cli::ArgParser p("gray", "BT.601 luma (0.299 R + 0.587 G + 0.114 B), as OpenCV RGB2GRAY.",
                        "IN OUT");
  p.epilog(
      "Input: JPEG/PNG/BMP/WebP/TIFF; gray is copied, alpha ignored. Output: 1 channel, in the\n"
      "format of OUT's extension (.png default, .jpg, .bmp, .webp, .tif).");
  Io io;
  if (auto rc = begin(p, args, &io)) return *rc;
  auto img = load(io.in());
  if (!img.ok()) return p.fail(img.status().message());
  Image tmp;
  run_bench(
      io.c, "gray", [&] { (void)scv::rgb_to_gray(*img); }, [&] { scv::rgb_to_gray(*img, &tmp); });
  return write_outputs(p, io, *img, scv::rgb_to_gray(*img));
}

// ---- yuv --------------------------------------------------------------------------------------
std::string plane_path(const std::string& base, const char* plane) {
  const size_t slash = base.find_last_of('/');
  const size_t dot = base.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return base + "_" + plane + ".png";
  return base.substr(0, dot) + "_" + plane + base.substr(dot);
}

int cmd_yuv(const std::vector<std::string>& args) {
  scv::cli::ArgParser p("yuv", "BT.601 full-range YUV, as OpenCV COLOR_RGB2YUV / COLOR_YUV2RGB.",
                        "IN OUT");
  bool planes = false, inverse = false;
  p.flag("planes", &planes, "write (or with --inverse read) Y, U, V as three 1-channel PNGs")
      .flag("inverse", &inverse, "convert YUV back to RGB")
      .epilog(
          "Forward: input any JPEG/PNG (gray replicated, alpha dropped); OUT holds Y, U, V in\n"
          "the R, G, B channels. --planes writes OUT_y.png, OUT_u.png, OUT_v.png instead\n"
          "(OUT=a.png -> a_y.png ...). --inverse reads a 3-channel YUV PNG (or, with --planes,\n"
          "IN_y/IN_u/IN_v) and writes RGB.");
  Io io;
  if (auto rc = begin(p, args, &io)) return *rc;
  const char* names[3] = {"y", "u", "v"};
  Image in;
  if (inverse && planes) {
    in = Image();
    for (int k = 0; k < 3; ++k) {
      const std::string path = plane_path(io.in(), names[k]);
      std::string msg = check_not_input(path, io.out());
      if (!msg.empty()) return p.fail(msg);
      auto pl = scv::load_image(path, scv::ColorMode::gray);
      if (!pl.ok()) return p.fail(pl.status().message());
      if (k == 0) in = Image(pl->width, pl->height, 3);
      if (pl->width != in.width || pl->height != in.height)
        return p.fail(path + ": plane is " + std::to_string(pl->width) + "x" +
                      std::to_string(pl->height) + ", expected " + std::to_string(in.width) + "x" +
                      std::to_string(in.height) + " like the Y plane");
      for (size_t i = 0; i < pl->pixels.size(); ++i) in.pixels[i * 3 + k] = pl->pixels[i];
    }
  } else {
    auto img = load(io.in());
    if (!img.ok()) return p.fail(img.status().message());
    in = std::move(*img);
    if (inverse && in.channels == 1)
      return p.fail(io.in() + ": --inverse expects a 3-channel YUV image, got 1 channel");
    if (in.channels == 1 || (inverse && in.channels == 4)) in = scv::convert_channels(in, 3);
  }
  auto run = [&] { return inverse ? scv::yuv_to_rgb(in) : scv::rgb_to_yuv(in); };
  Image tmp;
  run_bench(
      io.c, inverse ? "yuv-inverse" : "yuv", [&] { (void)run(); },
      [&] { inverse ? scv::yuv_to_rgb(in, &tmp) : scv::rgb_to_yuv(in, &tmp); });
  Image out = run();
  if (!planes || inverse) return write_outputs(p, io, in, out);
  std::vector<std::string> written;
  for (int k = 0; k < 3; ++k) {
    const std::string path = plane_path(io.out(), names[k]);
    std::string msg = check_not_input(io.in(), path);
    Status st;
    if (msg.empty()) {
      Image pl(out.width, out.height, 1);
      for (size_t i = 0; i < pl.pixels.size(); ++i) pl.pixels[i] = out.pixels[i * 3 + k];
      st = scv::save_image(path, pl, io.c.quality);
      if (!st.ok()) msg = st.message();
    }
    if (!msg.empty()) {
      for (const auto& w : written) std::remove(w.c_str());
      return p.fail(msg);
    }
    written.push_back(path);
  }
  if (!io.c.compare.empty()) {
    Status st = scv::save_image(io.c.compare, side_by_side(in, out), io.c.quality);
    if (!st.ok()) {
      for (const auto& w : written) std::remove(w.c_str());
      return p.fail(st.message());
    }
  }
  return 0;
}

// ---- blur / gaussian --------------------------------------------------------------------------
int cmd_blur(const std::vector<std::string>& args) {
  scv::cli::ArgParser p("blur", "Mean (box) filter, as cv::blur with BORDER_REFLECT_101.",
                        "IN OUT");
  int ksize = kNoKsize;
  p.option("ksize", &ksize, "K", "window size, odd, 1..255 (required)")
      .epilog("Every channel is filtered (gray, RGB, RGBA kept as read).");
  Io io;
  if (auto rc = begin(p, args, &io)) return *rc;
  if (std::string m = check_ksize(ksize); !m.empty()) return p.usage_error(m);
  auto img = load(io.in());
  if (!img.ok()) return p.fail(img.status().message());
  return run_and_write(
      p, io, "blur", *img, [&] { return scv::box_blur(*img, ksize); },
      [&](Image* dst) { return scv::box_blur(*img, ksize, dst); });
}

int cmd_gaussian(const std::vector<std::string>& args) {
  scv::cli::ArgParser p("gaussian",
                        "Gaussian blur, as cv::GaussianBlur (8-bit bit-exact path, "
                        "BORDER_REFLECT_101).",
                        "IN OUT");
  int ksize = kNoKsize;
  double sigma = 0;
  bool show = false;
  p.option("ksize", &ksize, "K", "kernel size, odd, 1..255 (required)")
      .option("sigma", &sigma, "S", "standard deviation (default: 0.3*((K-1)/2 - 1) + 0.8)")
      .flag("show-kernel", &show, "print the 2-D kernel (IN OUT optional then)")
      .epilog("Every channel is filtered (gray, RGB, RGBA kept as read).");
  Io io;
  add_common(p, &io.c);
  if (!p.parse(args, &io.pos)) return p.exit_code();
  if (std::string m = check_ksize(ksize); !m.empty()) return p.usage_error(m);
  if (sigma < 0) return p.usage_error(scv::str("--sigma must be >= 0, got ", sigma));
  if (show) {
    auto k = scv::gaussian_kernel(ksize, sigma);
    if (!k.ok()) return p.fail(k.status().message());
    std::printf("2-D Gaussian kernel %dx%d (outer product of getGaussianKernel):\n", ksize, ksize);
    for (double a : *k) {
      for (double b : *k) std::printf(" %.6f", a * b);
      std::printf("\n");
    }
    auto q = scv::gaussian_kernel_q8(ksize, sigma);
    if (q.ok()) {
      std::printf("8-bit taps (x/256, as GaussianBlur's fixed-point path):");
      for (uint16_t v : *q) std::printf(" %u", unsigned(v));
      std::printf("\n");
    }
    if (io.pos.empty()) return 0;
  }
  if (auto rc = check_io(p, io)) return *rc;
  auto img = load(io.in());
  if (!img.ok()) return p.fail(img.status().message());
  return run_and_write(
      p, io, "gaussian", *img, [&] { return scv::gaussian_blur(*img, ksize, sigma); },
      [&](Image* dst) { return scv::gaussian_blur(*img, ksize, sigma, dst); });
}

// ---- canny / otsu -----------------------------------------------------------------------------
int cmd_canny(const std::vector<std::string>& args) {
  scv::cli::ArgParser p("canny", "Canny edges, as cv::Canny, on the BT.601 grayscale image.",
                        "IN OUT");
  double low = -1, high = -1;
  int aperture = 3;
  bool l2 = false;
  p.option("low", &low, "L", "lower hysteresis threshold (required)")
      .option("high", &high, "H", "upper hysteresis threshold (required, >= L)")
      .option("aperture", &aperture, "A", "Sobel aperture 3, 5 or 7 (default 3)")
      .flag("l2", &l2, "use the L2 gradient magnitude (default L1: |gx| + |gy|)")
      .epilog(
          "Colour input is converted to gray first (as the gray command). Output: 255 on edges.");
  Io io;
  if (auto rc = begin(p, args, &io)) return *rc;
  if (low < 0 || high < 0) return p.usage_error("--low and --high are required and must be >= 0");
  if (low > high)
    return p.usage_error(scv::str("--low (", low, ") must not exceed --high (", high, ")"));
  if (aperture != 3 && aperture != 5 && aperture != 7)
    return p.usage_error("--aperture must be 3, 5 or 7, got " + std::to_string(aperture));
  auto img = load(io.in());
  if (!img.ok()) return p.fail(img.status().message());
  const Image gray = scv::rgb_to_gray(*img);
  scv::CannyParams cp;
  cp.low = low, cp.high = high, cp.aperture = aperture, cp.l2 = l2;
  return run_and_write(
      p, io, "canny", *img, [&] { return scv::canny(gray, cp); },
      [&](Image* dst) { return scv::canny(gray, cp, dst); });
}

int cmd_otsu(const std::vector<std::string>& args) {
  scv::cli::ArgParser p("otsu",
                        "Otsu's threshold of the grayscale image, as cv::threshold(THRESH_OTSU); "
                        "prints it and writes the binary image.",
                        "IN OUT");
  p.epilog("Colour input is converted to gray first. Output: 255 where gray > threshold.");
  Io io;
  if (auto rc = begin(p, args, &io)) return *rc;
  auto img = load(io.in());
  if (!img.ok()) return p.fail(img.status().message());
  const Image gray = scv::rgb_to_gray(*img);
  Image tmp;
  run_bench(
      io.c, "otsu", [&] { (void)scv::threshold_binary(gray, scv::otsu_threshold(gray)); },
      [&] { scv::threshold_binary(gray, scv::otsu_threshold(gray), &tmp); });
  const int t = scv::otsu_threshold(gray);
  std::printf("threshold: %d\n", t);
  return write_outputs(p, io, *img, scv::threshold_binary(gray, t));
}

const scv::cli::Command reg_gray("gray", "grayscale (BT.601 luma), as OpenCV RGB2GRAY", cmd_gray);
const scv::cli::Command reg_yuv("yuv", "RGB <-> BT.601 YUV, as OpenCV RGB2YUV/YUV2RGB", cmd_yuv);
const scv::cli::Command reg_blur("blur", "mean (box) filter, as cv::blur", cmd_blur);
const scv::cli::Command reg_gaussian("gaussian", "Gaussian blur, as cv::GaussianBlur",
                                     cmd_gaussian);
const scv::cli::Command reg_canny("canny", "Canny edge detector, as cv::Canny", cmd_canny);
const scv::cli::Command reg_otsu("otsu", "Otsu threshold and binary image", cmd_otsu);

}  // namespace
