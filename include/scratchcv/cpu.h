// CPU feature detection (cpuid + xgetbv, once) and the ISA the kernels dispatch to.
#pragma once

#include <string>

namespace scv {

enum class Isa { ref = 0, avx2 = 1, avx512 = 2 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false, avx512vnni = false;
  bool avx512bf16 = false;
  std::string brand;
};

const CpuFeatures& cpu_features();
// Best ISA this CPU supports.
Isa best_isa();
bool isa_supported(Isa isa);
// The ISA kernels use: best_isa(), unless overridden by set_active_isa() or
// SCV_ISA=ref|avx2|avx512.
Isa active_isa();
void set_active_isa(Isa isa);
const char* isa_name(Isa isa);
// Parses "ref" / "avx2" / "avx512"; returns false on anything else.
bool parse_isa(const std::string& s, Isa* out);

// Measured FMA peak of one core with isa's kernels, GFLOP/s: the best of 60 ~1 ms probes, so
// that a busy machine (other processes taking time slices) still yields the core's real rate.
// 0 when the CPU lacks the ISA (or for Isa::ref).
double fma_peak_gflops(Isa isa);

}  // namespace scv
