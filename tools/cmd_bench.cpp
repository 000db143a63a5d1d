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
#include "scratchcv/int8.h"
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
  double gflops = 0;                             // set by the ladder (at min_ms)
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

// Everything the command line sets.
struct BenchArgs {
  std::string model, arch, isa_s, json_path, plot_path, precision = "fp32";
  int batch = 1, threads = 0, iters = 20, warmup = 3, size = 224;
  bool ladder = false, per_layer = false, no_winograd = false, no_tiles = false,
       no_image_parallel = false;
  Isa isa = Isa::ref;
  int json_fd = -1;  // --json -: the saved standard output the JSON document goes to
};

void declare_bench_options(cli::ArgParser& p, BenchArgs& a) {
  p.option("model", &a.model, "PATH", "model file (.pth or .onnx); default: random resnet50")
      .option("arch", &a.arch, "NAME", "architecture for .pth (default: detect)")
      .option("batch", &a.batch, "N", "images per run (default 1)")
      .range(1, 4096)
      .threads(&a.threads)
      .option("iters", &a.iters, "N", "timed runs (default 20)")
      .range(1, 1000000)
      .option("warmup", &a.warmup, "N", "untimed runs first (default 3)")
      .range(0, 1000000)
      .option("size", &a.size, "PX", "input height and width (default 224)")
      .range(1, 4096)
      .option("isa", &a.isa_s, "ISA", "ref | avx2 | avx512 (default: best this CPU has)")
      .option("precision", &a.precision, "P",
              "fp32 (default), int8 (a QDQ .onnx runs as is; a float model is quantized first "
              "with the built-in calibration) or bf16 (AVX-512 BF16 only)")
      .flag("ladder", &a.ladder, "run the optimisation ladder (reference -> +threads)")
      .option("plot", &a.plot_path, "PNG", "with --ladder: draw it as a bar chart with speed-ups")
      .flag("per-layer", &a.per_layer, "print the time of every step")
      .flag("no-winograd", &a.no_winograd,
            "3x3 convs by the direct kernel, not Winograd F(4,3) / F(2,3)")
      .flag("no-tiles", &a.no_tiles, "convs one output row at a time (no pixel tiles / K chunks)")
      .flag("no-image-parallel", &a.no_image_parallel,
            "batches: all threads share each layer instead of taking whole images")
      .option("json", &a.json_path, "[PATH]",
              "also write the figures as JSON (bare --json or '-': stdout)")
      .epilog(
          "Examples:\n  scratchcv bench --batch 1 --threads 2\n"
          "  scratchcv bench --ladder --threads 2\n"
          "  scratchcv bench --model resnet50.onnx --batch 8 --json out.json");
}

// Parses and checks the command line. Returns -1 to go on, else the exit code.
int parse_bench_args(cli::ArgParser& p, const std::vector<std::string>& args, BenchArgs& a) {
  declare_bench_options(p, a);
  // A bare --json (last, or followed by another option) means "print the JSON line to stdout".
  std::vector<std::string> argv2 = args;
  for (size_t i = 0; i < argv2.size(); ++i)
    if (argv2[i] == "--json" && (i + 1 == argv2.size() || argv2[i + 1].rfind("--", 0) == 0))
      argv2[i] = "--json=-";
  std::vector<std::string> pos;
  if (!p.parse(argv2, &pos)) return p.exit_code();
  if (!pos.empty()) return p.usage_error("unexpected argument '" + pos[0] + "'");
  if (a.batch < 1 || a.iters < 1 || a.warmup < 0 || a.size < 1)
    return p.usage_error("--batch, --iters and --size must be positive");
  if (Status st = cli::check_precision(a.precision); !st.ok()) return p.usage_error(st.message());
  // --json - : stdout carries the JSON document only (for jq); the readable report goes to
  // stderr. --json FILE: checked now, written at the end.
  if (a.json_path == "-") {
    std::fflush(stdout);
    a.json_fd = ::dup(1);
    if (a.json_fd < 0 || ::dup2(2, 1) < 0) return p.fail("cannot redirect the report to stderr");
  } else if (!a.json_path.empty()) {
    if (Status st = check_output(a.json_path); !st.ok()) return p.fail(st.message());
  }
  a.isa = best_isa();
  if (!a.isa_s.empty()) {
    if (!parse_isa(a.isa_s, &a.isa))
      return p.usage_error("unknown --isa '" + a.isa_s + "' (ref|avx2|avx512)");
    if (!isa_supported(a.isa))
      return p.fail(std::string("this CPU does not support --isa ") + a.isa_s +
                    " (best: " + isa_name(best_isa()) + ")");
  }
  return -1;
}

// The model to time: the file given, or ResNet-50 with random weights.
Result<Graph> load_bench_graph(const BenchArgs& a) {
  if (!a.model.empty()) return load_model(a.model, a.arch);
  auto cfg = resnet_config("resnet50");
  if (!cfg.ok()) return cfg.status();
  return build_resnet(random_resnet_weights(*cfg, 1), *cfg);
}

// What every timing section shares: the input, the figures so far, the JSON being built.
struct BenchRun {
  const BenchArgs& a;
  Shape in_shape;
  std::vector<float> input;
  double peak_core = 0;  // measured FMA GFLOP/s of one core
  std::ostringstream json;
};

struct Rung {
  const char* name;
  SessionOptions o;
};

// The optimisation ladder: from scalar reference loops on one thread, each rung turns one more
// optimisation on (tiles and Winograd act only with the blocked layout).
std::vector<Rung> ladder_rungs(Isa isa, int threads) {
  static const struct {
    const char* name;
    bool SessionOptions::*on;
  } kSteps[] = {
      {"+SIMD (im2col + GEMM microkernel)", &SessionOptions::simd},
      {"+pre-packed weights, no malloc", &SessionOptions::prepack},
      {"+fusion (BN fold, ReLU, Add)", &SessionOptions::fuse},
      {"+blocked NCHWc direct conv", &SessionOptions::blocked},
      {"+cache blocking (pixel tiles)", &SessionOptions::tiles},
      {"+Winograd F(4,3)/F(2,3) for 3x3", &SessionOptions::winograd},
  };
  SessionOptions o;
  o.isa = isa;
  o.threads = 1;
  o.simd = o.prepack = o.fuse = o.blocked = o.tiles = o.winograd = false;
  std::vector<Rung> rungs = {{"reference loops (scalar, NCHW)", o}};
  if (isa == Isa::ref) return rungs;
  for (const auto& step : kSteps) {
    o.*step.on = true;
    rungs.push_back({step.name, o});
  }
  o.threads = threads;
  rungs.push_back({"+threads", o});
  return rungs;
}

// Times one rung after checking its logits against the reference rung's (`ref_out`, filled by
// rung 0); an error when they differ.
Result<Timing> time_rung(BenchRun& r, const Graph& g, const Rung& rung, bool first,
                         std::vector<float>& ref_out, double* diff) {
  auto s = Session::create(g, r.in_shape, rung.o);
  if (!s.ok()) return s.status();
  std::vector<float> out(shape_numel((*s)->output_shape()));
  const double t0 = now_ms(), c0 = cpu_ms();
  (void)(*s)->run(r.input.data(), out.data());
  const double first_ms = now_ms() - t0, first_cpu = cpu_ms() - c0;
  *diff = 0;
  if (first) {
    ref_out = out;
  } else {
    *diff = max_abs_diff(ref_out, out);
    double scale = 1.0;
    for (float v : ref_out) scale = std::max(scale, (double)std::fabs(v));
    if (!(*diff <= 1e-3 * scale))
      return error("step '", rung.name, "' differs from the reference by ", *diff);
  }
  Timing t;
  if (first_ms > 2000) {
    t.median_ms = t.min_ms = first_ms;  // slow rung: the checked run is the timing
    t.cpu_ms = first_cpu;
    t.iters = 1;
  } else {
    t = time_session(**s, r.input, out, r.a.iters, first_ms > 200 ? 0 : r.a.warmup, 20000);
  }
  // Keep the figure the table needs: GFLOP/s of this rung.
  t.gflops = (*s)->flops() / (t.min_ms * 1e6);
  return t;
}

Status run_ladder(BenchRun& r, const Graph& g, const std::string& model_name) {
  const std::vector<Rung> rungs = ladder_rungs(r.a.isa, r.a.threads);
  // Speed-ups use the minimum wall time of each step (robust when other processes share the
  // cores); median and process CPU time are printed beside it.
  std::printf("\n%-36s %9s %9s %9s %9s %7s %9s %8s %10s\n", "step", "min ms", "median", "cpu ms",
              "GFLOP/s", "%peak", "speed-up", "vs ref", "max|diff|");
  std::vector<float> ref_out;
  std::vector<cli::LadderStep> steps;  // for --plot
  double ref_ms = 0, prev_ms = 0;
  r.json << ",\"ladder\":[";
  for (size_t i = 0; i < rungs.size(); ++i) {
    double diff = 0;
    auto timed = time_rung(r, g, rungs[i], i == 0, ref_out, &diff);
    if (!timed.ok()) return timed.status();
    const Timing& t = *timed;
    const double gf = t.gflops;
    const double peak = r.peak_core * rungs[i].o.threads;
    if (i == 0) ref_ms = t.min_ms;
    std::printf("%zu %-34s %9.2f %9.2f %9.2f %9.1f %6.1f%% %8.2fx %7.1fx %10.2e\n", i,
                rungs[i].name, t.min_ms, t.median_ms, t.cpu_ms, gf, 100.0 * gf / peak,
                i ? prev_ms / t.min_ms : 1.0, ref_ms / t.min_ms, diff);
    r.json << (i ? "," : "") << "{\"step\":\"" << rungs[i].name
           << "\",\"median_ms\":" << t.median_ms << ",\"min_ms\":" << t.min_ms
           << ",\"cpu_ms\":" << t.cpu_ms << ",\"gflops\":" << gf
           << ",\"peak_pct\":" << 100.0 * gf / peak << ",\"max_abs_diff\":" << diff << "}";
    prev_ms = t.min_ms;
    steps.push_back({rungs[i].name, t.min_ms});
  }
  r.json << "]";
  if (!r.a.plot_path.empty())
    return cli::write_ladder_plot(r.a.plot_path, "Optimisation ladder: " + model_name, steps);
  return Status();
}

// The headline run: the session as `scratchcv infer` would build it.
void report_session_timing(BenchRun& r, const Session& s, const Timing& t, double prepare_ms,
                           double prepare_cpu_ms) {
  const BenchArgs& a = r.a;
  const double gf = s.flops() / (t.median_ms * 1e6);
  const double peak = r.peak_core * a.threads;
  const double ips = a.batch * 1000.0 / t.median_ms;
  std::printf(
      "\nbench: batch %d, %d threads, %s: median %.2f ms, min %.2f ms (%d runs), cpu %.2f ms | "
      "%.2f ms/img | "
      "%.1f img/s | %.1f GFLOP/s = %.1f%% of measured peak | prepare %.0f ms (cpu %.0f) | arena "
      "%.1f "
      "MiB, "
      "packed weights %.1f MiB\n",
      a.batch, a.threads, isa_name(a.isa), t.median_ms, t.min_ms, t.iters, t.cpu_ms,
      t.median_ms / a.batch, ips, gf, 100.0 * gf / peak, prepare_ms, prepare_cpu_ms,
      s.arena_bytes() / 1048576.0, s.weight_bytes() / 1048576.0);
  if (s.image_parallel())
    std::printf("(image-parallel: each thread runs whole images of the batch)\n");
  const double xgf = s.exec_flops() / (t.median_ms * 1e6);
  if (s.exec_flops() < s.flops())
    std::printf(
        "(GFLOP/s counts the direct convolution's %.2f GFLOP per run; Winograd executes %.2f, "
        "so the FMA units ran at %.1f GFLOP/s = %.1f%% of peak)\n",
        s.flops() / 1e9, s.exec_flops() / 1e9, xgf, 100.0 * xgf / peak);
  r.json << ",\"gflop_per_run\":" << s.flops() / 1e9 << ",\"median_ms\":" << t.median_ms
         << ",\"min_ms\":" << t.min_ms << ",\"cpu_ms\":" << t.cpu_ms
         << ",\"ms_per_img\":" << t.median_ms / a.batch << ",\"imgs_per_s\":" << ips
         << ",\"gflops\":" << gf << ",\"peak_gflops\":" << peak
         << ",\"peak_pct\":" << 100.0 * gf / peak
         << ",\"exec_gflop_per_run\":" << s.exec_flops() / 1e9
         << ",\"exec_peak_pct\":" << 100.0 * xgf / peak << ",\"prepare_ms\":" << prepare_ms
         << ",\"prepare_cpu_ms\":" << prepare_cpu_ms;
}

// --per-layer: the median and minimum time of every step over `iters` profiled runs.
void report_per_layer(BenchRun& r, Session& s, std::vector<float>& out) {
  const auto& steps = s.steps();
  const double peak = r.peak_core * r.a.threads;
  std::vector<std::vector<double>> per(steps.size());
  std::vector<double> ms;
  for (int i = 0; i < r.a.iters; ++i) {
    (void)s.run_profiled(r.input.data(), out.data(), &ms);
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
  r.json << ",\"layers\":[";
  for (size_t k = 0; k < steps.size(); ++k) {
    const double lg = med[k] > 0 ? steps[k].flops / (med[k] * 1e6) : 0;
    std::printf("%-4zu %-40s %-16s %9.3f %9.3f %9.1f %6.1f%% %5.1f%%\n", k, steps[k].name.c_str(),
                steps[k].kind.c_str(), med[k], mins[k], lg, 100 * lg / peak, 100 * med[k] / total);
    r.json << (k ? "," : "") << "{\"name\":\"" << steps[k].name << "\",\"kernel\":\""
           << steps[k].kind << "\",\"ms\":" << med[k] << ",\"gflops\":" << lg << "}";
  }
  r.json << "]";
  std::printf("sum of steps: median %.2f ms, min %.2f ms (%.1f GFLOP/s = %.1f%% of peak)\n", total,
              total_min, s.flops() / (total_min * 1e6), 100 * s.flops() / (total_min * 1e6) / peak);
}

// Builds the session as `infer` would, times it, and with --per-layer profiles every step.
Status run_session_bench(BenchRun& r, Graph g) {
  SessionOptions opt;
  opt.isa = r.a.isa;
  opt.threads = r.a.threads;
  opt.winograd = !r.a.no_winograd;
  opt.tiles = !r.a.no_tiles;
  opt.image_parallel = !r.a.no_image_parallel;
  const double c0 = now_ms(), cc0 = cpu_ms();
  // The graph is not needed any more: the session takes it and frees each weight once packed.
  auto s = Session::create(std::move(g), r.in_shape, opt);
  if (!s.ok()) return s.status();
  const double prepare_ms = now_ms() - c0, prepare_cpu_ms = cpu_ms() - cc0;
  std::vector<float> out(shape_numel((*s)->output_shape()));
  const Timing t = time_session(**s, r.input, out, r.a.iters, r.a.warmup, 1e12);
  report_session_timing(r, **s, t, prepare_ms, prepare_cpu_ms);
  if (r.a.per_layer) report_per_layer(r, **s, out);
  return Status();
}

// --precision int8 (or a QDQ model): the int8 session, timed like the fp32 one.
Status run_int8_bench(BenchRun& r, const std::string& model_name) {
  const BenchArgs& a = r.a;
  std::string qdq;
  bool is_qdq = false;
  if (!a.model.empty()) {
    SCV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file(a.model));
    is_qdq = is_qdq_onnx(bytes.data(), bytes.size());
    if (is_qdq) qdq.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  if (!is_qdq) {
    std::fprintf(stderr,
                 "scratchcv bench: warning: int8 on a float model: quantizing it with the "
                 "built-in calibration (`scratchcv quantize MODEL --calib DIR` is better)\n");
    SCV_ASSIGN_OR_RETURN(Graph g, load_bench_graph(a));
    SCV_ASSIGN_OR_RETURN(std::vector<Tensor> calib, builtin_calibration(a.size));
    SCV_ASSIGN_OR_RETURN(qdq, quantize_to_qdq(g, calib, QuantizeOptions()));
  }
  Int8Options io;
  io.threads = a.threads;
  io.isa = a.isa_s;
  io.batch = a.batch;
  const double c0 = now_ms();
  SCV_ASSIGN_OR_RETURN(
      auto s, Int8Session::create(reinterpret_cast<const uint8_t*>(qdq.data()), qdq.size(), io));
  const double prepare_ms = now_ms() - c0;
  if (s->input_shape() != r.in_shape)
    return error("the int8 model takes input ", shape_str(s->input_shape()), ", not ",
                 shape_str(r.in_shape), " (--batch / --size)");
  std::vector<float> out(size_t(shape_numel(s->output_shape())));
  for (int i = 0; i < a.warmup; ++i) s->run(r.input.data(), out.data());
  std::vector<double> ms, cpu;
  for (int i = 0; i < a.iters; ++i) {
    const double t0 = now_ms(), u0 = cpu_ms();
    s->run(r.input.data(), out.data());
    ms.push_back(now_ms() - t0);
    cpu.push_back(cpu_ms() - u0);
  }
  const double med = median(ms), mn = *std::min_element(ms.begin(), ms.end());
  std::printf("int8 session: %s\n", s->describe().c_str());
  std::printf(
      "prepare %.1f ms | median %.2f ms, min %.2f ms, cpu %.2f ms per run | %.1f images/s\n",
      prepare_ms, med, mn, median(cpu), 1000.0 * a.batch / med);
  r.json << ",\"precision\":\"int8\",\"model_name\":" << json_str(model_name)
         << ",\"prepare_ms\":" << prepare_ms << ",\"median_ms\":" << med << ",\"min_ms\":" << mn
         << ",\"cpu_ms\":" << median(cpu) << ",\"images_per_s\":" << 1000.0 * a.batch / med;
  if (a.per_layer) {
    std::printf("int8 engine steps (the float input reorder and classifier tail not included):\n");
    cli::print_qsession_per_layer(s->engine(), a.iters);
  }
  return Status();
}

// Writes the JSON document to the saved stdout (--json -) or atomically to its file.
Status write_bench_json(const BenchArgs& a, const std::string& text) {
  if (a.json_fd >= 0) {
    std::fflush(stdout);
    Status st = write_all_fd(a.json_fd, text);
    ::close(a.json_fd);
    return st;
  }
  if (!a.json_path.empty()) return write_file_atomic(a.json_path, text.data(), text.size());
  return Status();
}

int cmd_bench(const std::vector<std::string>& args) {
  if (cli::bench_wants_tflite(args)) return cli::bench_tflite(args);  // tools/bench_tflite.cpp
  cli::ArgParser p("bench", "time a model (default: random-weight resnet50) through Session");
  BenchArgs a;
  if (int rc = parse_bench_args(p, args, a); rc >= 0) return rc;

  const std::string model_name = a.model.empty() ? "resnet50 (random weights)" : a.model;
  if (a.precision == "bf16")
    return p.fail(cpu_features().avx512bf16
                      ? "--precision bf16 is not implemented yet; use fp32 or int8"
                      : "--precision bf16 needs AVX-512 BF16 (vdpbf16ps), which this CPU lacks; "
                        "use fp32 or int8");
  bool int8 = a.precision == "int8";
  if (!int8 && a.model.size() > 5 && a.model.compare(a.model.size() - 5, 5, ".onnx") == 0) {
    auto bytes = read_file(a.model);
    if (bytes.ok() && is_qdq_onnx(bytes->data(), bytes->size())) int8 = true;
  }
  if (int8) {
    if (a.ladder) return p.usage_error("--ladder times the fp32 session; not with int8");
    BenchRun r{a, {a.batch, 3, a.size, a.size}, {}, 0, {}};
    r.input.resize(shape_numel(r.in_shape));
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    for (float& v : r.input) v = dist(rng);
    std::printf("cpu: %s | model: %s | input %s | int8\n", cpu_features().brand.c_str(),
                model_name.c_str(), shape_str(r.in_shape).c_str());
    r.json << "{\"model\":" << json_str(model_name) << ",\"cpu\":" << json_str(cpu_features().brand)
           << ",\"batch\":" << a.batch << ",\"threads\":" << a.threads;
    if (Status st = run_int8_bench(r, model_name); !st.ok()) {
      if (a.json_fd >= 0) ::close(a.json_fd);
      return p.fail(st.message());
    }
    r.json << "}\n";
    if (Status st = write_bench_json(a, r.json.str()); !st.ok()) return p.fail(st.message());
    return 0;
  }
  auto g = load_bench_graph(a);
  if (!g.ok()) return p.fail(g.status().message());
  BenchRun r{a, {a.batch, 3, a.size, a.size}, {}, 0, {}};
  r.input.resize(shape_numel(r.in_shape));
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (float& v : r.input) v = dist(rng);

  r.peak_core = measure_peak_per_core(a.isa);
  const auto& cpu = cpu_features();
  std::printf("cpu: %s | isa %s | measured FMA peak %.1f GFLOP/s per core (%.1f for %d threads)\n",
              cpu.brand.c_str(), isa_name(a.isa), r.peak_core, r.peak_core * a.threads, a.threads);
  std::printf("model: %s | input %s\n", model_name.c_str(), shape_str(r.in_shape).c_str());
  r.json.precision(6);
  r.json << "{\"model\":" << json_str(model_name) << ",\"cpu\":" << json_str(cpu.brand)
         << ",\"isa\":\"" << isa_name(a.isa) << "\",\"batch\":" << a.batch
         << ",\"threads\":" << a.threads << ",\"peak_gflops_per_core\":" << r.peak_core;

  if (a.ladder) {
    if (Status st = run_ladder(r, *g, model_name); !st.ok()) {
      if (a.json_fd >= 0) ::close(a.json_fd);
      return p.fail(st.message());
    }
  }
  if (Status st = run_session_bench(r, std::move(g).value()); !st.ok()) return p.fail(st.message());
  r.json << "}\n";
  if (Status st = write_bench_json(a, r.json.str()); !st.ok()) return p.fail(st.message());
  return 0;
}

cli::Command reg("bench", "benchmark a model: latency, throughput, % of peak, --ladder", cmd_bench);

}  // namespace
}  // namespace scv
