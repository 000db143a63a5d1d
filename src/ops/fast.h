// The fast kernels an op plan binds, once, at prepare time: the ISA's kernel table for the
// session's options (nullptr: scalar reference steps). The x86 table is the only backend
// today; a port adds its table here and its kernels beside src/ops/x86/.
#pragma once

#include "ops/x86/kernels.h"
#include "runtime/plan.h"

namespace scv {

using FastKernels = x86::Kernels;

// The SIMD kernels for the planner's options, or nullptr (ladder: simd off, or --isa ref).
const FastKernels* fast_kernels(const SessionOptions& opt);
// The blocked layout and its direct kernels are on (SIMD kernels bound and opt.blocked).
inline bool blocked_on(const Planner& p) {
  return p.block() > 0 && p.options().blocked;
}

}  // namespace scv
