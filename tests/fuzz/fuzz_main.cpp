// libFuzzer entry point for one target, chosen at compile time with -DSCV_FUZZ_TARGET=<name>
// (see scripts/fuzz.sh, which builds one binary per target with clang -fsanitize=fuzzer).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return scv_fuzz::SCV_FUZZ_TARGET(data, size);
}
