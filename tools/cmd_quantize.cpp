// scratchcv quantize MODEL --calib DIR [--method minmax|percentile|entropy] [--samples N]
//                   -o OUT.onnx: post-training int8 quantization into a standard ONNX QDQ model.
#include <cstdio>

#include "cli.h"
#include "scratchcv/classifier.h"
#include "scratchcv/file_util.h"
#include "scratchcv/int8.h"
#include "scratchcv/model.h"

namespace {

using namespace scv;
using namespace scv::cli;

int cmd_quantize(const std::vector<std::string>& args) {
  std::string calib, method_s = "percentile", out, arch;
  int samples = 64, size = 224;
  double percentile = 99.99;
  bool int8_logits = false;
  ArgParser p("quantize",
              "post-training int8 quantization of a .pth or ONNX model into an ONNX QDQ model\n"
              "(QuantizeLinear/DequantizeLinear around Conv, Gemm, Add, pools) that ONNX Runtime\n"
              "and scratchcv run",
              "MODEL");
  p.option("calib", &calib, "DIR",
           "folder of calibration photos (default: the bundled sample "
           "photo, with a warning)")
      .option("method", &method_s, "NAME",
              "activation ranges: minmax, percentile (default) or entropy")
      .option("samples", &samples, "N",
              "calibration inputs (crops/flips of the photos when the "
              "folder has fewer; default 64)")
      .range(1, 100000)
      .option("percentile", &percentile, "P", "for --method percentile (default 99.99)")
      .range(50, 100)
      .option("size", &size, "S", "input size (default 224)")
      .range(16, 4096)
      .flag("int8-logits", &int8_logits,
            "quantize the logits too (for step-by-step comparisons between runtimes)")
      .option("arch", &arch, "NAME", "ResNet architecture of a .pth (default: recognised)")
      .option("output", &out, "OUT.onnx", "where to write the QDQ model");
  p.epilog(
      "Weights: int8 per output channel, symmetric. Activations: int8 per tensor, asymmetric.\n"
      "BatchNorm is folded into the convs first; ReLUs become the range of the QuantizeLinear\n"
      "after them. Kept in higher precision: the input (min/max range, never clipped) and the\n"
      "logits (the last Gemm is int8 x int8 -> fp32, not requantized).");
  p.example(
      "quantize resnet50.pth --calib photos/ --method entropy --samples 256 -o resnet50_int8.onnx");
  std::vector<std::string> pos;
  if (!p.parse(args, &pos)) return p.exit_code();
  if (pos.size() != 1)
    return p.usage_error("expected one MODEL, got " + std::to_string(pos.size()));
  if (out.empty()) return p.usage_error("-o OUT.onnx is required");
  auto method = parse_calib_method(method_s);
  if (!method.ok()) return p.usage_error("--method: " + method.status().message());
  if (Status st = check_output(out); !st.ok()) return p.fail(st.message());
  auto g = load_model(pos[0], arch);
  if (!g.ok()) return p.fail(g.status().message());
  Result<std::vector<Tensor>> inputs = std::vector<Tensor>{};
  if (calib.empty()) {
    std::fprintf(
        stderr,
        "scratchcv quantize: warning: no --calib folder; calibrating on the bundled sample "
        "photo (a folder of photos like those the model will see is better)\n");
    inputs = builtin_calibration(size);
  } else {
    auto files = list_image_files({calib}, false);
    if (!files.ok()) return p.fail(files.status().message());
    inputs = photo_inputs(*files, samples, size, 1);
  }
  if (!inputs.ok()) return p.fail(inputs.status().message());
  QuantizeOptions qo;
  qo.method = *method;
  qo.percentile = percentile;
  qo.int8_logits = int8_logits;
  QuantizeReport rep;
  auto bytes = quantize_to_qdq(*g, *inputs, qo, &rep);
  if (!bytes.ok()) return p.fail(bytes.status().message());
  if (Status st = write_file_atomic(out, bytes->data(), bytes->size()); !st.ok())
    return p.fail(st.message());
  std::printf(
      "wrote %s: %d int8 ops, %d BatchNorms folded, %d ReLUs fused, %s calibration on %d "
      "inputs, %.1f MB\n",
      out.c_str(), rep.quantized_ops, rep.folded_bn, rep.fused_relu, calib_method_name(qo.method),
      rep.samples, double(bytes->size()) / 1e6);
  for (const std::string& s : rep.float_kept) std::printf("  higher precision: %s\n", s.c_str());
  return 0;
}

const Command reg("quantize", "post-training int8 quantization into an ONNX QDQ model",
                  cmd_quantize);

}  // namespace
