// The optimisation ladder as a picture (see ladder_plot.h).
#include "ladder_plot.h"

#include <cstdio>

#include "scratchcv/image.h"
#include "scratchcv/viz.h"

namespace scv::cli {

Status write_ladder_plot(const std::string& path, const std::string& title,
                         const std::vector<LadderStep>& steps) {
  if (steps.empty()) return error("the ladder has no steps to plot");
  std::vector<viz::Bar> bars;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!(steps[i].ms > 0)) return error("ladder step '", steps[i].name, "' has no time");
    char note[96];
    std::snprintf(note, sizeof note, "%.1f ms  x%.2f  (x%.1f vs first)", steps[i].ms,
                  i ? steps[i - 1].ms / steps[i].ms : 1.0, steps[0].ms / steps[i].ms);
    bars.push_back({steps[i].name, 1000.0 / steps[i].ms, note});
  }
  return save_png(path, viz::bar_chart(title, bars, 900));
}

}  // namespace scv::cli
