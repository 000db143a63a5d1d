// Training you can watch: the log and pictures of `mnist train --log/--plot` and
// `mnist test --confusion/--errors`. Every file is written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scratchcv/status.h"
#include "scratchcv/thread_pool.h"
#include "scratchcv/train.h"

namespace scv::cli {

// One row per logged point: a running value inside an epoch ("batch": loss and accuracy over the
// epoch so far), or an epoch's result ("train" / "test").
struct TrainLogRow {
  int epoch = 0;      // 1-based
  double step = 0;    // fractional epoch: epoch - 1 + batch / batches
  std::string split;  // batch | train | test
  double loss = 0, accuracy = 0;
};

class TrainLog {
 public:
  void add(TrainLogRow r) { rows_.push_back(std::move(r)); }
  const std::vector<TrainLogRow>& rows() const { return rows_; }
  // CSV: epoch,step,split,loss,accuracy
  Status write_csv(const std::string& path) const;
  // Two charts stacked: loss and accuracy against epochs, for the running batch values and the
  // train / test results of each epoch.
  Status write_plot(const std::string& path) const;

 private:
  std::vector<TrainLogRow> rows_;
};

// Predicted class of every example (batches of 256).
std::vector<int> predict_all(train::Network& net, const train::Dataset& d, ThreadPool& pool);
// The confusion matrix (rows = true, columns = predicted) as a picture.
Status write_confusion_png(const std::string& path, const std::vector<int64_t>& confusion,
                           int classes, const std::string& title);
// A grid of up to `max_count` misclassified images, each labelled "t<true> p<predicted>".
// Returns the number shown through *shown.
Status write_errors_png(const std::string& path, const train::Dataset& d,
                        const std::vector<int>& predicted, int max_count, int* shown);

}  // namespace scv::cli
