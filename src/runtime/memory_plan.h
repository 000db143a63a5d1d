// Memory planner: places buffers with known lifetimes into one arena.
//
// Each buffer lives from the step that first touches it to the last one. Buffers whose lifetimes
// overlap get disjoint byte ranges; the others may share. Greedy: largest first, each at the
// lowest 64-byte-aligned offset that does not collide with an overlapping, already-placed buffer.
#pragma once

#include <cstdint>
#include <vector>

namespace scv {

struct PlannedBuffer {
  int64_t floats = 0;  // size (the planner adds 16 floats of slack for SIMD over-read)
  int first = 0, last = 0;
  int64_t offset = 0;  // in floats, multiple of 16; set by plan_memory
};

// Returns the arena size in floats.
int64_t plan_memory(std::vector<PlannedBuffer>* bufs);

}  // namespace scv
