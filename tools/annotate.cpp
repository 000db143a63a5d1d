// Photos with their labels drawn on them (see annotate.h).
#include "annotate.h"

#include <algorithm>
#include <filesystem>

#include "scratchcv/viz.h"

namespace scv::cli {

Status annotate_photo(const std::string& dir, const std::string& file, const Image& photo,
                      const std::vector<std::string>& lines) {
  Image im = photo.channels == 3 ? photo : convert_channels(photo, 3);
  const int longer = std::max(im.width, im.height);
  if (longer > 1024)
    im = resize_bilinear_antialias(im, std::max(1, int(int64_t(im.width) * 1024 / longer)),
                                   std::max(1, int(int64_t(im.height) * 1024 / longer)));
  const int scale = im.width >= 400 ? 2 : 1;
  for (size_t i = 0; i < lines.size(); ++i)
    viz::draw_label(im, 4 * scale, 4 * scale + int(i) * (viz::kTextHeight + 4) * scale, lines[i],
                    viz::kWhite, viz::kBlack, scale);
  const std::string stem = std::filesystem::path(file).stem().string();
  return save_png((std::filesystem::path(dir) / (stem + ".png")).string(), im);
}

}  // namespace scv::cli
