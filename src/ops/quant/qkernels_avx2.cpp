// AVX2 quantized kernels (filled in below).
#include "ops/quant/qkernels.h"
#include "scratchcv/cpu.h"

namespace scv::quant {
const QKernels* qkernels_avx2() {
  return nullptr;
}
}  // namespace scv::quant
