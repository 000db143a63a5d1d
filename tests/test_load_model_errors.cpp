// load_model says what a file looks like when it is not a model it reads, judged from the
// content (never the name): images, our training checkpoint, legacy pickles, TFLite, text/HTML,
// gzip, unknown bytes; and a broken ONNX file is named as such.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "scratchcv/file_util.h"
#include "scratchcv/model.h"

namespace {

std::string message_for(const std::string& bytes) {
  const std::string path = testing::TempDir() + "/model_" + std::to_string(::getpid()) + ".bin";
  EXPECT_TRUE(scv::write_file_atomic(path, bytes.data(), bytes.size()).ok());
  auto g = scv::load_model(path, "");
  ::unlink(path.c_str());
  EXPECT_FALSE(g.ok());
  return g.ok() ? "" : g.status().message();
}

TEST(LoadModelErrors, SaysWhatTheFileIs) {
  struct Case {
    std::string bytes, expect;
  };
  const std::vector<Case> cases = {
      {std::string("\xff\xd8\xff\xe0\0\x10JFIF\0", 11), "a JPEG image"},
      {std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16), "a PNG image"},
      {"GIF89a\x01\0\x01\0", "a GIF image"},
      {std::string("RIFF\x10\0\0\0WEBPVP8 ", 16), "a WebP image"},
      {std::string("II*\0\x08\0\0\0", 8), "a TIFF image"},
      {std::string("SCVCKPT1\x01\0\0\0", 12), "scratchcv training checkpoint"},
      {std::string("\x80\x02}q\0(X\x06\0\0\0conv1.q", 18), "legacy format"},
      {std::string("\x1c\0\0\0TFL3\0\0\0\0", 12), "TensorFlow Lite"},
      {std::string("\x1f\x8b\x08\0\0\0\0\0", 8), "gzip"},
      {"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n", "HTML page"},
      {"tench\ngoldfish\ngreat white shark\n", "a text file"},
      {std::string("\xde\xad\xbe\xef\x01\x02", 6), "unknown format (first bytes de ad be ef)"},
  };
  for (const Case& c : cases) {
    const std::string m = message_for(c.bytes);
    EXPECT_NE(m.find(c.expect), std::string::npos) << m;
    EXPECT_NE(m.find("not a model scratchcv reads"), std::string::npos) << m;
    EXPECT_EQ(m.find("protobuf"), std::string::npos) << m;
  }
}

TEST(LoadModelErrors, BrokenOnnxIsNamed) {
  // ir_version = 8, then a graph field whose length runs past the end.
  const std::string m = message_for(std::string("\x08\x08\x3a\x7f\x0a\x01x", 7));
  EXPECT_NE(m.find("not a readable ONNX model"), std::string::npos) << m;
}

}  // namespace
