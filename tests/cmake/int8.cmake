# int8 through ONNX QDQ models: ONNX Runtime (npm onnxruntime-node, bench/peers) runs the file
# `scratchcv quantize` writes and agrees with scratchcv within one quantization step. Skipped
# (exit 77) where onnxruntime-node is not installed.
add_test(NAME int8.ort_qdq COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/int8_ort.py
                                   $<TARGET_FILE:scratchcv>)
set_tests_properties(int8.ort_qdq PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
