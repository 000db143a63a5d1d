// `scratchcv bench --model X.tflite` (or --model mobilenet_v2): the quantized engine's figures.
#pragma once

#include <string>
#include <vector>

namespace scv::cli {

// True when the --model argument in `args` names a TFLite model (by content) or the bundled one.
bool bench_wants_tflite(const std::vector<std::string>& args);
int bench_tflite(const std::vector<std::string>& args);

}  // namespace scv::cli
