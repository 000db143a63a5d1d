// Training on real data (Fashion-MNIST, when installed) and the `scratchcv mnist` CLI: a short
// run that must learn, test/resume/mismatch/corruption errors, and a killed run that leaves the
// last checkpoint loadable.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/train.h"

using namespace scv;
using namespace scv::train;

namespace {

const char* kFashion = "/usr/share/datasets/fashion-mnist";

bool have_fashion() {
  return file_exists(std::string(kFashion) + "/train-images-idx3-ubyte.gz");
}

std::string tmp(const std::string& name) {
  return std::string(SCV_BINARY_DIR) + "/test_train_mnist_" + name;
}

// Runs the CLI with a shell command line; returns the exit code, output in *out.
int cli(const std::string& args, std::string* out) {
  // One log per test: ctest may run the tests of this file in parallel.
  const std::string log =
      tmp(std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".log");
  const std::string cmd = std::string(SCV_CLI) + " " + args + " > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(TrainMnist, FashionShortRunLearns) {
  if (!have_fashion()) GTEST_SKIP() << "Fashion-MNIST not installed at " << kFashion;
  auto tr = load_mnist_dir(kFashion, true);
  auto te = load_mnist_dir(kFashion, false);
  ASSERT_TRUE(tr.ok()) << tr.status().message();
  ASSERT_TRUE(te.ok()) << te.status().message();
  EXPECT_EQ(tr->count, 60000);
  EXPECT_EQ(te->count, 10000);
  // One epoch on a 12k subset, evaluated on 2k test images.
  auto net = Network::build(load_model_config("lenet").value(), 1).value();
  Optimizer opt(OptimConfig{}, net.params());
  ThreadPool pool(2);
  EpochResult er =
      train_epoch(net, opt, dataset_head(tr.value(), 12000), 32, 1e-3f, 0, 1, pool, nullptr);
  EvalResult ev = evaluate(net, dataset_head(te.value(), 2000), 256, pool);
  std::printf("short run: train loss %.4f acc %.4f, test acc %.4f\n", er.loss, er.acc, ev.accuracy);
  EXPECT_GE(ev.accuracy, 0.75);
  int64_t total = 0;
  for (int64_t c : ev.confusion) total += c;
  EXPECT_EQ(total, 2000);
}

TEST(TrainMnist, CliTrainTestResumeAndErrors) {
  if (!have_fashion()) GTEST_SKIP() << "Fashion-MNIST not installed at " << kFashion;
  const std::string ck = tmp("cli.scv");
  std::remove(ck.c_str());
  std::string out;
  const std::string data = std::string(" --data ") + kFashion;
  // A short run: 600 training and 300 test images.
  const std::string train = "mnist train" + data + " --limit 600 --test-limit 300 --quiet";
  ASSERT_EQ(cli(train + " --epochs 1 --threads 2 --out " + ck, &out), 0) << out;
  EXPECT_NE(out.find("epoch 1/1"), std::string::npos) << out;
  EXPECT_NE(out.find("test loss"), std::string::npos) << out;
  auto loaded = load_checkpoint(ck);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->state.epochs_done, 1);

  ASSERT_EQ(cli("mnist test" + data + " --limit 300 --model " + ck, &out), 0) << out;
  EXPECT_NE(out.find("accuracy"), std::string::npos) << out;
  EXPECT_NE(out.find("confusion matrix"), std::string::npos) << out;
  EXPECT_NE(out.find("(300 images"), std::string::npos) << out;

  // predict: a test image, enlarged and inverted to dark-on-light, saved as PNG.
  {
    auto te = load_mnist_dir(kFashion, false);
    ASSERT_TRUE(te.ok());
    Image img(84, 84, 1);
    for (int y = 0; y < 84; ++y)
      for (int x = 0; x < 84; ++x) img.at(x, y, 0) = 255 - te->images[(y / 3) * 28 + x / 3];
    const std::string png = tmp("item.png");
    ASSERT_TRUE(save_png(png, img).ok());
    ASSERT_EQ(cli("mnist predict " + png + " --fashion --model " + ck, &out), 0) << out;
    EXPECT_NE(out.find("probability"), std::string::npos) << out;
    EXPECT_NE(out.find("inverted"), std::string::npos) << out;
    EXPECT_NE(out.find("Ankle boot"), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 11) << out;
    EXPECT_EQ(cli("mnist predict " + ck + " --model " + ck, &out), 1);  // not an image
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }

  // Resume continues with epoch 2 and rewrites the same file.
  ASSERT_EQ(cli(train + " --epochs 2 --resume " + ck, &out), 0) << out;
  EXPECT_NE(out.find("epoch 2/2"), std::string::npos) << out;
  EXPECT_EQ(out.find("epoch 1/2"), std::string::npos) << out;
  EXPECT_EQ(load_checkpoint(ck)->state.epochs_done, 2);

  // A checkpoint from another model config.
  EXPECT_EQ(cli("mnist train" + data + " --epochs 3 --model mlp --quiet --resume " + ck, &out), 1);
  EXPECT_NE(out.find("different model config"), std::string::npos) << out;
  EXPECT_NE(out.find("conv1.weight"), std::string::npos) << out;

  // Truncated checkpoint.
  auto bytes = read_file(ck).value();
  const std::string trunc = tmp("trunc.scv");
  ASSERT_TRUE(write_file_atomic(trunc, bytes.data(), bytes.size() - 100).ok());
  EXPECT_EQ(cli("mnist test" + data + " --model " + trunc, &out), 1);
  EXPECT_NE(out.find("truncated"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one-line error: " << out;

  // Bad arguments and a directory without data.
  EXPECT_EQ(cli("mnist train --epochs 1", &out), 2);  // a usage error
  EXPECT_NE(out.find("--data"), std::string::npos) << out;
  EXPECT_EQ(cli("mnist train --data " + std::string(SCV_BINARY_DIR) + " --epochs 1", &out), 1);
  EXPECT_NE(out.find("missing"), std::string::npos) << out;
  EXPECT_EQ(cli("mnist frobnicate", &out), 2);
}

TEST(TrainMnist, CorruptAndMismatchedIdxFilesInADataDir) {
  const std::string dir = tmp("data");
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  auto idx = [](std::vector<uint32_t> dims, size_t payload) {
    std::vector<uint8_t> b = {0, 0, 8, uint8_t(dims.size())};
    for (uint32_t d : dims)
      for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(d >> s));
    b.resize(b.size() + payload, 1);
    return b;
  };
  auto put = [&](const std::string& name, const std::vector<uint8_t>& b) {
    ASSERT_TRUE(write_file_atomic(dir + "/" + name, b.data(), b.size()).ok());
  };
  put("train-images-idx3-ubyte", idx({20, 28, 28}, 20 * 784));
  put("train-labels-idx1-ubyte", idx({19}, 19));
  put("t10k-images-idx3-ubyte", idx({5, 28, 28}, 5 * 784 - 10));
  put("t10k-labels-idx1-ubyte", idx({5}, 5));
  std::string out;
  EXPECT_EQ(cli("mnist train --data " + dir + " --epochs 1 --out " + tmp("x.scv"), &out), 1);
  EXPECT_NE(out.find("count mismatch"), std::string::npos) << out;
  put("train-labels-idx1-ubyte", idx({20}, 20));
  EXPECT_EQ(cli("mnist train --data " + dir + " --epochs 1 --out " + tmp("x.scv"), &out), 1);
  EXPECT_NE(out.find("t10k-images-idx3-ubyte: IDX size mismatch"), std::string::npos) << out;
  EXPECT_FALSE(file_exists(tmp("x.scv")));
}

TEST(TrainMnist, KilledRunLeavesLastCheckpointIntact) {
  if (!have_fashion()) GTEST_SKIP() << "Fashion-MNIST not installed at " << kFashion;
  const std::string ck = tmp("kill.scv");
  std::remove(ck.c_str());
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string data = kFashion;
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(SCV_CLI, SCV_CLI, "mnist", "train", "--data", data.c_str(), "--epochs", "1000", "--limit",
          "300", "--test-limit", "100", "--threads", "1", "--quiet", "--out", ck.c_str(),
          (char*)nullptr);
    _exit(127);
  }
  // Wait for a few checkpoints (each epoch rewrites it), then kill the run mid-way.
  int epochs = 0;
  for (int i = 0; i < 6000 && epochs < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (file_exists(ck)) {
      auto r = load_checkpoint(ck);
      ASSERT_TRUE(r.ok()) << "checkpoint seen mid-run is not loadable: " << r.status().message();
      epochs = r->state.epochs_done;
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_GE(epochs, 3) << "training run did not write checkpoints";
  auto r = load_checkpoint(ck);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_GE(r->state.epochs_done, epochs);
}

}  // namespace
