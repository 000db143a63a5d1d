# explain: gradients, Grad-CAM, CAM and saliency vs PyTorch hooks + autograd on seeded random
# resnet18 and resnet50 and on the bundled TFLite MobileNetV2 (its float graph vs a PyTorch network
# built from its dequantized operators; Debian python3-torch), and the HTML report in headless
# Chromium.
add_test(NAME golden.explain_grads
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/explain_torch.py
                 $<TARGET_FILE:scratchcv> resnet18:layer2 resnet50:layer3 tflite)
set_tests_properties(golden.explain_grads PROPERTIES TIMEOUT 900)
add_test(NAME cli.explain_html
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/explain_html.py
                 $<TARGET_FILE:scratchcv>)
set_tests_properties(cli.explain_html PROPERTIES TIMEOUT 600)
# Training you can watch: mnist train --log/--plot, mnist test --confusion/--errors.
add_test(NAME cli.train_plots
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/train_plots_cli.py
                 $<TARGET_FILE:scratchcv>)
set_tests_properties(cli.train_plots PROPERTIES TIMEOUT 600)
# The book's figures: plot activations vs PyTorch's functions and autograd, bench --ladder --plot.
add_test(NAME cli.plots
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/plot_cli.py $<TARGET_FILE:scratchcv>)
set_tests_properties(cli.plots PROPERTIES TIMEOUT 600)
# classify --annotate: photos with their top-3 labels drawn on them.
add_test(NAME cli.classify_annotate
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/annotate_cli.py $<TARGET_FILE:scratchcv>)
set_tests_properties(cli.classify_annotate PROPERTIES TIMEOUT 600)
