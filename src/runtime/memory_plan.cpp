#include "runtime/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace scv {

int64_t plan_memory(std::vector<PlannedBuffer>* bufs) {
  auto& b = *bufs;
  auto padded = [](int64_t f) { return (f + 16 + 15) / 16 * 16; };
  std::vector<int> order(b.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int x, int y) { return padded(b[x].floats) > padded(b[y].floats); });
  std::vector<int> placed;
  int64_t total = 0;
  for (int i : order) {
    // Ranges of placed buffers alive at the same time, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (int j : placed)
      if (b[j].first <= b[i].last && b[i].first <= b[j].last)
        busy.push_back({b[j].offset, b[j].offset + padded(b[j].floats)});
    std::sort(busy.begin(), busy.end());
    int64_t off = 0;
    const int64_t need = padded(b[i].floats);
    for (const auto& r : busy) {
      if (off + need <= r.first) break;
      off = std::max(off, r.second);
    }
    b[i].offset = off;
    total = std::max(total, off + need);
    placed.push_back(i);
  }
  return total;
}

}  // namespace scv
