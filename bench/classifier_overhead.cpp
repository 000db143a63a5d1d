// Per-call time of the C++ Classifier API, the baseline for the Python binding's overhead
// (bench/package_bench.py builds this against the installed package and runs it beside the
// same calls from Python).
//   classifier_overhead MODEL PHOTO CROP ITERATIONS
// Prints one JSON object: median and min microseconds of classify_image(decoded image) and of
// logits(one pre-processed image).
#include <scratchcv/classifier.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

namespace {
std::pair<double, double> time_us(int n, const std::function<void()>& fn) {
  fn();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t[0]};
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: classifier_overhead MODEL PHOTO CROP ITERATIONS\n");
    return 2;
  }
  scv::ClassifierOptions opt;
  opt.model = argv[1];
  opt.threads = 1;
  opt.crop = std::atoi(argv[3]);
  opt.resize = opt.crop + opt.crop / 7;
  const int n = std::atoi(argv[4]);
  auto clf = scv::Classifier::create(opt);
  if (!clf.ok()) return std::fprintf(stderr, "%s\n", clf.status().message().c_str()), 1;
  auto img = scv::load_image(argv[2], scv::ColorMode::rgb);
  if (!img.ok()) return std::fprintf(stderr, "%s\n", img.status().message().c_str()), 1;
  auto x = (*clf)->preprocess(*img);
  if (!x.ok()) return std::fprintf(stderr, "%s\n", x.status().message().c_str()), 1;
  std::vector<float> y(size_t((*clf)->num_classes()));
  auto c = time_us(n, [&] { (void)(*clf)->classify_image(*img, 5); });
  auto l = time_us(n, [&] { (void)(*clf)->logits(x->data(), 1, y.data()); });
  std::printf(
      "{\"classify_median_us\": %.1f, \"classify_min_us\": %.1f, "
      "\"logits_median_us\": %.1f, \"logits_min_us\": %.1f}\n",
      c.first, c.second, l.first, l.second);
  return 0;
}
