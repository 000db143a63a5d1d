# Classic CV area: OpenCV golden comparison (real photos, synthetic edge cases, all 2^24 colours)
# and the CLI's failure paths (one stderr line, non-zero exit, no output left behind).
add_test(NAME cv_opencv_golden
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/cv_golden.py $<TARGET_FILE:scratchcv>)
set_tests_properties(cv_opencv_golden PROPERTIES TIMEOUT 600)
add_test(NAME cv_cli_errors
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/cv_cli_errors.py
                 $<TARGET_FILE:scratchcv>)
set_tests_properties(cv_cli_errors PROPERTIES TIMEOUT 120)
