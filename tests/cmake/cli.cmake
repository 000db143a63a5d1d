# The CLI end to end, as a user runs it (needs Debian python3-torch for a random checkpoint).
add_test(NAME cli.classify COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/cli_classify.py
                                   $<TARGET_FILE:scratchcv>)
set_tests_properties(cli.classify PROPERTIES TIMEOUT 900)
