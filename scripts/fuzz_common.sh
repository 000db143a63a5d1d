# Sourced by scripts/fuzz.sh and scripts/fuzz_coverage.sh (after their own options): the fuzz
# targets (those of tests/fuzz/fuzz_targets.h), the ones asked for on the command line in
# `targets` (default: all), and the compiler launcher (ccache when installed) in `launcher`.
all=(zip pickle pth pth_structured onnx image idx checkpoint load_model tflite)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
