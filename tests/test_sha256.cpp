// SHA-256 against the FIPS 180-4 / NIST example vectors, chunking invariance, and Python's
// hashlib on generated files whose sizes straddle the 55/56/64-byte padding boundaries.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "scratchcv/sha256.h"

namespace {

std::string hex_of(const std::string& s) {
  return scv::sha256_hex(s.data(), s.size());
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklm"
                   "nopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(hex_of(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, ChunkingDoesNotMatter) {
  std::mt19937 rng(7);
  std::vector<uint8_t> data(10007);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  const std::string whole = scv::sha256_hex(data.data(), data.size());
  for (size_t chunk : {1u, 3u, 55u, 63u, 64u, 65u, 1000u}) {
    scv::Sha256 h;
    for (size_t i = 0; i < data.size(); i += chunk)
      h.update(data.data() + i, std::min(chunk, data.size() - i));
    EXPECT_EQ(scv::Sha256::hex(h.finish()), whole) << "chunk " << chunk;
  }
  scv::Sha256 h;  // reset() makes the object reusable
  h.update("xyz", 3);
  (void)h.finish();
  h.reset();
  h.update("abc", 3);
  EXPECT_EQ(scv::Sha256::hex(h.finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, FilesMatchPythonHashlib) {
  const std::string dir = ::testing::TempDir();
  const std::vector<size_t> sizes = {0, 1, 55, 56, 63, 64, 65, 119, 120, 4096, (1 << 20) + 3};
  std::mt19937 rng(11);
  std::vector<std::string> paths, ours;
  for (size_t n : sizes) {
    std::string path = dir + "/scv_sha256_" + std::to_string(n) + ".bin";
    std::vector<char> data(n);
    for (auto& c : data) c = static_cast<char>(rng());
    std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(n));
    scv::Result<std::string> h = scv::sha256_file_hex(path);
    ASSERT_TRUE(h.ok()) << h.status().message();
    EXPECT_EQ(h.value(), scv::sha256_hex(data.data(), n));
    paths.push_back(path);
    ours.push_back(h.value());
  }
  std::string cmd =
      "/usr/bin/python3 -c \"import hashlib,sys\n"
      "for p in sys.argv[1:]: print(hashlib.sha256(open(p,'rb').read()).hexdigest())\"";
  for (const std::string& p : paths) cmd += " '" + p + "'";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[128];
  std::vector<std::string> theirs;
  while (std::fgets(line, sizeof(line), pipe)) theirs.emplace_back(line, 64);
  ASSERT_EQ(::pclose(pipe), 0) << "python3 hashlib failed";
  ASSERT_EQ(theirs.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_EQ(ours[i], theirs[i]) << "size " << sizes[i];
  for (const std::string& p : paths) std::remove(p.c_str());
}

TEST(Sha256, MissingFileIsAnError) {
  scv::Result<std::string> h = scv::sha256_file_hex("/nonexistent/scv/file.bin");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("/nonexistent/scv/file.bin"), std::string::npos);
}

}  // namespace
