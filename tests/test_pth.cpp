// load_pth against checkpoints written by torch.save at test time (tests/py/pth_make.py): every
// tensor value compared bit-for-bit with what PyTorch itself reports (t.float().contiguous()).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "pth_testdata.h"

using namespace scv;
using pth_test::expect_matches;
using pth_test::PthData;
using pth_test::read_expected;

class Pth : public PthData {
 protected:
  // Loads `file` and expects exactly the tensors pth_make.py dumped as `expected`; an empty state
  // dict (and a test failure) where it does not load.
  StateDict load_matching(const std::string& file, const std::string& expected) {
    auto sd = load_pth(path(file));
    EXPECT_TRUE(sd.ok()) << sd.status().message();
    if (!sd.ok()) return {};
    expect_matches(*sd, read_expected(path(expected)));
    return std::move(sd).value();
  }
};

TEST_F(Pth, ResNet18RandomWeightsExact) {
  const StateDict sd = load_matching("resnet18.pth", "resnet18");
  EXPECT_EQ(sd.size(), 122u);  // 62 params + 3 x 20 BN buffers
  const Tensor* w = find_tensor(sd, "conv1.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->shape(), (Shape{64, 3, 7, 7}));
  const Tensor* fc = find_tensor(sd, "fc.weight");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->shape(), (Shape{1000, 512}));
  const Tensor* nbt = find_tensor(sd, "bn1.num_batches_tracked");  // int64 -> float
  ASSERT_NE(nbt, nullptr);
  EXPECT_EQ(nbt->rank(), 0);
  EXPECT_EQ((*nbt)[0], 1000.0f + std::string("bn1.num_batches_tracked").size());
  EXPECT_EQ(find_tensor(sd, "no.such.tensor"), nullptr);
}

// Transposed / permuted / sliced views, a storage shared by three tensors at different offsets,
// float64 / float16 (subnormal, inf, NaN) / bfloat16 / int64 / int32 / int16 / int8 / uint8 /
// bool, a 0-d scalar, an empty tensor and an nn.Parameter.
TEST_F(Pth, ViewsSharedStoragesAndDtypes) {
  const StateDict sd = load_matching("special.pth", "special");

  const Tensor* t = find_tensor(sd, "transposed");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape(), (Shape{6, 4}));
  const Tensor* i64 = find_tensor(sd, "i64");
  ASSERT_NE(i64, nullptr);
  EXPECT_EQ((*i64)[3], static_cast<float>(int64_t{1} << 40) + 12345.0f);
  const Tensor* f16 = find_tensor(sd, "f16");
  ASSERT_NE(f16, nullptr);
  EXPECT_TRUE(std::isinf((*f16)[9]));
  EXPECT_TRUE(std::isnan((*f16)[11]));
  EXPECT_GT((*f16)[5], 0.0f);  // 6e-8 is a half subnormal
  const Tensor* a = find_tensor(sd, "shared_a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ((*a)[0], 1.5f);  // arange(30) * 0.5, offset 3
  const Tensor* empty = find_tensor(sd, "empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->shape(), (Shape{0, 3}));
}

// torch.save to a file object names the top folder "archive/" instead of the file's stem.
TEST_F(Pth, ArchiveFolderNameVaries) {
  load_matching("special_archive.pth", "special");
}

// {'epoch': 7, 'state_dict': {'module.0.weight': ...}, 'optimizer': {...}}
TEST_F(Pth, WrappedStateDictWithModulePrefix) {
  const StateDict sd = load_matching("wrapped_sd.pth", "small");
  EXPECT_NE(find_tensor(sd, "1.running_var"), nullptr);
  EXPECT_EQ(find_tensor(sd, "module.1.running_var"), nullptr);
}

TEST_F(Pth, WrappedUnderModelKey) {
  load_matching("wrapped_model.pth", "small");
}

// Re-zipped by Python's zipfile: classic end-of-central-directory (no ZIP64) and local headers
// that carry the CRC and sizes themselves.
TEST_F(Pth, RezippedStoredArchive) {
  load_matching("rezipped.pth", "small");
}

TEST_F(Pth, ParseFromMemoryMatchesLoad) {
  auto bytes = read_file(path("small.pth"));
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto sd = parse_pth(bytes->data(), bytes->size());
  ASSERT_TRUE(sd.ok()) << sd.status().message();
  expect_matches(*sd, read_expected(path("small")));
}

TEST_F(Pth, ErrorsNameTheFileAndWhatWasFound) {
  struct Case {
    const char* file;
    const char* says;
  };
  for (const Case& c : {Case{"legacy.pth", "legacy"}, Case{"deflated.pth", "compressed"},
                        Case{"text.pth", "not a PyTorch checkpoint"},
                        Case{"fullmodel.pth", "torch.nn.modules.container.Sequential"},
                        Case{"script.pt", "TorchScript"}, Case{"missing.pth", "cannot open"}}) {
    SCOPED_TRACE(c.file);
    auto sd = load_pth(path(c.file));
    ASSERT_FALSE(sd.ok());
    const std::string& msg = sd.status().message();
    EXPECT_NE(msg.find(path(c.file)), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
  }
}

namespace {
// Runs a shell command; returns its exit status and stdout+stderr.
int run_cmd(const std::string& cmd, std::string* out) {
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return -1;
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
  const int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
}  // namespace

TEST_F(Pth, CliPthInfo) {
  std::string out;
  ASSERT_EQ(
      run_cmd(std::string(SCV_CLI) + " pth-info --stats '" + path("wrapped_sd.pth") + "'", &out), 0)
      << out;
  EXPECT_NE(out.find("0.weight\t[4, 3, 3, 3]\t108\tmin "), std::string::npos) << out;
  EXPECT_NE(out.find("1.num_batches_tracked\t[]\t1\tmin 12345\tmax 12345"), std::string::npos)
      << out;
  EXPECT_NE(out.find("9 tensors, 139 values"), std::string::npos) << out;

  ASSERT_EQ(run_cmd(std::string(SCV_CLI) + " pth-info '" + path("text.pth") + "'", &out), 1);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;  // one line
  EXPECT_NE(out.find("not a PyTorch checkpoint"), std::string::npos) << out;
}
