# The CLI end to end, as a user runs it (needs Debian python3-torch for a random checkpoint).
add_test(NAME cli.classify COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/cli_classify.py
                                   $<TARGET_FILE:scratchcv>)
set_tests_properties(cli.classify PROPERTIES TIMEOUT 900)
# One command-line convention (exit codes, options named in every usage error), every command.
add_test(NAME cli.conventions
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/cli_conventions.py
                 $<TARGET_FILE:scratchcv>)
set_tests_properties(cli.conventions PROPERTIES TIMEOUT 300)
