// `scratchcv bench`: latency / throughput of a model through Session, the optimisation ladder,
// per-layer times, and machine-readable JSON.
//
// Every figure is checked before it is timed: the ladder compares each step's logits with the
// reference step; the plain bench compares with a reference Session run when --check is given.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bench_tflite.h"
#include "cli.h"
#include "ladder_plot.h"
#include "runner.h"
#include "scratchcv/file_util.h"
#include "scratchcv/model.h"
#include "scratchcv/session.h"

namespace scv {
namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU time of the whole process (all threads), ms: under a loaded machine this stays close to
// the uncontended cost while wall time does not.
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

// Measured FMA peak in GFLOP/s of one core for `isa` (the best of 60 ~1 ms probes).
double measure_peak_per_core(Isa isa) {
  return fma_peak_gflops(isa == Isa::ref ? best_isa() : isa);
}

struct Timing {
  double median_ms = 0, min_ms = 0, cpu_ms = 0;  // cpu_ms: median process CPU time per run
  int iters = 0;
};

Timing time_session(Session& s, const std::vector<float>& in, std::vector<float>& out, int iters,
                    int warmup, double budget_ms) {
  for (int i = 0; i < warmup; ++i) (void)s.run(in.data(), out.data());
  std::vector<double> t, c;
  const double start = now_ms();
  for (int i = 0; i < iters; ++i) {
    const double t0 = now_ms(), c0 = cpu_ms();
    (void)s.run(in.data(), out.data());
    t.push_back(now_ms() - t0);
    c.push_back(cpu_ms() - c0);
    if (now_ms() - start > budget_ms && !t.empty()) break;
  }
  Timing r;
  r.median_ms = median(t);
  r.min_ms = *std::min_element(t.begin(), t.end());
  r.cpu_ms = median(c);
  r.iters = static_cast<int>(t.size());
  return r;
}

// A JSON string literal; bytes that are not UTF-8 (a file name) become U+FFFD, so the document
// stays valid JSON.
std::string json_str(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status write_all_fd(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return error("standard output: write failed: ", std::strerror(errno));
    done += size_t(w);
  }
  return Status();
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs((double)a[i] - b[i]));
  return d;
}

int cmd_bench(const std::vector<std::string>& args) {
  if (cli::bench_wants_tflite(args)) return cli::bench_tflite(args);  // tools/bench_tflite.cpp
  std::string model, arch, isa_s, json_path, plot_path;
  int batch = 1, threads = 0, iters = 20, warmup = 3, size = 224;
  std::string threads_s;
  bool ladder = false, per_layer = false, no_winograd = false, no_tiles = false,
       no_image_parallel = false;
  cli::ArgParser p("bench", "time a model (default: random-weight resnet50) through Session");
  p.option("model", &model, "PATH", "model file (.pth or .onnx); default: random resnet50")
      .option("arch", &arch, "NAME", "architecture for .pth (default: detect)")
      .option("batch", &batch, "N", "images per run (default 1)")
      .range(1, 4096)
      .option("threads", &threads_s, "N", "worker threads (default: the usable CPUs)")
      .option("iters", &iters, "N", "timed runs (default 20)")
      .range(1, 1000000)
      .option("warmup", &warmup, "N", "untimed runs first (default 3)")
      .range(0, 1000000)
      .option("size", &size, "PX", "input height and width (default 224)")
      .range(1, 4096)
      .option("isa", &isa_s, "ISA", "ref | avx2 | avx512 (default: best this CPU has)")
      .flag("ladder", &ladder, "run the optimisation ladder (reference -> +threads)")
      .option("plot", &plot_path, "PNG", "with --ladder: draw it as a bar chart with speed-ups")
      .flag("per-layer", &per_layer, "print the time of every step")
      .flag("no-winograd", &no_winograd, "3x3 convs by the direct kernel, not Winograd F(2,3)")
      .flag("no-tiles", &no_tiles, "convs one output row at a time (no pixel tiles / K chunks)")
      .flag("no-image-parallel", &no_image_parallel,
            "batches: all threads share each layer instead of taking whole images")
      .option("json", &json_path, "[PATH]",
              "also write the figures as JSON (bare --json or '-': stdout)")
      .epilog(
          "Examples:\n  scratchcv bench --batch 1 --threads 2\n"
          "  scratchcv bench --ladder --threads 2\n"
          "  scratchcv bench --model resnet50.onnx --batch 8 --json out.json");
  // A bare --json (last, or followed by another option) means "print the JSON line to stdout".
  std::vector<std::string> argv2 = args;
  for (size_t i = 0; i < argv2.size(); ++i)
    if (argv2[i] == "--json" && (i + 1 == argv2.size() || argv2[i + 1].rfind("--", 0) == 0))
      argv2[i] = "--json=-";
  std::vector<std::string> pos;
  if (!p.parse(argv2, &pos)) return p.exit_code();
  if (int rc = resolve_threads_option(p, threads_s, &threads)) return rc;
  if (!pos.empty()) return p.usage_error("unexpected argument '" + pos[0] + "'");
  if (batch < 1 || iters < 1 || warmup < 0 || size < 1)
    return p.usage_error("--batch, --iters and --size must be positive");
  // --json - : stdout carries the JSON document only (for jq); the readable report goes to
  // stderr. --json FILE: checked now, written at the end.
  int json_fd = -1;
  if (json_path == "-") {
    std::fflush(stdout);
    json_fd = ::dup(1);
    if (json_fd < 0 || ::dup2(2, 1) < 0) return p.fail("cannot redirect the report to stderr");
  } else if (!json_path.empty()) {
    if (Status st = check_output(json_path); !st.ok()) return p.fail(st.message());
  }
  Isa isa = best_isa();
  if (!isa_s.empty()) {
    if (!parse_isa(isa_s, &isa))
      return p.usage_error("unknown --isa '" + isa_s + "' (ref|avx2|avx512)");
    if (!isa_supported(isa))
      return p.fail(std::string("this CPU does not support --isa ") + isa_s +
                    " (best: " + isa_name(best_isa()) + ")");
  }

  Graph g;
  std::string model_name = model.empty() ? "resnet50 (random weights)" : model;
  if (model.empty()) {
    auto cfg = resnet_config("resnet50");
    if (!cfg.ok()) return p.fail(cfg.status().message());
    auto built = build_resnet(random_resnet_weights(*cfg, 1), *cfg);
    if (!built.ok()) return p.fail(built.status().message());
    g = std::move(built).value();
  } else {
    auto loaded = load_model(model, arch);
    if (!loaded.ok()) return p.fail(loaded.status().message());
    g = std::move(loaded).value();
  }
  const Shape in_shape = {batch, 3, size, size};
  std::vector<float> input(shape_numel(in_shape));
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (float& v : input) v = dist(rng);

  const double peak_core = measure_peak_per_core(isa);
  const auto& cpu = cpu_features();
  std::printf("cpu: %s | isa %s | measured FMA peak %.1f GFLOP/s per core (%.1f for %d threads)\n",
              cpu.brand.c_str(), isa_name(isa), peak_core, peak_core * threads, threads);
  std::printf("model: %s | input %s\n", model_name.c_str(), shape_str(in_shape).c_str());

  std::ostringstream json;
  json.precision(6);
  json << "{\"model\":" << json_str(model_name) << ",\"cpu\":" << json_str(cpu.brand)
       << ",\"isa\":\"" << isa_name(isa) << "\",\"batch\":" << batch << ",\"threads\":" << threads
       << ",\"peak_gflops_per_core\":" << peak_core;

  if (ladder) {
    struct Rung {
      const char* name;
      SessionOptions o;
    };
    std::vector<Rung> rungs;
    SessionOptions o;
    o.isa = isa;
    o.threads = 1;
    o.simd = o.prepack = o.fuse = o.blocked = false;
    rungs.push_back({"reference loops (scalar, NCHW)", o});
    o.simd = true;
    rungs.push_back({"+SIMD (im2col + GEMM microkernel)", o});
    o.prepack = true;
    rungs.push_back({"+pre-packed weights, no malloc", o});
    o.fuse = true;
    rungs.push_back({"+fusion (BN fold, ReLU, Add)", o});
    o.blocked = true;
    o.tiles = o.winograd = false;
    rungs.push_back({"+blocked NCHWc direct conv", o});
    o.tiles = true;
    rungs.push_back({"+cache blocking (pixel tiles)", o});
    o.winograd = true;
    rungs.push_back({"+Winograd F(4,3)/F(2,3) for 3x3", o});
    o.threads = threads;
    rungs.push_back({"+threads", o});
    if (isa == Isa::ref) rungs.resize(1);
    // Speed-ups use the minimum wall time of each step (robust when other processes share the
    // cores); median and process CPU time are printed beside it.
    std::printf("\n%-36s %9s %9s %9s %9s %7s %9s %8s %10s\n", "step", "min ms", "median", "cpu ms",
                "GFLOP/s", "%peak", "speed-up", "vs ref", "max|diff|");
    std::vector<float> ref_out;
    std::vector<cli::LadderStep> steps;  // for --plot
    double ref_ms = 0, prev_ms = 0;
    json << ",\"ladder\":[";
    for (size_t i = 0; i < rungs.size(); ++i) {
      auto s = Session::create(g, in_shape, rungs[i].o);
      if (!s.ok()) return p.fail(s.status().message());
      std::vector<float> out(shape_numel((*s)->output_shape()));
      const double t0 = now_ms(), c0 = cpu_ms();
      (void)(*s)->run(input.data(), out.data());
      const double first_ms = now_ms() - t0, first_cpu = cpu_ms() - c0;
      double diff = 0;
      if (i == 0) {
        ref_out = out;
      } else {
        diff = max_abs_diff(ref_out, out);
        double scale = 1.0;
        for (float v : ref_out) scale = std::max(scale, (double)std::fabs(v));
        if (!(diff <= 1e-3 * scale)) {
          std::fprintf(stderr, "scratchcv bench: step '%s' differs from the reference by %g\n",
                       rungs[i].name, diff);
          return 1;
        }
      }
      Timing t;
      if (first_ms > 2000) {
        t.median_ms = t.min_ms = first_ms;  // slow rung: the checked run is the timing
        t.cpu_ms = first_cpu;
        t.iters = 1;
      } else {
        t = time_session(**s, input, out, iters, first_ms > 200 ? 0 : warmup, 20000);
      }
      const double gf = (*s)->flops() / (t.min_ms * 1e6);
      const double peak = peak_core * rungs[i].o.threads;
      if (i == 0) ref_ms = t.min_ms;
      std::printf("%zu %-34s %9.2f %9.2f %9.2f %9.1f %6.1f%% %8.2fx %7.1fx %10.2e\n", i,
                  rungs[i].name, t.min_ms, t.median_ms, t.cpu_ms, gf, 100.0 * gf / peak,
                  i ? prev_ms / t.min_ms : 1.0, ref_ms / t.min_ms, diff);
      json << (i ? "," : "") << "{\"step\":\"" << rungs[i].name
           << "\",\"median_ms\":" << t.median_ms << ",\"min_ms\":" << t.min_ms
           << ",\"cpu_ms\":" << t.cpu_ms << ",\"gflops\":" << gf
           << ",\"peak_pct\":" << 100.0 * gf / peak << ",\"max_abs_diff\":" << diff << "}";
      prev_ms = t.min_ms;
      steps.push_back({rungs[i].name, t.min_ms});
    }
    json << "]";
    if (!plot_path.empty()) {
      Status st = cli::write_ladder_plot(plot_path, "Optimisation ladder: " + model_name, steps);
      if (!st.ok()) return p.fail(st.message());
    }
  }

  SessionOptions opt;
  opt.isa = isa;
  opt.threads = threads;
  opt.winograd = !no_winograd;
  opt.tiles = !no_tiles;
  opt.image_parallel = !no_image_parallel;
  const double c0 = now_ms(), cc0 = cpu_ms();
  // The graph is not needed any more: the session takes it and frees each weight once packed.
  auto s = Session::create(std::move(g), in_shape, opt);
  if (!s.ok()) return p.fail(s.status().message());
  const double prepare_ms = now_ms() - c0, prepare_cpu_ms = cpu_ms() - cc0;
  std::vector<float> out(shape_numel((*s)->output_shape()));
  const Timing t = time_session(**s, input, out, iters, warmup, 1e12);
  const double gf = (*s)->flops() / (t.median_ms * 1e6);
  const double peak = peak_core * threads;
  const double ips = batch * 1000.0 / t.median_ms;
  std::printf(
      "\nbench: batch %d, %d threads, %s: median %.2f ms, min %.2f ms (%d runs), cpu %.2f ms | "
      "%.2f ms/img | "
      "%.1f img/s | %.1f GFLOP/s = %.1f%% of measured peak | prepare %.0f ms (cpu %.0f) | arena "
      "%.1f "
      "MiB, "
      "packed weights %.1f MiB\n",
      batch, threads, isa_name(isa), t.median_ms, t.min_ms, t.iters, t.cpu_ms, t.median_ms / batch,
      ips, gf, 100.0 * gf / peak, prepare_ms, prepare_cpu_ms, (*s)->arena_bytes() / 1048576.0,
      (*s)->weight_bytes() / 1048576.0);
  if ((*s)->image_parallel())
    std::printf("(image-parallel: each thread runs whole images of the batch)\n");
  const double xgf = (*s)->exec_flops() / (t.median_ms * 1e6);
  if ((*s)->exec_flops() < (*s)->flops())
    std::printf(
        "(GFLOP/s counts the direct convolution's %.2f GFLOP per run; Winograd executes %.2f, "
        "so the FMA units ran at %.1f GFLOP/s = %.1f%% of peak)\n",
        (*s)->flops() / 1e9, (*s)->exec_flops() / 1e9, xgf, 100.0 * xgf / peak);
  json << ",\"gflop_per_run\":" << (*s)->flops() / 1e9 << ",\"median_ms\":" << t.median_ms
       << ",\"min_ms\":" << t.min_ms << ",\"cpu_ms\":" << t.cpu_ms
       << ",\"ms_per_img\":" << t.median_ms / batch << ",\"imgs_per_s\":" << ips
       << ",\"gflops\":" << gf << ",\"peak_gflops\":" << peak
       << ",\"peak_pct\":" << 100.0 * gf / peak
       << ",\"exec_gflop_per_run\":" << (*s)->exec_flops() / 1e9
       << ",\"exec_peak_pct\":" << 100.0 * xgf / peak << ",\"prepare_ms\":" << prepare_ms
       << ",\"prepare_cpu_ms\":" << prepare_cpu_ms;

  if (per_layer) {
    const auto& steps = (*s)->steps();
    std::vector<std::vector<double>> per(steps.size());
    std::vector<double> ms;
    for (int i = 0; i < iters; ++i) {
      (void)(*s)->run_profiled(input.data(), out.data(), &ms);
      for (size_t k = 0; k < ms.size(); ++k) per[k].push_back(ms[k]);
    }
    double total = 0;
    std::vector<double> med(steps.size()), mins(steps.size());
    double total_min = 0;
    for (size_t k = 0; k < steps.size(); ++k) {
      total += med[k] = median(per[k]);
      total_min += mins[k] = *std::min_element(per[k].begin(), per[k].end());
    }
    std::printf("\n%-4s %-40s %-16s %9s %9s %9s %7s %6s\n", "#", "step", "kernel", "ms", "min ms",
                "GFLOP/s", "%peak", "%time");
    json << ",\"layers\":[";
    for (size_t k = 0; k < steps.size(); ++k) {
      const double lg = med[k] > 0 ? steps[k].flops / (med[k] * 1e6) : 0;
      std::printf("%-4zu %-40s %-16s %9.3f %9.3f %9.1f %6.1f%% %5.1f%%\n", k, steps[k].name.c_str(),
                  steps[k].kind.c_str(), med[k], mins[k], lg, 100 * lg / peak,
                  100 * med[k] / total);
      json << (k ? "," : "") << "{\"name\":\"" << steps[k].name << "\",\"kernel\":\""
           << steps[k].kind << "\",\"ms\":" << med[k] << ",\"gflops\":" << lg << "}";
    }
    json << "]";
    std::printf("sum of steps: median %.2f ms, min %.2f ms (%.1f GFLOP/s = %.1f%% of peak)\n",
                total, total_min, (*s)->flops() / (total_min * 1e6),
                100 * (*s)->flops() / (total_min * 1e6) / peak);
  }
  json << "}\n";
  if (json_fd >= 0) {
    std::fflush(stdout);
    const std::string text = json.str();
    Status st = write_all_fd(json_fd, text);
    ::close(json_fd);
    if (!st.ok()) return p.fail(st.message());
  } else if (!json_path.empty()) {
    const std::string text = json.str();
    Status st = write_file_atomic(json_path, text.data(), text.size());
    if (!st.ok()) return p.fail(st.message());
  }
  return 0;
}

cli::Command reg("bench", "benchmark a model: latency, throughput, % of peak, --ladder", cmd_bench);

}  // namespace
}  // namespace scv
