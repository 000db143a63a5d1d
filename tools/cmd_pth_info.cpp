// scratchcv pth-info FILE [--stats]: list the tensors of a torch.save checkpoint, as our reader
// sees them (names after unwrapping 'state_dict'/'model' and stripping 'module.').
#include <algorithm>
#include <cstdio>

#include "cli.h"
#include "scratchcv/pth.h"

namespace {

int cmd_pth_info(const std::vector<std::string>& args) {
  scv::cli::ArgParser p("pth-info", "list the tensors in a PyTorch checkpoint (torch.save, .pth)",
                        "FILE");
  bool stats = false;
  p.flag("stats", &stats, "also print min, max and mean of each tensor");
  p.example("pth-info resnet50-0676ba61.pth --stats");
  std::vector<std::string> pos;
  if (!p.parse(args, &pos)) return p.exit_code();
  if (pos.size() != 1) return p.usage_error("expected one FILE, got " + std::to_string(pos.size()));
  auto sd = scv::load_pth(pos[0]);
  if (!sd.ok()) return p.fail(sd.status().message());
  int64_t total = 0;
  for (const auto& nt : *sd) {
    const scv::Tensor& t = nt.tensor;
    total += t.numel();
    std::printf("%s\t%s\t%lld", nt.name.c_str(), scv::shape_str(t.shape()).c_str(),
                static_cast<long long>(t.numel()));
    if (stats && t.numel() > 0) {
      const float* d = t.data();
      float lo = d[0], hi = d[0];
      double sum = 0;
      for (int64_t i = 0; i < t.numel(); ++i) {
        lo = std::min(lo, d[i]);
        hi = std::max(hi, d[i]);
        sum += d[i];
      }
      std::printf("\tmin %.6g\tmax %.6g\tmean %.6g", lo, hi, sum / static_cast<double>(t.numel()));
    }
    std::printf("\n");
  }
  std::printf("%zu tensors, %lld values\n", sd->size(), static_cast<long long>(total));
  return 0;
}

const scv::cli::Command reg("pth-info", "list the tensors in a PyTorch checkpoint (.pth)",
                            cmd_pth_info);

}  // namespace
