# Training: one step of the default model (and the MLP) against PyTorch on identical weights.
scv_script_test(train_torch_step train_torch_step.py 300 ${CMAKE_CURRENT_BINARY_DIR}/train_torch_step)
