// `scratchcv bench --model X.tflite` (or --model mobilenet_v2): the quantized engine's figures.
#pragma once

#include <string>
#include <vector>

namespace scv {
class QSession;
}

namespace scv::cli {

// True when the --model argument in `args` names a TFLite model (by content) or the bundled one.
bool bench_wants_tflite(const std::vector<std::string>& args);
int bench_tflite(const std::vector<std::string>& args);
// The median time of every step of `s` over `iters` profiled runs, and its share of their sum.
void print_qsession_per_layer(QSession& s, int iters);

}  // namespace scv::cli
