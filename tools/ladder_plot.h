// `bench --ladder --plot OUT.png`: the optimisation ladder as a bar chart with speed-ups.
#pragma once

#include <string>
#include <vector>

#include "scratchcv/status.h"

namespace scv::cli {

struct LadderStep {
  std::string name;
  double ms = 0;  // time of one run (the ladder's min)
};
// One bar per step, its length proportional to speed (1 / ms), labelled with the time, the
// speed-up over the step before and over the first step. Written atomically.
Status write_ladder_plot(const std::string& path, const std::string& title,
                         const std::vector<LadderStep>& steps);

}  // namespace scv::cli
