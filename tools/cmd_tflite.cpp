// scratchcv tflite: inspect a TFLite model and run it on a raw input tensor or a photo.
//
//   scratchcv tflite info MODEL             tensors, operators, quantization
//   scratchcv tflite run MODEL --image IMG [--save-input F] [--output F]
//   scratchcv tflite run MODEL --input F --output F
// The raw files are the tensors' bytes in the model's types (what Arm NN or TFLite take), so
// other runtimes can be fed the identical input and their outputs compared byte for byte.
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli.h"
#include "ops/quant/qplan.h"
#include "scratchcv/file_util.h"
#include "scratchcv/model_zoo.h"
#include "scratchcv/qsession.h"
#include "scratchcv/tflite.h"

namespace scv::cli {
namespace {

int info(const std::string& path) {
  auto m = tflite::load_tflite(path);
  if (!m.ok()) {
    std::cerr << "scratchcv tflite: " << m.status().message() << "\n";
    return 1;
  }
  std::printf("%s: schema %u, %zu tensors, %zu operators\n", path.c_str(), m->version,
              m->tensors.size(), m->ops.size());
  auto tensor = [&](int id) {
    const tflite::TensorInfo& t = m->tensors[size_t(id)];
    std::string q;
    if (t.q.per_channel())
      q = str(" per-channel(", t.q.scale.size(), ", axis ", t.q.axis, ")");
    else if (t.q.present())
      q = str(" scale ", t.q.scale[0], " zp ", t.q.zero_point[0]);
    return str("#", id, " ", tflite::dtype_name(t.type), quant::shape_str(t.shape), q,
               t.data ? " const" : "");
  };
  for (int i : m->inputs)
    std::printf("input  %s '%s'\n", tensor(i).c_str(), m->tensors[size_t(i)].name.c_str());
  for (int i : m->outputs)
    std::printf("output %s '%s'\n", tensor(i).c_str(), m->tensors[size_t(i)].name.c_str());
  for (size_t i = 0; i < m->ops.size(); ++i) {
    const tflite::OpInfo& op = m->ops[i];
    std::printf("%3zu %-18s", i, tflite::builtin_op_name(op.code).c_str());
    for (int t : op.inputs)
      if (t >= 0) std::printf(" %s", tensor(t).c_str());
    std::printf(" ->");
    for (int t : op.outputs) std::printf(" %s", tensor(t).c_str());
    std::printf("\n");
  }
  return 0;
}

// model.json: {"inputs": [...], "outputs": [...], "tensors": [{"shape", "type", "scale",
// "zero_point", "axis"}], "ops": [{"op", "inputs", "outputs", options...}]} plus t<ID>.bin.
Status dump(const tflite::Model& m, const QSession& s, const std::string& dir) {
  std::ostringstream js;
  auto ints = [](const std::vector<int32_t>& v) {
    std::string r = "[";
    for (size_t i = 0; i < v.size(); ++i) r += (i ? ", " : "") + std::to_string(v[i]);
    return r + "]";
  };
  js << "{\"inputs\": " << ints(m.inputs) << ", \"outputs\": " << ints(m.outputs)
     << ",\n \"tensors\": [\n";
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const tflite::TensorInfo& t = m.tensors[i];
    js << "  {\"shape\": " << ints(t.shape) << ", \"type\": \"" << tflite::dtype_name(t.type)
       << "\", \"scale\": [";
    for (size_t k = 0; k < t.q.scale.size(); ++k)
      js << (k ? ", " : "") << str(std::setprecision(9), t.q.scale[k]);
    js << "], \"zero_point\": [";
    for (size_t k = 0; k < t.q.zero_point.size(); ++k) js << (k ? ", " : "") << t.q.zero_point[k];
    js << "], \"axis\": " << t.q.axis << "}" << (i + 1 < m.tensors.size() ? ",\n" : "\n");
    std::vector<uint8_t> bytes;
    if (t.data) {
      bytes.assign(t.data, t.data + t.data_size);
    } else {
      auto a = s.activation(int(i));
      if (!a.ok()) continue;
      bytes = std::move(*a);
    }
    SCV_TRY(write_file_atomic(dir + "/t" + std::to_string(i) + ".bin", bytes.data(), bytes.size()));
  }
  js << " ],\n \"ops\": [\n";
  for (size_t i = 0; i < m.ops.size(); ++i) {
    const tflite::OpInfo& op = m.ops[i];
    js << "  {\"op\": \"" << tflite::builtin_op_name(op.code)
       << "\", \"inputs\": " << ints(op.inputs) << ", \"outputs\": " << ints(op.outputs)
       << ", \"padding\": " << int(op.padding) << ", \"stride\": [" << op.stride_h << ", "
       << op.stride_w << "], \"dilation\": [" << op.dilation_h << ", " << op.dilation_w
       << "], \"filter\": [" << op.filter_h << ", " << op.filter_w
       << "], \"depth_multiplier\": " << op.depth_multiplier
       << ", \"activation\": " << int(op.activation) << ", \"beta\": " << op.beta
       << ", \"axis\": " << op.axis << ", \"keep_dims\": " << op.keep_dims << "}"
       << (i + 1 < m.ops.size() ? ",\n" : "\n");
  }
  js << " ]}\n";
  const std::string text = js.str();
  return write_file_atomic(dir + "/model.json", text.data(), text.size());
}

int cmd_tflite(const std::vector<std::string>& args) {
  std::string image, input, output, save_input, isa, dump_dir;
  int threads = 1;
  bool double_rounding = false;
  ArgParser ap("tflite", "Inspect or run a TFLite model (quantized engine).", "info|run MODEL");
  ap.option("image", &image, "IMG", "photo to classify (TF-slim pre-processing to the input size)")
      .option("input", &input, "FILE", "raw input tensor bytes in the model's input type")
      .option("output", &output, "FILE", "write the raw output tensor bytes here")
      .option("save-input", &save_input, "FILE", "write the raw input tensor bytes here")
      .option("dump-dir", &dump_dir, "DIR",
              "write model.json (operators, tensors) and every tensor's bytes (t<ID>.bin) here")
      .flag("double-rounding", &double_rounding,
            "requantize with TFLite's default double rounding (reference kernels)")
      .option("threads", &threads, "N", "worker threads (default 1)")
      .option("isa", &isa, "ISA", "force kernels: ref, avx2 or avx512 (default: best)");
  std::vector<std::string> pos;
  if (!ap.parse(args, &pos)) return ap.exit_code();
  if (pos.size() != 2 || (pos[0] != "info" && pos[0] != "run")) {
    ap.fail("expected `info MODEL` or `run MODEL` (see --help)");
    return 2;
  }
  if (pos[0] == "info") return info(pos[1]);
  if (image.empty() == input.empty()) {
    ap.fail("give exactly one of --image and --input");
    return 2;
  }
  auto m = tflite::load_tflite(pos[1]);
  if (!m.ok()) return ap.fail(m.status().message());
  auto s = QSession::create(*m, QSessionOptions{threads, isa, double_rounding, !dump_dir.empty()});
  if (!s.ok()) return ap.fail(str(pos[1], ": ", s.status().message()));
  QSession& sess = **s;
  if (!image.empty()) {
    auto img = load_image(image, ColorMode::rgb);
    if (!img.ok()) return ap.fail(img.status().message());
    if (Status st = set_image_input(sess, *img); !st.ok())
      return ap.fail(str(image, ": ", st.message()));
  } else {
    auto bytes = read_file(input);
    if (!bytes.ok()) return ap.fail(bytes.status().message());
    if (bytes->size() != sess.input_info().bytes)
      return ap.fail(str(input, ": ", bytes->size(), " bytes, the model input takes ",
                         sess.input_info().bytes));
    std::copy(bytes->begin(), bytes->end(), sess.input_data());
  }
  if (!save_input.empty())
    if (Status st = write_file_atomic(save_input, sess.input_data(), sess.input_info().bytes);
        !st.ok())
      return ap.fail(st.message());
  sess.run();
  if (!dump_dir.empty())
    if (Status st = dump(*m, sess, dump_dir); !st.ok()) return ap.fail(st.message());
  if (!output.empty()) {
    if (Status st = write_file_atomic(output, sess.output_data(), sess.output_info().bytes);
        !st.ok())
      return ap.fail(st.message());
  } else {
    const std::vector<float> y = sess.output_float();
    size_t best = 0;
    for (size_t i = 1; i < y.size(); ++i)
      if (y[i] > y[best]) best = i;
    std::printf("%s; output %s, argmax %zu (%.4f)\n", sess.describe().c_str(),
                quant::shape_str(sess.output_info().shape).c_str(), best,
                y.empty() ? 0.0 : y[best]);
  }
  return 0;
}

Command reg("tflite", "inspect or run a TFLite model (info / run)", cmd_tflite);

}  // namespace
}  // namespace scv::cli
