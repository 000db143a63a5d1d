// A photo classifier in a few lines, built against the installed scratchcv package:
//   classify [--model MODEL] [--threads N] PHOTO...
// MODEL: a .pth / .onnx file or a fetched architecture name; default: the cached resnet50.
#include <scratchcv/classifier.h>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  scv::ClassifierOptions opt;
  std::vector<std::string> photos;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--model" && i + 1 < argc)
      opt.model = argv[++i];
    else if (a == "--threads" && i + 1 < argc)
      opt.threads = std::atoi(argv[++i]);
    else
      photos.push_back(a);
  }
  if (photos.empty()) {
    std::fprintf(stderr, "usage: classify [--model MODEL] [--threads N] PHOTO...\n");
    return 2;
  }
  auto clf = scv::Classifier::create(opt);
  if (!clf.ok()) {
    std::fprintf(stderr, "classify: %s\n", clf.status().message().c_str());
    return 1;
  }
  int failures = 0;
  for (const std::string& photo : photos) {
    auto top = (*clf)->classify(photo, 5);
    if (!top.ok()) {
      std::fprintf(stderr, "classify: %s\n", top.status().message().c_str());
      ++failures;
      continue;
    }
    std::printf("%s\n", photo.c_str());
    for (const scv::Prediction& p : *top)
      std::printf("  %4d  %.6g  %s\n", p.index, p.probability, p.label.c_str());
  }
  return failures ? 1 : 0;
}
