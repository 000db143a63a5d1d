// `scratchcv preprocess IMG OUT.bin`: a debugging aid that dumps the ImageNet input tensor.
//
// Runs decode -> Resize(shorter side) -> CenterCrop -> ToTensor -> Normalize exactly as the
// classifier does and writes the float32 CHW tensor (3 x crop x crop, little-endian, no header)
// so that it can be compared with torchvision's transform (tests/py/image_preprocess_golden.py).
#include <string>
#include <vector>

#include "cli.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"

namespace {

int cmd_preprocess(const std::vector<std::string>& args) {
  int resize = 256, crop = 224;
  scv::cli::ArgParser p("preprocess",
                        "Debugging aid: write the normalised ImageNet input tensor of an image "
                        "as raw float32 (3 x crop x crop, CHW).",
                        "IMG OUT.bin");
  p.option("resize", &resize, "N", "shorter side after resizing (default 256)")
      .range(1, 4096)
      .option("crop", &crop, "N", "centre crop size (default 224)")
      .range(1, 4096)
      .epilog(
          "Steps (as torchvision): Resize(N) bilinear with PIL's antialias, CenterCrop, "
          "ToTensor,\nNormalize(mean 0.485 0.456 0.406, std 0.229 0.224 0.225).");
  std::vector<std::string> pos;
  if (!p.parse(args, &pos)) return p.exit_code();
  if (pos.size() != 2) {
    p.fail("expected IMG and OUT.bin, got " + std::to_string(pos.size()) + " arguments");
    return 2;
  }
  if (scv::Status st = scv::check_output(pos[1]); !st.ok()) return p.fail(st.message());
  auto img = scv::load_image(pos[0], scv::ColorMode::rgb);
  if (!img.ok()) return p.fail(img.status().message());
  auto t = scv::imagenet_preprocess(*img, resize, crop);
  if (!t.ok()) return p.fail(pos[0] + ": " + t.status().message());
  scv::Status st = scv::write_file_atomic(pos[1], t->data(), size_t(t->numel()) * sizeof(float));
  if (!st.ok()) return p.fail(st.message());
  return 0;
}

const scv::cli::Command reg("preprocess",
                            "debugging aid: dump the ImageNet input tensor (float32 CHW)",
                            cmd_preprocess);

}  // namespace
