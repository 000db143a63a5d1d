// scratchcv infer: raw tensor in, raw logits out. A debugging and testing aid: it skips image
// decoding and pre-processing, so a model can be compared with another framework on exactly
// the same input.
#include <cstdio>
#include <sstream>

#include "cli.h"
#include "runner.h"
#include "scratchcv/file_util.h"
#include "scratchcv/model.h"
#include "scratchcv/onnx.h"

namespace scv::cli {
namespace {

Result<Shape> parse_shape(const std::string& s) {
  Shape shape;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    char* end = nullptr;
    long long v = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end || v <= 0 || v > (1 << 20))
      return error("--shape: '", s, "' is not a list of positive integers like 1,3,224,224");
    shape.push_back(v);
  }
  if (shape.size() != 4) return error("--shape needs 4 dims N,C,H,W, got '", s, "'");
  return shape;
}

int cmd_infer(const std::vector<std::string>& args) {
  std::string model, arch, input, output, shape_s = "1,3,224,224";
  RunnerOptions run;
  ArgParser ap("infer",
               "Run a model on a raw float32 NCHW tensor and write the raw float32 output.\n"
               "A testing aid: compare against another framework on exactly the same input.");
  ap.option("model", &model, "PATH", "model file (.pth or .onnx)")
      .option("arch", &arch, "NAME", "ResNet architecture of a .pth (default: recognised)")
      .option("input", &input, "FILE", "raw little-endian float32 input tensor")
      .option("shape", &shape_s, "N,C,H,W", "input shape (default 1,3,224,224)")
      .option("output", &output, "FILE", "where to write the raw float32 output");
  declare_runner_options(ap, &run);
  ap.epilog("ONNX operators: " + onnx_supported_ops() +
            " (torchvision ResNets load from .pth as well).");
  std::vector<std::string> pos;
  if (!ap.parse(args, &pos)) return ap.exit_code();
  if (int rc = check_runner_options(ap, run.precision)) return rc;
  if (!pos.empty()) return ap.usage_error("unexpected argument '" + pos[0] + "'");
  if (model.empty() || input.empty() || output.empty())
    return ap.usage_error("--model, --input and --output are required");
  auto shape = parse_shape(shape_s);
  if (!shape.ok()) return ap.usage_error(shape.status().message());
  if (Status st = check_output(output); !st.ok()) return ap.fail(st.message());
  auto bytes = read_input(input);
  if (!bytes.ok()) return ap.fail(bytes.status().message());
  if (int64_t(bytes->size()) != shape_numel(*shape) * 4)
    return ap.fail(str(input, ": ", bytes->size(), " bytes, but shape ", shape_str(*shape),
                       " needs ", shape_numel(*shape) * 4));
  Tensor x = Tensor::from_data(*shape, reinterpret_cast<const float*>(bytes->data()));
  Runner runner;
  std::string warning;
  if (Status st = runner.load(model, arch, run, &warning); !st.ok()) return ap.fail(st.message());
  if (!warning.empty()) ap.warn(warning);
  auto y = runner.run(x);
  if (!y.ok()) return ap.fail(y.status().message());
  if (Status st = write_file_atomic(output, y->data(), size_t(y->numel()) * 4); !st.ok())
    return ap.fail(st.message());
  std::fprintf(stderr, "wrote %s %s (%s)\n", output.c_str(), shape_str(y->shape()).c_str(),
               runner.describe().c_str());
  return 0;
}

Command reg("infer", "run a model on a raw tensor (testing aid)", cmd_infer);

}  // namespace
}  // namespace scv::cli
