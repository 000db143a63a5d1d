# int8 through ONNX QDQ models: ONNX Runtime (npm onnxruntime-node, bench/peers) runs the file
# `scratchcv quantize` writes and agrees with scratchcv within one quantization step. Skipped
# (exit 77) where onnxruntime-node is not installed.
scv_script_test(int8.ort_qdq int8_ort.py 600)
set_tests_properties(int8.ort_qdq PROPERTIES SKIP_RETURN_CODE 77)
