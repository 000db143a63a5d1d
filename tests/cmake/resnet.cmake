# Whole-model golden tests against PyTorch (Debian python3-torch / python3-torchvision).
set(SCV_GOLDEN ${CMAKE_CURRENT_SOURCE_DIR}/py/resnet_golden.py)
add_test(NAME golden.resnet50_pth_onnx_reference
         COMMAND ${SCV_PYTHON} ${SCV_GOLDEN} $<TARGET_FILE:scratchcv> resnet50:onnx --reference)
add_test(NAME golden.resnet18_pth_batch2_reference
         COMMAND ${SCV_PYTHON} ${SCV_GOLDEN} $<TARGET_FILE:scratchcv> resnet18 --reference --batch 2)
add_test(NAME golden.resnext50_32x4d_pth_reference
         COMMAND ${SCV_PYTHON} ${SCV_GOLDEN} $<TARGET_FILE:scratchcv> resnext50_32x4d --reference)
set_tests_properties(golden.resnet50_pth_onnx_reference golden.resnet18_pth_batch2_reference
                     golden.resnext50_32x4d_pth_reference PROPERTIES TIMEOUT 900)
