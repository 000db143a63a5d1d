// scratchcv plot: the book's figures from one command.
//
//   plot activations OUT.png [--csv FILE]: sigmoid, tanh, ReLU and leaky ReLU with their
//   derivatives, computed by training's own activation layers (forward for f, backward with
//   dy = 1 for f'), so the picture shows exactly what `mnist train` uses.
#include <cstdio>
#include <iostream>

#include "cli.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/train.h"
#include "scratchcv/viz.h"

namespace scv::cli {
namespace {

int cmd_plot_activations(const std::vector<std::string>& args) {
  std::string csv;
  double lo = -5, hi = 5;
  ArgParser ap("plot activations",
               "Draw sigmoid, tanh, ReLU and leaky ReLU (slope 0.01) with their derivatives.",
               "OUT.png");
  ap.option("csv", &csv, "FILE", "also write the values: x, then f and f' of each function")
      .option("from", &lo, "X", "left end of the x axis (default -5)")
      .option("to", &hi, "X", "right end of the x axis (default 5)");
  std::vector<std::string> pos;
  if (!ap.parse(args, &pos)) return ap.exit_code();
  if (pos.size() != 1) return ap.fail("expected one OUT.png argument");
  if (!(hi > lo) || hi - lo > 1e6) return ap.fail("--to must be greater than --from");
  const int n = 401;
  Tensor x({1, n});
  for (int i = 0; i < n; ++i) x[i] = float(lo + (hi - lo) * i / (n - 1));
  Tensor ones({1, n});
  for (int i = 0; i < n; ++i) ones[i] = 1.f;
  struct Fn {
    const char* name;
    train::Act act;
  };
  const Fn fns[] = {{"sigmoid", train::Act::sigmoid},
                    {"tanh", train::Act::tanh},
                    {"ReLU", train::Act::relu},
                    {"leaky ReLU (0.01)", train::Act::leaky_relu}};
  ThreadPool pool(1);
  std::vector<Image> charts;
  std::vector<Tensor> cols;
  for (const Fn& f : fns) {
    auto layer = train::make_activation(f.act, 0.01f);
    Tensor y, dx;
    layer->forward(x, &y, false, pool);
    layer->backward(x, y, ones, &dx, pool);
    viz::Series fs{std::string(f.name), {}, {}, viz::palette(0)};
    viz::Series ds{std::string("derivative"), {}, {}, viz::palette(1), true};
    for (int i = 0; i < n; ++i) {
      fs.x.push_back(x[i]), fs.y.push_back(y[i]);
      ds.x.push_back(x[i]), ds.y.push_back(dx[i]);
    }
    charts.push_back(viz::line_chart(f.name, "x", "f(x), f'(x)", {fs, ds}, 460, 320));
    cols.push_back(y);
    cols.push_back(dx);
  }
  if (Status s = save_png(pos[0], viz::tile_images(charts, 2, 8)); !s.ok())
    return ap.fail(s.message());
  if (!csv.empty()) {
    std::string t = "x,sigmoid,d_sigmoid,tanh,d_tanh,relu,d_relu,leaky_relu,d_leaky_relu\n";
    char buf[64];
    for (int i = 0; i < n; ++i) {
      std::snprintf(buf, sizeof buf, "%.9g", x[i]);
      t += buf;
      for (const Tensor& c : cols) {
        std::snprintf(buf, sizeof buf, ",%.9g", c[i]);
        t += buf;
      }
      t += "\n";
    }
    if (Status s = write_file_atomic(csv, t.data(), t.size()); !s.ok()) return ap.fail(s.message());
  }
  std::printf("wrote %s\n", pos[0].c_str());
  return 0;
}

int cmd_plot(const std::vector<std::string>& args) {
  return run_subcommand(
      "plot", "figure", "plot <figure> OUT.png [options]",
      {{"activations", "sigmoid, tanh, ReLU, leaky ReLU and their derivatives",
        cmd_plot_activations}},
      "The optimisation ladder is `scratchcv bench --ladder --plot OUT.png`; training curves\n"
      "are `scratchcv mnist train --plot OUT.png`.\n",
      args);
}

Command reg("plot", "the book's figures: activation functions and their derivatives", cmd_plot);

}  // namespace
}  // namespace scv::cli
