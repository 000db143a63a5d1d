// The weights table, cache paths and hash-prefix checks of fetch.h (no network: the download
// itself is tested end to end by tests/py/fetch_cli.py against a local server).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "scratchcv/fetch.h"
#include "scratchcv/sha256.h"

namespace {

// Sets environment variables for one test and restores them afterwards.
class EnvGuard {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.push_back({name, old ? std::string(old) : std::string(), old != nullptr});
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~EnvGuard() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->had)
        ::setenv(it->name.c_str(), it->value.c_str(), 1);
      else
        ::unsetenv(it->name.c_str());
    }
  }

 private:
  struct Saved {
    std::string name, value;
    bool had;
  };
  std::vector<Saved> saved_;
};

TEST(FetchTable, FindsOfficialFiles) {
  auto f = scv::find_model_file("resnet50");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->file_name, "resnet50-0676ba61.pth");
  EXPECT_EQ(f->resize_size, 256);
  EXPECT_EQ(scv::find_model_file("resnet50", "v2")->file_name, "resnet50-11ad3fa6.pth");
  EXPECT_EQ(scv::find_model_file("resnet50", "IMAGENET1K_V2")->resize_size, 232);
  EXPECT_EQ(scv::find_model_file("resnet50", "DEFAULT")->file_name, "resnet50-11ad3fa6.pth");
  EXPECT_EQ(scv::find_model_file("resnet18", "DEFAULT")->file_name, "resnet18-f37072fd.pth");
  EXPECT_EQ(scv::find_model_file("wide_resnet50_2", "V1")->file_name,
            "wide_resnet50_2-95faca4d.pth");
  EXPECT_EQ(scv::find_model_file("resnext50_32x4d", "V2")->file_name,
            "resnext50_32x4d-1a0047aa.pth");
}

TEST(FetchTable, EveryEntryIsConsistent) {
  std::map<std::string, int> defaults;
  for (const scv::ModelFile& f : scv::model_files()) {
    EXPECT_EQ(f.file_name.rfind(f.arch + "-", 0), 0u) << f.file_name;
    auto prefix = scv::hash_prefix_from_name(f.file_name);
    ASSERT_TRUE(prefix.ok()) << f.file_name;
    EXPECT_EQ(prefix->size(), 8u);
    defaults[f.arch] += f.is_default;
  }
  for (const auto& [arch, n] : defaults) EXPECT_EQ(n, 1) << arch << " needs one DEFAULT";
}

TEST(FetchTable, UnknownNamesExplainChoices) {
  auto a = scv::find_model_file("resnet51");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("resnet50"), std::string::npos);
  auto w = scv::find_model_file("resnet34", "V2");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("choose V1"), std::string::npos);
  EXPECT_EQ(scv::cached_model_path("resnet51"), "");
}

TEST(FetchPaths, CacheDirFollowsEnvironment) {
  EnvGuard env;
  env.set("SCV_CACHE_DIR", nullptr);
  env.set("XDG_CACHE_HOME", nullptr);
  env.set("HOME", "/home/u");
  EXPECT_EQ(scv::default_cache_dir(), "/home/u/.cache/scratchcv");
  env.set("XDG_CACHE_HOME", "/xdg");
  EXPECT_EQ(scv::default_cache_dir(), "/xdg/scratchcv");
  env.set("SCV_CACHE_DIR", "/models");
  EXPECT_EQ(scv::default_cache_dir(), "/models");
  EXPECT_EQ(scv::cached_model_path("resnet50", "V2"), "/models/resnet50-11ad3fa6.pth");
  EXPECT_EQ(scv::cached_model_path("resnet50", "", "/other/"), "/other/resnet50-0676ba61.pth");
}

TEST(FetchPaths, UrlsAndMissingMessage) {
  EnvGuard env;
  env.set("SCV_MODEL_BASE_URL", nullptr);
  env.set("SCV_CACHE_DIR", "/models");
  EXPECT_EQ(scv::model_url("resnet18-f37072fd.pth"),
            "https://download.pytorch.org/models/resnet18-f37072fd.pth");
  EXPECT_EQ(scv::model_url("a-0123abcd.pth", "http://mirror/x"), "http://mirror/x/a-0123abcd.pth");
  env.set("SCV_MODEL_BASE_URL", "http://mirror/m/");
  EXPECT_EQ(scv::model_url("a-0123abcd.pth"), "http://mirror/m/a-0123abcd.pth");
  EXPECT_EQ(scv::missing_weights_message("resnet50"),
            "missing weights: run `scratchcv fetch resnet50`, or download "
            "http://mirror/m/resnet50-0676ba61.pth to /models/resnet50-0676ba61.pth");
  EXPECT_NE(scv::missing_weights_message("resnet50", "V2").find("--weights V2"), std::string::npos);
}

TEST(FetchHash, PrefixFromName) {
  EXPECT_EQ(scv::hash_prefix_from_name("resnet50-0676ba61.pth").value(), "0676ba61");
  EXPECT_EQ(scv::hash_prefix_from_name("wide_resnet50_2-9ba9bcbe.pth").value(), "9ba9bcbe");
  EXPECT_EQ(scv::hash_prefix_from_name("/dir/x-y-ABCDEF012.bin").value(), "abcdef012");
  EXPECT_FALSE(scv::hash_prefix_from_name("resnet50.pth").ok());
  EXPECT_FALSE(scv::hash_prefix_from_name("resnet50-0676ba6.pth").ok());  // 7 digits: too short
  EXPECT_FALSE(scv::hash_prefix_from_name("resnet50-0676ba6g.pth").ok());
}

TEST(FetchHash, VerifyFile) {
  const std::string dir = ::testing::TempDir();
  const std::string body = "scratchcv weights";
  const std::string hash = scv::sha256_hex(body.data(), body.size());
  const std::string path = dir + "/scv_verify.bin";
  std::ofstream(path, std::ios::binary) << body;
  EXPECT_TRUE(scv::verify_file_hash(path, "m-" + hash.substr(0, 8) + ".pth").ok());
  EXPECT_TRUE(scv::verify_file_hash(path, "m-" + hash + ".pth").ok());
  std::string wrong = hash.substr(0, 8);
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  scv::Status st = scv::verify_file_hash(path, "m-" + wrong + ".pth");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("checksum mismatch"), std::string::npos);
  EXPECT_NE(st.message().find(hash), std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
