// `classify --annotate DIR`: each photo written again with its top labels drawn on it.
#pragma once

#include <string>
#include <vector>

#include "scratchcv/image.h"
#include "scratchcv/status.h"

namespace scv::cli {

// Writes DIR/<file's stem>.png: the photo (shrunk to at most 1024 pixels on its longer side)
// with one label per line in the top-left corner, white on black. Atomic.
Status annotate_photo(const std::string& dir, const std::string& file, const Image& photo,
                      const std::vector<std::string>& lines);

}  // namespace scv::cli
