// Pretrained weights: the table of torchvision's ResNet-family files, where they are cached, and
// a verified, resumable downloader (libcurl).
//
// File names follow torchvision: "<arch>-<hex>.pth" where <hex> is a prefix of the file's
// SHA-256. A file is only ever visible under its final name after its hash was checked; the
// download goes to "<final>.part" first and is renamed atomically.
//
// Cache directory (default_cache_dir): $SCV_CACHE_DIR, else $XDG_CACHE_HOME/scratchcv, else
// $HOME/.cache/scratchcv. Base URL (default_base_url): $SCV_MODEL_BASE_URL, else
// https://download.pytorch.org/models/ .
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scratchcv/status.h"

namespace scv {

// One official torchvision weights file.
struct ModelFile {
  std::string arch;         // "resnet50"
  std::string weights;      // "IMAGENET1K_V1" or "IMAGENET1K_V2"
  std::string file_name;    // "resnet50-0676ba61.pth"
  int resize_size = 256;    // evaluation transform: resize shorter side to this ...
  int crop_size = 224;      // ... then centre-crop this square
  double top1 = 0;          // ImageNet-1K acc@1 reported by torchvision
  bool is_default = false;  // torchvision's <Arch>_Weights.DEFAULT
};

// Every file in the table (ResNet 18/34/50/101/152, ResNeXt, Wide ResNet; V1 and V2).
const std::vector<ModelFile>& model_files();

// Looks up arch + weights. `weights` accepts "V1", "V2", "IMAGENET1K_V1", "IMAGENET1K_V2"
// (any case) and "DEFAULT" (torchvision's default for that arch); "" means "V1", the original
// weights that torchvision's `pretrained=True` loads. Errors list the valid choices.
Result<ModelFile> find_model_file(const std::string& arch, const std::string& weights = "");

std::string default_cache_dir();
std::string default_base_url();
// base_url + file_name, inserting a '/' when base_url lacks one. "" base = default_base_url().
std::string model_url(const std::string& file_name, const std::string& base_url = "");

// Where fetch puts arch+weights: default_cache_dir()/<file_name> (or under `cache_dir` when not
// empty). Returns "" for an unknown arch or weights. The file may not exist yet.
std::string cached_model_path(const std::string& arch, const std::string& weights = "",
                              const std::string& cache_dir = "");
// One line for a missing weights file, e.g.
//   missing weights: run `scratchcv fetch resnet50`, or download <URL> to <PATH>
std::string missing_weights_message(const std::string& arch, const std::string& weights = "");

// The SHA-256 prefix carried by a file name: the hex after the last '-' of the name without
// its extension ("resnet50-0676ba61.pth" -> "0676ba61"). Error when there is none (fewer than
// 8 hex digits), since such a file cannot be verified.
Result<std::string> hash_prefix_from_name(const std::string& file_name);
// Checks that the SHA-256 of `path` starts with the prefix in `file_name`. The error gives the
// expected prefix and the actual hash.
Status verify_file_hash(const std::string& path, const std::string& file_name);

// automatic: a bar redrawn in place if stderr is a terminal, else lines
enum class Progress { automatic, bar, lines, none };

struct FetchOptions {
  std::string cache_dir;  // "" = default_cache_dir()
  std::string base_url;   // "" = default_base_url()
  Progress progress = Progress::automatic;
  long connect_timeout_s = 30;
  // Abort when fewer than low_speed_bytes per second arrive for low_speed_time_s seconds.
  long low_speed_time_s = 30;
  long low_speed_bytes = 1024;
};

// Downloads `file_name` from base_url into the cache unless a verified copy is already there.
// Resumes "<final>.part" with an HTTP Range request (206 appends; 200 restarts from zero; 416
// means the part may already be complete). Returns the final path. On any failure: an error
// naming what happened and the URL, plus where to put a hand-downloaded copy; no file under the
// final name. A .part is kept only after an interrupted transfer (a prefix of the right file,
// for resuming) and deleted after a checksum mismatch.
Result<std::string> fetch_file(const std::string& file_name, const FetchOptions& opts = {});

}  // namespace scv
