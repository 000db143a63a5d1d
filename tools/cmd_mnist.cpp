// `scratchcv mnist train|test|predict`: train a small CNN on MNIST-format data, evaluate it,
// and classify one image.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "cli.h"
#include "progress.h"
#include "runner.h"
#include "scratchcv/cpu.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/train.h"
#include "train_plots.h"

using namespace scv;
using namespace scv::train;

namespace {

bool check_data_fits(const cli::ArgParser& p, const Dataset& d, Network& net) {
  const ModelConfig& c = net.config();
  if (c.in_c != 1 || c.in_h != d.rows || c.in_w != d.cols) {
    p.fail(str("model input is ", c.in_c, "x", c.in_h, "x", c.in_w, " but the data has 1x", d.rows,
               "x", d.cols, " images"));
    return false;
  }
  if (net.num_classes() < 10) {
    p.fail(str("model has ", net.num_classes(), " outputs but the labels need 10"));
    return false;
  }
  return true;
}

// ---- train
// ---------------------------------------------------------------------------------------
// Everything the command line sets.
struct TrainArgs {
  std::string data, model = "lenet", out = "model.scv", resume, optim = "adam",
                    schedule = "constant", log_path, plot_path;
  int epochs = 5, batch = 64, threads = 0, seed = 1, limit = 0, test_limit = 0;
  double lr = -1, momentum = 0.9, wd = 0;
  bool quiet = false;
  OptimConfig oc;
};

void declare_train_options(cli::ArgParser& p, TrainArgs& a) {
  p.option("data", &a.data, "DIR",
           "directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]")
      .option("epochs", &a.epochs, "N", "total number of epochs (default 5)")
      .range(1, 100000)
      .option("model", &a.model, "NAME|FILE", "lenet (default), mlp, or a model config file")
      .option("batch", &a.batch, "B", "mini-batch size (default 64)")
      .range(1, 65536)
      .threads(&a.threads)
      .option("out", &a.out, "FILE", "checkpoint written after every epoch (default model.scv)")
      .option("resume", &a.resume, "FILE",
              "continue from this checkpoint (writes to --out, "
              "default the same file)")
      .option("optim", &a.optim, "adam|sgd", "optimiser (default adam)")
      .option("lr", &a.lr, "X", "learning rate (default 0.001 adam, 0.05 sgd)")
      .option("momentum", &a.momentum, "X", "SGD momentum (default 0.9)")
      .range(0, 1)
      .option("wd", &a.wd, "X", "weight decay (L2, default 0)")
      .range(0, 1)
      .option("schedule", &a.schedule, "S",
              "constant (default), step (x0.1 every 5 epochs), cosine")
      .option("seed", &a.seed, "N", "seed for weights, shuffling and dropout (default 1)")
      .option("limit", &a.limit, "N", "train on the first N training images only")
      .range(1, 1e9)
      .option("test-limit", &a.test_limit, "N", "evaluate on the first N test images only")
      .range(1, 1e9)
      .flag("quiet", &a.quiet, "no progress bar")
      .option("log", &a.log_path, "FILE", "CSV of loss and accuracy: running per batch, per epoch")
      .option("plot", &a.plot_path, "FILE", "PNG of the loss and accuracy curves (train and test)")
      .example("mnist train --data /usr/share/datasets/fashion-mnist --epochs 5");
}

// Parses and checks the command line and fills `a.oc`. Returns -1 to go on, else the exit code.
int parse_train_args(cli::ArgParser& p, const std::vector<std::string>& args, TrainArgs& a) {
  declare_train_options(p, a);
  std::vector<std::string> pos;
  if (!p.parse(args, &pos)) return p.exit_code();
  if (!pos.empty()) return p.usage_error("unexpected argument '" + pos[0] + "'");
  if (a.data.empty()) return p.usage_error("--data DIR is required");
  OptimConfig& oc = a.oc;
  if (a.optim == "adam")
    oc.kind = OptKind::adam, oc.lr = 1e-3f;
  else if (a.optim == "sgd")
    oc.kind = OptKind::sgd, oc.lr = 0.05f;
  else
    return p.usage_error("--optim must be adam or sgd, got '" + a.optim + "'");
  if (p.given("lr")) {
    if (!(a.lr > 0 && a.lr < 100))
      return p.usage_error(str("--lr must be in (0, 100), got ", a.lr));
    oc.lr = float(a.lr);
  }
  oc.momentum = float(a.momentum);
  oc.weight_decay = float(a.wd);
  if (a.schedule == "constant")
    oc.schedule = Schedule::constant;
  else if (a.schedule == "step")
    oc.schedule = Schedule::step;
  else if (a.schedule == "cosine")
    oc.schedule = Schedule::cosine;
  else
    return p.usage_error("--schedule must be constant, step or cosine, got '" + a.schedule + "'");
  return -1;
}

// "--resume X --model Y" where Y is not the checkpoint's model: the message names the first
// tensor whose shape differs.
Status model_mismatch_error(const TrainArgs& a, const ModelConfig& want, Network& stored) {
  auto wn = Network::build(want, 0);
  std::string detail;
  if (wn.ok()) {
    auto pa = wn->params(), pb = stored.params();
    for (size_t i = 0; i < std::max(pa.size(), pb.size()) && detail.empty(); ++i) {
      if (i >= pa.size() || i >= pb.size())
        detail = str("; the checkpoint has ", pb.size(), " tensors, --model ", pa.size());
      else if (pa[i]->value.shape() != pb[i]->value.shape())
        detail = str("; ", pb[i]->name, " is ", shape_str(pb[i]->value.shape()),
                     " in the checkpoint but ", shape_str(pa[i]->value.shape()), " in --model ",
                     a.model);
    }
  }
  return error(a.resume, ": checkpoint was trained with a different model config than --model ",
               a.model, detail, " (omit --model to use the stored one)");
}

// The network to train: from --resume (with its state and optimiser moments in `ck`) or new.
Result<std::unique_ptr<Network>> setup_network(const cli::ArgParser& p, TrainArgs& a,
                                               TrainState& st, LoadedCheckpoint& ck) {
  st.seed = uint64_t(a.seed);
  if (a.resume.empty()) {
    auto cfg = load_model_config(a.model);
    if (!cfg.ok()) return cfg.status();
    auto n = Network::build(cfg.value(), st.seed);
    if (!n.ok()) return n.status();
    return std::make_unique<Network>(std::move(n).value());
  }
  auto r = load_checkpoint(a.resume);
  if (!r.ok()) return r.status();
  ck = std::move(r).value();
  if (p.given("model")) {
    auto want = load_model_config(a.model);
    if (!want.ok()) return want.status();
    if (model_config_text(want.value()) != ck.config_text)
      return model_mismatch_error(a, want.value(), *ck.net);
  }
  st = ck.state;
  release_input(a.resume);  // the checkpoint is updated in place (atomically) by default
  if (!p.given("out")) a.out = a.resume;
  return std::move(ck.net);
}

// The training and test sets, cut to --limit / --test-limit.
Status load_train_data(const TrainArgs& a, Dataset* train_set, Dataset* test_set) {
  auto tr = load_mnist_dir(a.data, true);
  if (!tr.ok()) return tr.status();
  auto te = load_mnist_dir(a.data, false);
  if (!te.ok()) return te.status();
  *train_set = a.limit ? dataset_head(tr.value(), a.limit) : std::move(tr).value();
  *test_set = a.test_limit ? dataset_head(te.value(), a.test_limit) : std::move(te).value();
  return Status();
}

// One epoch: train with a progress bar, evaluate, save the checkpoint, print the epoch line and
// update the CSV log and plot.
Status run_epoch(const TrainArgs& a, int epoch, Network& net, Optimizer& opt, TrainState& st,
                 const Dataset& train_set, const Dataset& test_set, const TrainContext& ctx,
                 cli::TrainLog& log) {
  const float elr = scheduled_lr(a.oc, epoch, a.epochs);
  const auto t0 = std::chrono::steady_clock::now();
  cli::ProgressBar pbar(0, "batch", str("epoch ", epoch + 1, "/", a.epochs));
  bool started = false;
  auto progress = [&](const BatchProgress& b) {
    if (b.batch % std::max(1, b.num_batches / 50) == 0 || b.batch == b.num_batches)
      log.add({epoch + 1, epoch + double(b.batch) / b.num_batches, "batch", b.loss, b.running_acc});
    if (a.quiet) return;
    if (!started)
      pbar = cli::ProgressBar(b.num_batches, "batch", str("epoch ", epoch + 1, "/", a.epochs));
    started = true;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char extra[96];
    std::snprintf(extra, sizeof extra, "loss %.4f acc %5.2f%% %6.0f img/s", b.loss,
                  100.0 * b.running_acc, b.images_done / std::max(el, 1e-9));
    pbar.update(b.batch, extra);
  };
  EpochResult er = train_epoch(net, opt, train_set, a.batch, elr, epoch, st.seed, ctx, progress);
  pbar.clear();
  EvalResult ev = evaluate(net, test_set, 256, ctx);
  st.epochs_done = epoch + 1;
  st.best_test_acc = std::max(st.best_test_acc, float(ev.accuracy));
  Status s = save_checkpoint(a.out, net, &opt, st);
  std::printf(
      "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  "
      "time %.2f s (%.0f img/s)  lr %g  %s\n",
      epoch + 1, a.epochs, er.loss, 100 * er.acc, ev.loss, 100 * ev.accuracy, er.seconds,
      train_set.count / std::max(er.seconds, 1e-9), elr,
      s.ok() ? ("saved " + a.out).c_str() : "NOT saved");
  std::fflush(stdout);
  if (!s.ok()) return s;
  log.add({epoch + 1, epoch + 1.0, "train", er.loss, er.acc});
  log.add({epoch + 1, epoch + 1.0, "test", ev.loss, ev.accuracy});
  if (!a.log_path.empty()) s = log.write_csv(a.log_path);
  if (s.ok() && !a.plot_path.empty()) s = log.write_plot(a.plot_path);
  return s;
}

int cmd_train(const std::vector<std::string>& args) {
  cli::ArgParser p("mnist train", "Train a CNN (or MLP) on MNIST / Fashion-MNIST IDX files.");
  TrainArgs a;
  if (int rc = parse_train_args(p, args, a); rc >= 0) return rc;
  TrainState st;
  LoadedCheckpoint ck;
  auto built = setup_network(p, a, st, ck);
  if (!built.ok()) return p.fail(built.status().message());
  std::unique_ptr<Network> net = std::move(built).value();
  // Found now, not after the first epoch: an --out that cannot be written.
  if (Status s = check_output(a.out); !s.ok()) return p.fail(s.message());
  if (st.epochs_done >= a.epochs)
    return p.fail(str(a.resume, " already has ", st.epochs_done, " epochs; ask for --epochs > ",
                      st.epochs_done));
  Dataset train_set, test_set;
  if (Status s = load_train_data(a, &train_set, &test_set); !s.ok()) return p.fail(s.message());
  if (!check_data_fits(p, train_set, *net)) return 1;

  Optimizer opt(a.oc, net->params());
  if (!a.resume.empty()) {
    Status s = restore_optimizer(ck, &opt);
    if (!s.ok()) return p.fail(a.resume + ": " + s.message());
  }
  ThreadPool pool(a.threads);
  const TrainContext ctx(pool);  // the GEMM kernel is bound here, once
  std::printf("model: %s (%lld parameters)\n", net->summary().c_str(),
              (long long)net->num_parameters());
  std::printf("data: %lld train, %lld test images; batch %d, %d thread(s), %s, gemm %s\n",
              (long long)train_set.count, (long long)test_set.count, a.batch, a.threads,
              a.optim.c_str(), isa_name(ctx.gemm_isa()));
  std::fflush(stdout);
  cli::TrainLog log;
  for (int epoch = st.epochs_done; epoch < a.epochs; ++epoch) {
    Status s = run_epoch(a, epoch, *net, opt, st, train_set, test_set, ctx, log);
    if (!s.ok()) return p.fail(s.message());
  }
  return 0;
}

// ---- test
// ----------------------------------------------------------------------------------------
int cmd_test(const std::vector<std::string>& args) {
  std::string data, model, confusion_png, errors_png;
  int threads = 0, limit = 0;
  cli::ArgParser p("mnist test", "Accuracy and confusion matrix of a checkpoint on the test set.");
  p.option("data", &data, "DIR", "directory with t10k-{images-idx3,labels-idx1}-ubyte[.gz]")
      .option("model", &model, "FILE", "checkpoint written by 'mnist train'")
      .threads(&threads)
      .option("limit", &limit, "N", "first N test images only")
      .range(1, 1e9)
      .option("confusion", &confusion_png, "FILE", "also draw the confusion matrix as a PNG")
      .option("errors", &errors_png, "FILE",
              "PNG grid of misclassified images labelled t<true> p<predicted> (first 100)");
  std::vector<std::string> pos;
  if (!p.parse(args, &pos)) return p.exit_code();
  if (!pos.empty()) return p.usage_error("unexpected argument '" + pos[0] + "'");
  if (data.empty() || model.empty())
    return p.usage_error("--data DIR and --model FILE are required");
  auto ck = load_checkpoint(model);
  if (!ck.ok()) return p.fail(ck.status().message());
  auto te = load_mnist_dir(data, false);
  if (!te.ok()) return p.fail(te.status().message());
  Dataset test_set = limit > 0 ? dataset_head(te.value(), limit) : std::move(te).value();
  Network& net = *ck->net;
  if (!check_data_fits(p, test_set, net)) return 1;
  ThreadPool pool(threads);
  EvalResult ev = evaluate(net, test_set, 256, pool);
  const int C = net.num_classes();
  std::printf("accuracy %.2f%% (%lld images, loss %.4f)\n", 100 * ev.accuracy,
              (long long)test_set.count, ev.loss);
  std::printf("confusion matrix (rows = true label, columns = predicted):\n      ");
  for (int c = 0; c < C; ++c) std::printf("%6d", c);
  std::printf("\n");
  for (int r = 0; r < C; ++r) {
    std::printf("%6d", r);
    for (int c = 0; c < C; ++c) std::printf("%6lld", (long long)ev.confusion[size_t(r) * C + c]);
    std::printf("\n");
  }
  if (!confusion_png.empty()) {
    Status s = cli::write_confusion_png(confusion_png, ev.confusion, C,
                                        str("Confusion, accuracy ", 100 * ev.accuracy, "%"));
    if (!s.ok()) return p.fail(s.message());
    std::printf("wrote %s\n", confusion_png.c_str());
  }
  if (!errors_png.empty()) {
    int shown = 0;
    Status s = cli::write_errors_png(errors_png, test_set, cli::predict_all(net, test_set, pool),
                                     100, &shown);
    if (!s.ok()) return p.fail(s.message());
    std::printf("wrote %s (%d misclassified images)\n", errors_png.c_str(), shown);
  }
  return 0;
}

// ---- predict
// ------------------------------------------------------------------------------------- Any image
// -> gray -> resized to the model input (bilinear, antialiased) -> inverted when it is
// dark-on-light (the border is brighter than mid-gray), since MNIST digits are light on dark.
int cmd_predict(const std::vector<std::string>& args) {
  std::string model;
  bool fashion = false, no_invert = false;
  cli::ArgParser p("mnist predict", "Classify one image with a trained checkpoint.", "IMAGE");
  p.option("model", &model, "FILE", "checkpoint written by 'mnist train'")
      .flag("fashion", &fashion, "print Fashion-MNIST class names")
      .flag("no-invert", &no_invert, "never invert (default: invert dark-on-light images)");
  std::vector<std::string> pos;
  if (!p.parse(args, &pos)) return p.exit_code();
  if (pos.size() != 1) return p.usage_error("expected exactly one IMAGE argument");
  if (model.empty()) return p.usage_error("--model FILE is required");
  auto ck = load_checkpoint(model);
  if (!ck.ok()) return p.fail(ck.status().message());
  Network& net = *ck->net;
  const ModelConfig& c = net.config();
  if (c.in_c != 1) return p.fail("predict supports 1-channel models only");
  auto img = load_image(pos[0], ColorMode::gray);
  if (!img.ok()) return p.fail(img.status().message());
  Image g = resize_bilinear_antialias(img.value(), c.in_w, c.in_h);
  double border = 0;
  int nb = 0;
  for (int y = 0; y < g.height; ++y)
    for (int x = 0; x < g.width; ++x)
      if (y == 0 || x == 0 || y == g.height - 1 || x == g.width - 1) border += g.at(x, y, 0), ++nb;
  const bool invert = !no_invert && border / std::max(nb, 1) > 127.5;
  Tensor xt({1, 1, c.in_h, c.in_w});
  for (int i = 0; i < c.in_h * c.in_w; ++i) {
    const float v = g.pixels[i] * (1.f / 255.f);
    xt[i] = invert ? 1.f - v : v;
  }
  ThreadPool pool(1);
  const Tensor& z = net.forward(xt, false, pool);
  const int C = net.num_classes();
  std::vector<double> prob(C);
  double mx = z[0], sum = 0;
  for (int k = 1; k < C; ++k) mx = std::max(mx, double(z[k]));
  for (int k = 0; k < C; ++k) sum += prob[k] = std::exp(double(z[k]) - mx);
  int best = 0;
  for (int k = 0; k < C; ++k) {
    prob[k] /= sum;
    if (prob[k] > prob[best]) best = k;
  }
  static const char* kFashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  auto name = [&](int k) {
    return fashion && k < 10 ? str(k, " (", kFashion[k], ")") : std::to_string(k);
  };
  std::printf("%s: %s, probability %.4f%s\n", pos[0].c_str(), name(best).c_str(), prob[best],
              invert ? " (image inverted: dark on light)" : "");
  for (int k = 0; k < C; ++k) std::printf("  %-18s %.4f\n", name(k).c_str(), prob[k]);
  return 0;
}

// ---- dump-step (for the PyTorch golden test)
// -----------------------------------------------------
void put_tensor(std::vector<uint8_t>& b, const std::string& name, const Tensor& t) {
  auto raw = [&](const void* p, size_t n) {
    b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  };
  uint32_t len = uint32_t(name.size()), rank = uint32_t(t.rank());
  raw(&len, 4);
  raw(name.data(), len);
  raw(&rank, 4);
  for (int64_t d : t.shape()) raw(&d, 8);
  raw(t.data(), 4 * t.numel());
}

int cmd_dump_step(const std::vector<std::string>& args) {
  std::string model = "lenet", out, optim = "adam";
  int batch = 8, seed = 1, threads = 1;
  double lr = 1e-3, wd = 0;
  cli::ArgParser p("mnist dump-step",
                   "One training step on random data; writes inputs, weights, loss, gradients "
                   "and updated weights (for comparison against PyTorch).");
  p.option("model", &model, "NAME|FILE", "model config (default lenet)")
      .option("batch", &batch, "B", "batch size (default 8)")
      .option("seed", &seed, "N", "seed (default 1)")
      .threads(&threads, "1", ": a reproducible dump")
      .option("optim", &optim, "adam|sgd", "optimiser for the step (default adam)")
      .option("lr", &lr, "X", "learning rate (default 0.001)")
      .option("wd", &wd, "X", "weight decay (default 0)")
      .option("out", &out, "FILE", "output file");
  std::vector<std::string> pos;
  if (!p.parse(args, &pos)) return p.exit_code();
  if (out.empty()) return p.usage_error("--out FILE is required");
  if (Status s = check_output(out); !s.ok()) return p.fail(s.message());
  if (batch < 1 || batch > 4096) return p.usage_error("--batch must be 1..4096");
  auto cfg = load_model_config(model);
  if (!cfg.ok()) return p.fail(cfg.status().message());
  auto nr = Network::build(cfg.value(), uint64_t(seed));
  if (!nr.ok()) return p.fail(nr.status().message());
  Network net = std::move(nr).value();
  const ModelConfig& c = net.config();
  Rng rng(uint64_t(seed) + 12345);
  Tensor x({batch, c.in_c, c.in_h, c.in_w});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform();
  std::vector<int> y(batch);
  Tensor yt({batch});
  for (int i = 0; i < batch; ++i)
    y[i] = int(rng.next() % uint64_t(net.num_classes())), yt[i] = y[i];
  std::vector<uint8_t> b;
  const char magic[8] = {'S', 'C', 'V', 'S', 'T', 'E', 'P', '1'};
  b.insert(b.end(), magic, magic + 8);
  const std::string text = model_config_text(c);
  uint32_t len = uint32_t(text.size());
  b.insert(b.end(), reinterpret_cast<uint8_t*>(&len), reinterpret_cast<uint8_t*>(&len) + 4);
  b.insert(b.end(), text.begin(), text.end());
  put_tensor(b, "x", x);
  put_tensor(b, "y", yt);
  for (Param* q : net.params()) put_tensor(b, q->name, q->value.clone());
  ThreadPool pool(threads);
  Tensor dlogits;
  const Tensor& logits = net.forward(x, true, pool);
  put_tensor(b, "logits", logits.clone());
  Tensor loss({1});
  loss[0] = float(softmax_cross_entropy(logits, y, &dlogits, nullptr));
  put_tensor(b, "loss", loss);
  net.backward(dlogits, pool);
  for (Param* q : net.params()) put_tensor(b, "grad." + q->name, q->grad);
  OptimConfig oc;
  oc.kind = optim == "sgd" ? OptKind::sgd : OptKind::adam;
  oc.lr = float(lr);
  oc.weight_decay = float(wd);
  Optimizer opt(oc, net.params());
  opt.step(oc.lr, pool);
  for (Param* q : net.params()) put_tensor(b, "step." + q->name, q->value);
  Status s = write_file_atomic(out, b.data(), b.size());
  if (!s.ok()) return p.fail(s.message());
  return 0;
}

int cmd_mnist(const std::vector<std::string>& args) {
  return cli::run_subcommand(
      "mnist", "subcommand", "mnist <train|test|predict> [options]",
      {{"train", "train a CNN (lenet) or MLP on MNIST-format IDX files", cmd_train},
       {"test", "accuracy and confusion matrix of a checkpoint", cmd_test},
       {"predict", "classify one image (any size; resized to the model input)", cmd_predict},
       {"dump-step", nullptr, cmd_dump_step}},
      "Run 'scratchcv mnist <sub> --help' for options.\n", args);
}

}  // namespace

static scv::cli::Command reg_mnist("mnist", "train / test / predict a CNN on MNIST-format data",
                                   cmd_mnist);
