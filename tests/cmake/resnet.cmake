# Whole-model golden tests against PyTorch (Debian python3-torch / python3-torchvision): the
# reference executor and the prepared fast session on every ISA this CPU has, 1 and 2 threads.
set(SCV_GOLDEN ${CMAKE_CURRENT_SOURCE_DIR}/py/resnet_golden.py)
add_test(NAME golden.resnet50_pth_onnx
         COMMAND ${SCV_PYTHON} ${SCV_GOLDEN} $<TARGET_FILE:scratchcv> resnet50:onnx
                 --runs reference,avx512:2,avx2:1,ref:2)
add_test(NAME golden.resnet50_onnx_opset11
         COMMAND ${SCV_PYTHON} ${SCV_GOLDEN} $<TARGET_FILE:scratchcv> resnet50:onnx --opset 11
                 --runs best:2)
add_test(NAME golden.resnet18_pth_batch2
         COMMAND ${SCV_PYTHON} ${SCV_GOLDEN} $<TARGET_FILE:scratchcv> resnet18 --batch 2
                 --runs reference,avx512:1,avx2:2)
add_test(NAME golden.resnext50_32x4d_pth
         COMMAND ${SCV_PYTHON} ${SCV_GOLDEN} $<TARGET_FILE:scratchcv> resnext50_32x4d
                 --runs reference,best:2)
set_tests_properties(golden.resnet50_pth_onnx golden.resnet50_onnx_opset11
                     golden.resnet18_pth_batch2 golden.resnext50_32x4d_pth PROPERTIES TIMEOUT 900)
