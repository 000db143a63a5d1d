// Training logs and pictures (see train_plots.h).
#include "train_plots.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/viz.h"

namespace scv::cli {

Status TrainLog::write_csv(const std::string& path) const {
  std::string s = "epoch,step,split,loss,accuracy\n";
  char line[128];
  for (const auto& r : rows_) {
    std::snprintf(line, sizeof line, "%d,%.4f,%s,%.6f,%.6f\n", r.epoch, r.step, r.split.c_str(),
                  r.loss, r.accuracy);
    s += line;
  }
  return write_file_atomic(path, s.data(), s.size());
}

Status TrainLog::write_plot(const std::string& path) const {
  std::vector<viz::Series> loss, acc;
  const char* splits[] = {"batch", "train", "test"};
  const char* names[] = {"train (running, in epoch)", "train (epoch)", "test (epoch)"};
  for (int i = 0; i < 3; ++i) {
    viz::Series l{names[i], {}, {}, viz::palette(i), i == 0};
    viz::Series a = l;
    for (const auto& r : rows_) {
      if (r.split != splits[i]) continue;
      l.x.push_back(r.step), l.y.push_back(r.loss);
      a.x.push_back(r.step), a.y.push_back(100.0 * r.accuracy);
    }
    if (!l.x.empty()) loss.push_back(l), acc.push_back(a);
  }
  const Image top = viz::line_chart("Loss", "epoch", "cross-entropy", loss, 720, 360);
  const Image bottom = viz::line_chart("Accuracy", "epoch", "accuracy %", acc, 720, 360);
  return save_png(path, viz::tile_images({top, bottom}, 1, 0));
}

std::vector<int> predict_all(train::Network& net, const train::Dataset& d, ThreadPool& pool) {
  std::vector<int> pred(size_t(d.count), 0);
  const int bs = 256;
  std::vector<int64_t> idx(bs);
  Tensor x;
  std::vector<int> y;
  for (int64_t s = 0; s < d.count; s += bs) {
    const int n = int(std::min<int64_t>(bs, d.count - s));
    std::iota(idx.begin(), idx.begin() + n, s);
    train::make_batch(d, idx.data(), n, &x, &y);
    const Tensor& z = net.forward(x, false, pool);
    const int64_t C = z.dim(1);
    for (int i = 0; i < n; ++i)
      pred[size_t(s + i)] =
          int(std::max_element(z.data() + i * C, z.data() + (i + 1) * C) - (z.data() + i * C));
  }
  return pred;
}

Status write_confusion_png(const std::string& path, const std::vector<int64_t>& confusion,
                           int classes, const std::string& title) {
  std::vector<std::string> labels;
  for (int i = 0; i < classes; ++i) labels.push_back(std::to_string(i));
  return save_png(path, viz::matrix_chart(title, confusion, classes, labels));
}

Status write_errors_png(const std::string& path, const train::Dataset& d,
                        const std::vector<int>& predicted, int max_count, int* shown) {
  std::vector<Image> tiles;
  const int scale = 3;
  for (int64_t i = 0; i < d.count && int(tiles.size()) < max_count; ++i) {
    const int t = d.labels[size_t(i)], p = predicted[size_t(i)];
    if (t == p) continue;
    Image digit(d.cols, d.rows, 1);
    std::copy_n(d.images.begin() + i * d.rows * d.cols, size_t(d.rows) * d.cols,
                digit.pixels.begin());
    const Image big =
        viz::resize_nearest(convert_channels(digit, 3), d.cols * scale, d.rows * scale);
    Image tile = viz::blank(big.width, big.height + viz::kTextHeight + 4);
    viz::blit(tile, big, 0, 0);
    char label[32];  // (snprintf: GCC 12 warns falsely on this string concatenation)
    std::snprintf(label, sizeof label, "t%d p%d", t, p);
    viz::draw_text(tile, (tile.width - viz::text_width(label)) / 2, big.height + 2, label,
                   {200, 30, 30});
    tiles.push_back(std::move(tile));
  }
  *shown = int(tiles.size());
  if (tiles.empty()) {
    Image im = viz::blank(320, 40);
    viz::draw_text(im, 10, 14, "no misclassified images", viz::kBlack);
    return save_png(path, im);
  }
  return save_png(path, viz::tile_images(tiles, 10, 4));
}

}  // namespace scv::cli
