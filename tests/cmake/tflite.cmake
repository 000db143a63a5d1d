# TFLite models and the quantized engine (script tests; the C++ ones are tests/test_tflite.cpp).
# Arm NN (python3-pyarmnn, CpuRef) on the shipped models: stored outputs for 6 photos, plus one
# live Arm NN run per model. The int8 per-channel model lives outside the repository
# (../shared/models, SCV_TFLITE_MODELS_DIR); it is skipped where absent.
set(SCV_TFLITE_MODELS_DIR "${PROJECT_SOURCE_DIR}/../shared/models" CACHE PATH
    "directory with tf2_mobilenet_v2_1.0_224_ptq.tflite (optional)")
scv_script_test(tflite.armnn tflite_armnn.py 600 ${SCV_TFLITE_MODELS_DIR}
                ${PROJECT_SOURCE_DIR}/data/models)
# Every operator of the bundled model against float64 numpy on scratchcv's own inputs.
add_test(NAME tflite.float_oracle
         COMMAND ${CMAKE_COMMAND} -E env ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/tflite_float_oracle.py
                 --run $<TARGET_FILE:scratchcv> ${PROJECT_SOURCE_DIR}/data/models/mobilenet_v2_1.0_224_quant.tflite
                 ${PROJECT_SOURCE_DIR}/data/sample.jpg)
set_tests_properties(tflite.float_oracle PROPERTIES TIMEOUT 300)
# scripts/quickstart.sh offline: exit 0 and a real top-5 for the sample photo.
scv_script_test(quickstart.offline quickstart_offline.py 300)
