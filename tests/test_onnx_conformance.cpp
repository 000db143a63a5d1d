// ONNX node conformance: every test directory of the official ONNX backend test data
// (Debian package libonnx-testdata) for the ops we support is loaded with our reader, run with
// the reference executor and compared with the expected outputs.
//
// Tolerance: |got - want| <= kAtol + kRtol * |want|, kRtol = 1e-3, kAtol = 1e-5 (the ONNX backend
// tests use rtol 1e-3). Shapes must match exactly.
//
// A directory matching the patterns either passes, or is listed in kSkipTable with a reason and
// the error text our loader must produce for it (so the table stays honest: a listed test that
// starts passing, or fails for another reason, is a failure). Nothing is skipped silently.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "io/protobuf.h"
#include "onnx_test_util.h"
#include "op_coverage.h"
#include "scratchcv/file_util.h"
#include "scratchcv/graph.h"
#include "scratchcv/onnx.h"

namespace fs = std::filesystem;

namespace {

const char* kDataDir = "/usr/share/libonnx-testdata/data/node";
constexpr double kRtol = 1e-3, kAtol = 1e-5;

// The directories we claim to support: the ONNX tests of every op in the op list.
const std::regex kPattern(scv::testing::onnx_test_pattern());

struct Skip {
  const char* reason;
  const char* expected_error;  // substring of the error our loader/executor reports
};

const std::map<std::string, Skip> kSkipTable = {
    {"test_add_uint8", {"uint8 tensors: scratchcv computes in float32 only", "UINT8"}},
    {"test_maxpool_2d_uint8", {"uint8 tensors: scratchcv computes in float32 only", "UINT8"}},
    {"test_clip_default_int8_inbounds",
     {"int8 tensors: scratchcv computes in float32 only", "INT8"}},
    {"test_clip_default_int8_max", {"int8 tensors: scratchcv computes in float32 only", "INT8"}},
    {"test_clip_default_int8_min", {"int8 tensors: scratchcv computes in float32 only", "INT8"}},
    {"test_batchnorm_epsilon_training_mode",
     {"training-mode BatchNormalization (batch statistics, 3 outputs): inference only",
      "training_mode=1 is not supported"}},
    {"test_batchnorm_example_training_mode",
     {"training-mode BatchNormalization (batch statistics, 3 outputs): inference only",
      "training_mode=1 is not supported"}},
    // The *_expanded variants spell Softmax with ReduceMax/Sub/Exp/ReduceSum/Div, which are not
    // among our ops; the Softmax op itself is covered by the non-expanded twins.
    {"test_softmax_axis_0_expanded", {"decomposed into ops we do not support", "unsupported op"}},
    {"test_softmax_axis_1_expanded", {"decomposed into ops we do not support", "unsupported op"}},
    {"test_softmax_axis_2_expanded", {"decomposed into ops we do not support", "unsupported op"}},
    {"test_softmax_default_axis_expanded",
     {"decomposed into ops we do not support", "unsupported op"}},
    {"test_softmax_example_expanded", {"decomposed into ops we do not support", "unsupported op"}},
    {"test_softmax_large_number_expanded",
     {"decomposed into ops we do not support", "unsupported op"}},
    {"test_softmax_negative_axis_expanded",
     {"decomposed into ops we do not support", "unsupported op"}},
};

std::vector<std::string> discover() {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(kDataDir, ec)) return {"libonnx_testdata_missing"};
  for (const auto& e : fs::directory_iterator(kDataDir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && std::regex_match(name, kPattern)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

const std::vector<std::string>& all_dirs() {
  static const std::vector<std::string> dirs = discover();
  return dirs;
}

// Files named <prefix><k>.pb in dir, k = 0, 1, ... in order.
std::vector<fs::path> numbered(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (int k = 0;; ++k) {
    fs::path p = dir / (prefix + std::to_string(k) + ".pb");
    if (!fs::exists(p)) break;
    out.push_back(p);
  }
  return out;
}

// data_type (field 2) of a serialized TensorProto, 0 if absent.
int64_t tensor_dtype(const std::vector<uint8_t>& bytes) {
  scv::pb::Reader r(bytes.data(), bytes.size());
  int64_t dtype = 0;
  while (!r.at_end()) {
    scv::pb::Field f;
    if (!r.next(&f).ok()) return 0;
    if (f.number == 2 && !scv::pb::get_int64(f, &dtype).ok()) return 0;
  }
  return dtype;
}

// Loads and runs one test data set; returns the first problem, or "" when every output matches.
std::string run_data_set(const std::string& model_bytes, const fs::path& set_dir) {
  // Integer inputs (Reshape's shape) must be constants for our loader: bake them into the model
  // as initializers with the input's name, which the loader then treats as a constant, not an
  // input.
  std::string model = model_bytes;
  std::vector<scv::Tensor> inputs;
  for (const fs::path& p : numbered(set_dir, "input_")) {
    auto bytes = scv::read_file(p.string());
    if (!bytes.ok()) return bytes.status().message();
    const int64_t dtype = tensor_dtype(*bytes);
    if (dtype == 6 || dtype == 7) {
      model = scv::onnx_test::append_initializer(model, std::string(bytes->begin(), bytes->end()));
      continue;
    }
    auto t = scv::parse_onnx_tensor(bytes->data(), bytes->size());
    if (!t.ok()) return p.filename().string() + ": " + t.status().message();
    inputs.push_back(*t);
  }
  auto graph = scv::parse_onnx(reinterpret_cast<const uint8_t*>(model.data()), model.size());
  if (!graph.ok()) return "load: " + graph.status().message();
  auto outs = scv::run_reference(*graph, inputs);
  if (!outs.ok()) return "run: " + outs.status().message();
  const auto expected_files = numbered(set_dir, "output_");
  if (outs->size() != expected_files.size())
    return scv::str("got ", outs->size(), " outputs, expected ", expected_files.size());
  for (size_t k = 0; k < expected_files.size(); ++k) {
    auto bytes = scv::read_file(expected_files[k].string());
    if (!bytes.ok()) return bytes.status().message();
    auto want = scv::parse_onnx_tensor(bytes->data(), bytes->size());
    if (!want.ok()) return "expected output: " + want.status().message();
    const scv::Tensor& got = (*outs)[k];
    if (got.shape() != want->shape())
      return scv::str("output ", k, ": shape ", scv::shape_str(got.shape()), ", expected ",
                      scv::shape_str(want->shape()));
    for (int64_t i = 0; i < got.numel(); ++i) {
      const double g = got[i], w = (*want)[i];
      const bool both_nan = std::isnan(g) && std::isnan(w);
      if (!both_nan && !(std::fabs(g - w) <= kAtol + kRtol * std::fabs(w)))
        return scv::str("output ", k, " element ", i, ": got ", g, ", expected ", w);
    }
  }
  return "";
}

// Returns "" when every data set of the directory passes.
std::string run_dir(const std::string& name) {
  const fs::path dir = fs::path(kDataDir) / name;
  auto model = scv::read_file((dir / "model.onnx").string());
  if (!model.ok()) return model.status().message();
  const std::string model_bytes(model->begin(), model->end());
  int sets = 0;
  for (int k = 0;; ++k) {
    const fs::path set_dir = dir / ("test_data_set_" + std::to_string(k));
    if (!fs::is_directory(set_dir)) break;
    ++sets;
    std::string problem = run_data_set(model_bytes, set_dir);
    if (!problem.empty()) return set_dir.filename().string() + ": " + problem;
  }
  if (sets == 0) return "no test_data_set_* directory";
  return "";
}

int g_passed = 0, g_skipped = 0, g_failed = 0;

class Summary : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_passed + g_skipped + g_failed > 0)
      std::printf("[ONNX conformance] %d passed, %d skipped (see kSkipTable), %d failed\n",
                  g_passed, g_skipped, g_failed);
  }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new Summary);

class OnnxConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxConformance, Node) {
  const std::string& name = GetParam();
  if (name == "libonnx_testdata_missing") {
    ++g_failed;
    FAIL() << kDataDir << " not found: install the ONNX test data (apt-get install "
           << "libonnx-testdata)";
  }
  const std::string problem = run_dir(name);
  auto skip = kSkipTable.find(name);
  if (skip == kSkipTable.end()) {
    if (!problem.empty()) ++g_failed;
    ASSERT_EQ(problem, "") << name;
    ++g_passed;
    return;
  }
  if (problem.empty()) {
    ++g_failed;
    FAIL() << name << " is in the skip table but passes now: remove it from kSkipTable";
  }
  if (problem.find(skip->second.expected_error) == std::string::npos) {
    ++g_failed;
    FAIL() << name << " is in the skip table (\"" << skip->second.reason
           << "\") but fails for another reason: " << problem;
  }
  ++g_skipped;
  GTEST_SKIP() << skip->second.reason << " [" << problem << "]";
}

INSTANTIATE_TEST_SUITE_P(Node, OnnxConformance, ::testing::ValuesIn(all_dirs()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Guards against the glob silently matching less than before (e.g. a renamed data layout).
TEST(OnnxConformanceSetup, FindsTheSupportedOpDirectories) {
  ASSERT_NE(all_dirs().front(), "libonnx_testdata_missing")
      << kDataDir << " not found: install libonnx-testdata";
  EXPECT_GE(all_dirs().size(), 70u);
  for (const auto& [name, skip] : kSkipTable)
    EXPECT_TRUE(std::find(all_dirs().begin(), all_dirs().end(), name) != all_dirs().end())
        << "skip table entry " << name << " names no test directory";
}

}  // namespace
