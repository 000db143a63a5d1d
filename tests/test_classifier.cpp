// The library's Classifier helpers: top-k, the JSON record classify prints, the photo listing and
// the --resume reader (torn lines), data-file lookup, and Classifier::create's errors. (Whole
// models against PyTorch: tests/py/resnet_golden.py and the Python suite in python/tests.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "scratchcv/classifier.h"
#include "scratchcv/file_util.h"

using namespace scv;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(SCV_BINARY_DIR) / "test_classifier_tmp" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST(TopK, SoftmaxOrderAndTies) {
  const float logits[6] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f, 1000.0f - 1000.0f};
  std::vector<std::string> labels = {"a", "b", "c", "d", "e", "f"};
  auto top = top_k(logits, 6, 4, labels);
  ASSERT_EQ(top.size(), 4u);
  // Ties keep the lower index first; labels follow the indices.
  EXPECT_EQ(top[0].index, 1);
  EXPECT_EQ(top[1].index, 3);
  EXPECT_EQ(top[2].index, 0);
  EXPECT_EQ(top[3].index, 4);
  EXPECT_EQ(top[1].label, "d");
  double sum = 0;
  for (float l : logits) sum += std::exp(double(l));
  EXPECT_NEAR(top[0].probability, std::exp(3.0) / sum, 1e-7);
  // Huge logits do not overflow (the max is subtracted); k is clamped; no labels -> "#i".
  const float big[3] = {1e30f, 1e30f - 1e24f, -1e30f};
  auto t2 = top_k(big, 3, 10, {});
  ASSERT_EQ(t2.size(), 3u);
  EXPECT_TRUE(std::isfinite(t2[0].probability));
  EXPECT_EQ(t2[0].label, "#0");
}

TEST(ClassificationJson, SchemaAndRounding) {
  std::vector<Prediction> p = {{281, "tabby, \"cat\"", 0.123456789f}, {5, "x", 1e-9f}};
  const std::string line = classification_json("dir/a b.jpg", p, 12.3456);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["file"], "dir/a b.jpg");
  EXPECT_EQ(j["top"][0]["index"], 281);
  EXPECT_EQ(j["top"][0]["label"], "tabby, \"cat\"");
  EXPECT_EQ(j["top"][0]["probability"].get<double>(), 0.123457);  // 6 significant digits
  EXPECT_EQ(j["ms"].get<double>(), 12.35);
  // Key order as documented: file, top, ms.
  EXPECT_LT(line.find("\"file\""), line.find("\"top\""));
  EXPECT_LT(line.find("\"top\""), line.find("\"ms\""));
  const std::string err = classification_json("b.jpg", Status::error("b.jpg: broken"), 1.0);
  auto e = nlohmann::json::parse(err);
  EXPECT_EQ(e.size(), 2u);
  EXPECT_EQ(e["error"], "b.jpg: broken");
}

TEST(ListImageFiles, RecursiveSortedAndErrors) {
  const fs::path d = fresh_dir("list");
  for (const char* f : {"b.jpg", "a.PNG", "c.jpeg", "e.webp", "f.TIFF", "g.bmp", "notes.txt", "sub/z.jpg",
                        "sub/deeper/y.png"})
    write(d / f, "x");
  fs::create_directories(d / "empty");
  const std::string root = d.string();
  auto flat = list_image_files({root}, false);
  ASSERT_TRUE(flat.ok()) << flat.status().message();
  EXPECT_EQ(*flat, (std::vector<std::string>{root + "/a.PNG", root + "/b.jpg", root + "/c.jpeg",
                                             root + "/e.webp", root + "/f.TIFF", root + "/g.bmp"}));
  auto deep = list_image_files({root, "given.txt"}, true);
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(deep->size(), 9u);
  EXPECT_EQ(deep->back(), "given.txt");  // files are kept as given, whatever their name
  EXPECT_EQ((*deep)[6], root + "/sub/deeper/y.png");
  auto none = list_image_files({(d / "empty").string()}, true);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no image files (.jpg .jpeg .png .bmp .webp .tif .tiff)"), std::string::npos);
}

TEST(JsonlDoneFiles, TornLastLineIsRepaired) {
  const fs::path d = fresh_dir("jsonl");
  EXPECT_TRUE(jsonl_done_files((d / "missing.jsonl").string(), true)->empty());
  const std::string good =
      "{\"file\":\"a.jpg\",\"top\":[]}\n\n{\"file\":\"b.jpg\",\"error\":\"x\"}\n";
  write(d / "r.jsonl", good + "{\"file\":\"c.jp");
  auto done = jsonl_done_files((d / "r.jsonl").string(), false);
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(*done, (std::vector<std::string>{"a.jpg", "b.jpg"}));
  EXPECT_EQ(slurp(d / "r.jsonl").size(), good.size() + 13);  // untouched without repair
  done = jsonl_done_files((d / "r.jsonl").string(), true);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(slurp(d / "r.jsonl"), good);
  // A complete last line without its newline is also treated as torn (the writer adds both).
  write(d / "s.jsonl", "{\"file\":\"a.jpg\"}");
  EXPECT_TRUE(jsonl_done_files((d / "s.jsonl").string(), true)->empty());
  EXPECT_EQ(slurp(d / "s.jsonl"), "");
  // A bad line in the middle is an error and the file is left alone.
  const std::string with_bad = "{\"file\":\"a.jpg\"}\nnot json\n{\"file\":\"b.jpg\"}\n";
  write(d / "t.jsonl", with_bad);
  auto bad = jsonl_done_files((d / "t.jsonl").string(), true);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos);
  EXPECT_EQ(slurp(d / "t.jsonl"), with_bad);
}

TEST(DataDir, EnvironmentOverrideAndMissingFile) {
  const fs::path d = fresh_dir("data");
  write(d / "labels.txt", "x\n");
  setenv("SCV_DATA_DIR", d.c_str(), 1);
  EXPECT_EQ(data_dir(), d.string());
  auto f = find_data_file("labels.txt");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, (d / "labels.txt").string());
  auto missing = find_data_file("nope.bin");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("SCV_DATA_DIR"), std::string::npos);
  unsetenv("SCV_DATA_DIR");
  // Without the variable: the build tree's share/scratchcv beside the test binaries' parent.
  EXPECT_TRUE(find_data_file("imagenet_classes.txt").ok()) << data_dir();
}

TEST(Classifier, CreateErrorsAreClear) {
  ClassifierOptions o;
  o.model = "/nonexistent/model.pth";
  auto r = Classifier::create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/model.pth"), std::string::npos);
  o.model = "no_such_arch";
  r = Classifier::create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("resnet50"), std::string::npos);  // lists the names
  o.precision = "int3";
  r = Classifier::create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("fp32"), std::string::npos);
  o = ClassifierOptions();
  o.threads = -1;
  EXPECT_FALSE(Classifier::create(o).ok());
  o = ClassifierOptions();
  o.crop = 300;
  o.resize = 256;
  o.model = SCV_SOURCE_DIR "/data/sample.jpg";  // exists, but crop > resize is refused first
  r = Classifier::create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("crop"), std::string::npos);
  o.crop = 224;
  r = Classifier::create(o);  // not a model file
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sample.jpg"), std::string::npos);
}
