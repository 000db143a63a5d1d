// The TFLite branch of `scratchcv bench`: latency, img/s, GOP/s (int8 multiply-adds x 2), share
// of the measured int8 peak of the kernels' ISA, and the ladder reference -> AVX2 -> AVX-512
// VNNI -> threads. Every rung's output bytes are compared with the reference rung first.
#include "bench_tflite.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>

#include "cli.h"
#include "ops/quant/qkernels.h"
#include "scratchcv/cpu.h"
#include "scratchcv/model_zoo.h"
#include "scratchcv/qsession.h"
#include "scratchcv/tflite.h"
#include "scratchcv/thread_pool.h"

namespace scv::cli {
namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Multiply-adds of the convolutions and fully connected layers.
double model_macs(const tflite::Model& m) {
  double macs = 0;
  for (const tflite::OpInfo& op : m.ops) {
    if (op.inputs.size() < 2 || op.outputs.empty() || op.inputs[1] < 0) continue;
    const tflite::TensorInfo& w = m.tensors[size_t(op.inputs[1])];
    const tflite::TensorInfo& y = m.tensors[size_t(op.outputs[0])];
    if (op.code == tflite::kConv2d && w.shape.size() == 4)
      macs += double(y.numel()) * w.shape[1] * w.shape[2] * w.shape[3];
    else if (op.code == tflite::kDepthwiseConv2d && w.shape.size() == 4)
      macs += double(y.numel()) * w.shape[1] * w.shape[2];
    else if (op.code == tflite::kFullyConnected && w.shape.size() == 2)
      macs += double(y.numel()) * w.shape[1];
  }
  return macs;
}

// Best of 40 ~1 ms probes: int8 multiply-adds per second of one core with the ISA's kernels.
double peak_macs_per_core(const quant::QKernels* k) {
  if (!k) return 0;
  int32_t sink = 0;
  double best = 0;
  for (int r = 0; r < 40; ++r) {
    const double t0 = now_ms();
    const double macs = k->peak_probe(200000, &sink);
    best = std::max(best, macs / ((now_ms() - t0) * 1e-3));
  }
  return best + sink * 0.0;
}

// CPU time of the whole process (all threads): on a loaded machine it stays near the
// uncontended cost while wall time does not.
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct Timing {
  double median = 0, min = 0, cpu = 0;
  int iters = 0;
};

Timing time_runs(QSession& s, int iters, int warmup) {
  for (int i = 0; i < warmup; ++i) s.run();
  std::vector<double> t, c;
  for (int i = 0; i < iters; ++i) {
    const double t0 = now_ms(), c0 = cpu_ms();
    s.run();
    t.push_back(now_ms() - t0);
    c.push_back(cpu_ms() - c0);
  }
  std::sort(t.begin(), t.end());
  std::sort(c.begin(), c.end());
  return {t[t.size() / 2], t.front(), c[c.size() / 2], iters};
}

}  // namespace

bool bench_wants_tflite(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    if (args[i] == "--model" && i + 1 < args.size())
      v = args[i + 1];
    else if (args[i].rfind("--model=", 0) == 0)
      v = args[i].substr(8);
    else
      continue;
    return is_bundled_model_name(v) || is_tflite_file(v);
  }
  return false;
}

int bench_tflite(const std::vector<std::string>& args) {
  std::string model, isa_s, json_path;
  int threads = default_num_threads(), iters = 50, warmup = 5;
  bool ladder = false, per_layer = false;
  ArgParser p("bench", "time a TFLite model through the quantized engine");
  p.option("model", &model, "PATH", ".tflite file or mobilenet_v2 (the bundled model)")
      .option("threads", &threads, "N", "worker threads (default: CPUs available)")
      .option("iters", &iters, "N", "timed runs (default 50)")
      .option("warmup", &warmup, "N", "untimed runs first (default 5)")
      .option("isa", &isa_s, "ISA", "ref | avx2 | avx512 (default: best this CPU has)")
      .flag("ladder", &ladder, "reference -> AVX2 -> AVX-512 VNNI (1 thread) -> N threads")
      .flag("per-layer", &per_layer, "print the median time of every step")
      .option("json", &json_path, "PATH", "also write the figures as JSON");
  std::vector<std::string> pos;
  if (!p.parse(args, &pos)) return p.exit_code();
  if (!pos.empty()) return p.fail("unexpected argument '" + pos[0] + "'");
  if (threads < 1 || iters < 1 || warmup < 0)
    return p.fail("--threads and --iters must be positive");
  auto choice = resolve_model(model);
  if (!choice.ok()) return p.fail(choice.status().message());
  auto m = tflite::load_tflite(choice->path);
  if (!m.ok()) return p.fail(m.status().message());
  const double macs = model_macs(*m);

  struct Rung {
    std::string name, isa;
    int threads;
  };
  std::vector<Rung> rungs;
  if (ladder) {
    rungs.push_back({"reference kernels, 1 thread", "ref", 1});
    if (quant::qkernels_avx2() && isa_supported(Isa::avx2))
      rungs.push_back({"AVX2 (vpmaddwd), 1 thread", "avx2", 1});
    if (quant::qkernels_avx512() && isa_supported(Isa::avx512))
      rungs.push_back({"AVX-512 VNNI (vpdpbusd), 1 thread", "avx512", 1});
    if (threads > 1)
      rungs.push_back({"best kernels, " + std::to_string(threads) + " threads", "", threads});
  } else {
    rungs.push_back({"", isa_s, threads});
  }

  const CpuFeatures& cpu = cpu_features();
  std::printf("model: %s (%s) | %.0f M multiply-adds | cpu: %s\n", choice->name.c_str(),
              choice->path.c_str(), macs / 1e6, cpu.brand.c_str());
  std::vector<uint8_t> input, ref_out;
  std::string json =
      "{\"model\":\"" + choice->name + "\",\"macs\":" + std::to_string(macs) + ",\"runs\":[";
  for (size_t r = 0; r < rungs.size(); ++r) {
    auto s = QSession::create(*m, QSessionOptions{rungs[r].threads, rungs[r].isa});
    if (!s.ok()) return p.fail(s.status().message());
    QSession& sess = **s;
    if (input.empty()) {
      input.resize(sess.input_info().bytes);
      std::mt19937 rng(7);
      for (uint8_t& v : input) v = uint8_t(rng() & 0xff);
    }
    std::memcpy(sess.input_data(), input.data(), input.size());
    sess.run();
    const std::vector<uint8_t> out(sess.output_data(),
                                   sess.output_data() + sess.output_info().bytes);
    if (ref_out.empty())
      ref_out = out;
    else if (out != ref_out)
      return p.fail("rung '" + rungs[r].name + "' gives other output bytes than the first rung");
    const bool is_ref = sess.isa() == Isa::ref;
    const Timing t = time_runs(sess, is_ref ? std::min(iters, 3) : iters, is_ref ? 1 : warmup);
    const quant::QKernels* k = sess.isa() == Isa::avx512 ? quant::qkernels_avx512()
                               : sess.isa() == Isa::avx2 ? quant::qkernels_avx2()
                                                         : nullptr;
    const double peak = peak_macs_per_core(k) * sess.num_threads();
    const double rate = macs / (t.median * 1e-3);
    std::printf(
        "%s%s\n  median %.2f ms  min %.2f ms  cpu %.2f ms  (%d runs)  %.1f img/s  %.1f GOP/s",
        rungs[r].name.empty() ? "" : "  ",
        (rungs[r].name.empty() ? sess.describe() : rungs[r].name + ": " + sess.describe()).c_str(),
        t.median, t.min, t.cpu, t.iters, 1000.0 / t.median, 2 * rate / 1e9);
    if (peak > 0)
      std::printf("  %.1f%% of the measured %s int8 peak (%.0f GOP/s)", 100.0 * rate / peak,
                  k->name, 2 * peak / 1e9);
    std::printf("\n");
    if (per_layer) print_qsession_per_layer(sess, iters);
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s{\"rung\":\"%s\",\"isa\":\"%s\",\"threads\":%d,\"median_ms\":%.4f,\"min_ms\":%"
                  ".4f,\"cpu_ms\":%.4f,"
                  "\"img_per_s\":%.2f,\"gops\":%.2f,\"peak_gops\":%.2f}",
                  r ? "," : "", rungs[r].name.c_str(), isa_name(sess.isa()), sess.num_threads(),
                  t.median, t.min, t.cpu, 1000.0 / t.median, 2 * rate / 1e9, 2 * peak / 1e9);
    json += buf;
  }
  json += "]}\n";
  if (!json_path.empty()) {
    if (json_path == "-") {
      std::fputs(json.c_str(), stdout);
    } else {
      std::ofstream f(json_path);
      f << json;
      if (!f) return p.fail("cannot write " + json_path);
    }
  }
  if (!quant::qkernels_avx512() || !isa_supported(Isa::avx512))
    std::printf(
        "note: this CPU has no AVX-512 VNNI; the VNNI peak and kernels cannot be measured here\n");
  return 0;
}

void print_qsession_per_layer(QSession& s, int iters) {
  std::vector<std::vector<double>> per(size_t(s.num_steps()));
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    s.run_profiled(&ms);
    for (size_t k = 0; k < ms.size(); ++k) per[k].push_back(ms[k]);
  }
  std::vector<double> med(per.size());
  double total = 0;
  for (size_t k = 0; k < per.size(); ++k) {
    std::sort(per[k].begin(), per[k].end());
    total += med[k] = per[k][per[k].size() / 2];
  }
  std::printf("  %-4s %-56s %9s %6s\n", "#", "step", "ms", "%time");
  for (size_t k = 0; k < per.size(); ++k)
    std::printf("  %-4zu %-56s %9.3f %5.1f%%\n", k, s.step_name(int(k)).c_str(), med[k],
                100 * med[k] / total);
  std::printf("  sum of step medians: %.2f ms\n", total);
}

}  // namespace scv::cli
