// Small helpers of the command-line tools: the progress bar and JSON string escaping.
#pragma once

#include <cstdio>
#include <string>

#include "core/progress.h"

namespace scv::cli {

using scv::ProgressBar;  // the one progress style (src/core/progress.h)

// JSON string literal with escapes.
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace scv::cli
