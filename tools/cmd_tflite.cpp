// scratchcv tflite: inspect a TFLite model and run it on a raw input tensor or a photo.
//
//   scratchcv tflite info MODEL             tensors, operators, quantization
//   scratchcv tflite run MODEL --image IMG [--save-input F] [--output F]
//   scratchcv tflite run MODEL --input F --output F
// The raw files are the tensors' bytes in the model's types (what Arm NN or TFLite take), so
// other runtimes can be fed the identical input and their outputs compared byte for byte.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli.h"
#include "scratchcv/file_util.h"
#include "scratchcv/model_zoo.h"
#include "scratchcv/qsession.h"
#include "scratchcv/tflite.h"

namespace scv::cli {
namespace {

std::string shape_text(const std::vector<int32_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ",";
    r += std::to_string(s[i]);
  }
  return r + "]";
}

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
    return str("#", id, " ", tflite::dtype_name(t.type), shape_text(t.shape), q,
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

int cmd_tflite(const std::vector<std::string>& args) {
  std::string image, input, output, save_input, isa;
  int threads = 1;
  ArgParser ap("tflite", "Inspect or run a TFLite model (quantized engine).", "info|run MODEL");
  ap.option("image", &image, "IMG", "photo to classify (TF-slim pre-processing to the input size)")
      .option("input", &input, "FILE", "raw input tensor bytes in the model's input type")
      .option("output", &output, "FILE", "write the raw output tensor bytes here")
      .option("save-input", &save_input, "FILE", "write the raw input tensor bytes here")
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
  auto s = QSession::create(*m, QSessionOptions{threads, isa});
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
                shape_text(sess.output_info().shape).c_str(), best, y.empty() ? 0.0 : y[best]);
  }
  return 0;
}

Command reg("tflite", "inspect or run a TFLite model (info / run)", cmd_tflite);

}  // namespace
}  // namespace scv::cli
