# Training: one step of the default model (and the MLP) against PyTorch on identical weights.
add_test(NAME train_torch_step
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/train_torch_step.py
                 $<TARGET_FILE:scratchcv> ${CMAKE_CURRENT_BINARY_DIR}/train_torch_step)
set_tests_properties(train_torch_step PROPERTIES TIMEOUT 300)
