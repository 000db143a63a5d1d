# Image area: torchvision ImageNet pre-processing golden test (real photos, PIL as reference).
add_test(NAME image_preprocess_golden
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/image_preprocess_golden.py
                 $<TARGET_FILE:scratchcv>)
set_tests_properties(image_preprocess_golden PROPERTIES TIMEOUT 300)
# BMP/WebP/TIFF reading and writing by extension against OpenCV and PIL; tiny files claiming
# huge images refused from the header.
add_test(NAME image.formats
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/image_formats.py
                 $<TARGET_FILE:scratchcv>)
set_tests_properties(image.formats PROPERTIES TIMEOUT 120)
