# TFLite models and the quantized engine (script tests; the C++ ones are tests/test_tflite.cpp).
# Arm NN (python3-pyarmnn, CpuRef) on the shipped models: stored outputs for 6 photos, plus one
# live Arm NN run per model. The int8 per-channel model lives outside the repository
# (../shared/models, SCV_TFLITE_MODELS_DIR); it is skipped where absent.
set(SCV_TFLITE_MODELS_DIR "${PROJECT_SOURCE_DIR}/../shared/models" CACHE PATH
    "directory with tf2_mobilenet_v2_1.0_224_ptq.tflite (optional)")
add_test(NAME tflite.armnn
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/tflite_armnn.py $<TARGET_FILE:scratchcv>
                 ${SCV_TFLITE_MODELS_DIR} ${PROJECT_SOURCE_DIR}/data/models)
set_tests_properties(tflite.armnn PROPERTIES TIMEOUT 600)
# Every operator of the bundled model against float64 numpy on scratchcv's own inputs.
add_test(NAME tflite.float_oracle
         COMMAND ${CMAKE_COMMAND} -E env ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/tflite_float_oracle.py
                 --run $<TARGET_FILE:scratchcv> ${PROJECT_SOURCE_DIR}/data/models/mobilenet_v2_1.0_224_quant.tflite
                 ${PROJECT_SOURCE_DIR}/data/sample.jpg)
set_tests_properties(tflite.float_oracle PROPERTIES TIMEOUT 300)
# scripts/quickstart.sh offline: exit 0 and a real top-5 for the sample photo.
add_test(NAME quickstart.offline
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/quickstart_offline.py $<TARGET_FILE:scratchcv>)
set_tests_properties(quickstart.offline PROPERTIES TIMEOUT 300)
