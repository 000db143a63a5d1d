// `scratchcv fetch`: download torchvision's pretrained ResNet-family weights into the cache,
// verified against the SHA-256 prefix in their names. Prints each final path on stdout.
#include <cstdio>
#include <iostream>

#include "cli.h"
#include "scratchcv/fetch.h"
#include "scratchcv/file_util.h"

namespace {

int cmd_fetch(const std::vector<std::string>& args) {
  std::string weights, cache, base_url, file;
  bool list = false, quiet = false;
  int timeout = 30;
  scv::cli::ArgParser p("fetch", "Download pretrained torchvision weights into the cache.",
                        "ARCH...");
  p.option("weights", &weights, "V1|V2|DEFAULT",
           "which weights (default V1, what torchvision's pretrained=True loads)")
      .option("cache", &cache, "DIR", "cache directory (default: " + scv::default_cache_dir() + ")")
      .option("base-url", &base_url, "URL",
              "download from here (default: " + scv::default_base_url() + ")")
      .option("file", &file, "NAME",
              "fetch this file name instead of an ARCH (NAME-<sha256 prefix>.EXT; for mirrors)")
      .option("timeout", &timeout, "SECONDS",
              "give up when under 1 KB/s arrives for this long (default 30)")
      .range(1, 86400)
      .flag("list", &list, "list the known weights files and whether they are cached")
      .flag("quiet", &quiet, "no progress output")
      .epilog(
          "The file is checked against the SHA-256 prefix in its name, downloaded to NAME.part\n"
          "(resumed when interrupted) and renamed only once verified.\n"
          "Environment: SCV_CACHE_DIR, XDG_CACHE_HOME (cache), SCV_MODEL_BASE_URL (base URL).")
      .example("fetch resnet50")
      .example("fetch resnet50 --weights V2")
      .example("fetch --list");
  std::vector<std::string> archs;
  if (!p.parse(args, &archs)) return p.exit_code();
  const std::string dir = cache.empty() ? scv::default_cache_dir() : cache;

  if (list) {
    if (!archs.empty() || !file.empty()) return p.usage_error("--list takes no ARCH or --file");
    std::printf("# cache: %s\n# base url: %s\n", dir.c_str(),
                (base_url.empty() ? scv::default_base_url() : base_url).c_str());
    std::printf("# default: what `fetch ARCH` and `classify` use without --weights\n");
    std::printf("%-18s %-8s %-8s %-11s %-6s %-31s %s\n", "arch", "weights", "default",
                "resize/crop", "acc@1", "file", "cached");
    for (const scv::ModelFile& f : scv::model_files()) {
      std::string rc = std::to_string(f.resize_size) + "/" + std::to_string(f.crop_size);
      std::string path = scv::cached_model_path(f.arch, f.weights, dir);
      auto chosen = scv::find_model_file(f.arch, "");
      const bool is_default = chosen.ok() && chosen->file_name == f.file_name;
      std::printf("%-18s %-8s %-8s %-11s %-6.2f %-31s %s\n", f.arch.c_str(),
                  f.weights.substr(f.weights.size() - 2).c_str(), is_default ? "yes" : "",
                  rc.c_str(), f.top1, f.file_name.c_str(),
                  scv::file_exists(path) ? path.c_str() : "-");
    }
    return 0;
  }

  std::vector<std::string> names;
  if (!file.empty()) {
    if (!archs.empty()) return p.usage_error("give either ARCH or --file, not both");
    if (!weights.empty()) return p.usage_error("--weights applies to ARCH, not to --file");
    names.push_back(file);
  } else {
    if (archs.empty()) return p.usage_error("which model? give an ARCH like resnet50 (see --list)");
    for (const std::string& a : archs) {
      scv::Result<scv::ModelFile> f = scv::find_model_file(a, weights);
      if (!f.ok()) return p.fail(f.status().message());
      names.push_back(f->file_name);
    }
  }

  scv::FetchOptions opts;
  opts.cache_dir = dir;
  opts.base_url = base_url;
  opts.progress = quiet ? scv::Progress::none : scv::Progress::automatic;
  opts.low_speed_time_s = timeout;
  int rc = 0;
  for (const std::string& n : names) {
    scv::Result<std::string> path = scv::fetch_file(n, opts);
    if (!path.ok()) {
      rc = p.fail(path.status().message());
      continue;
    }
    std::cout << path.value() << std::endl;
  }
  return rc;
}

scv::cli::Command reg("fetch", "download pretrained ResNet weights (verified, resumable)",
                      cmd_fetch);

}  // namespace
