# The CLI end to end, as a user runs it (needs Debian python3-torch for a random checkpoint).
add_test(NAME cli.classify COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/cli_classify.py
                                   $<TARGET_FILE:scratchcv>)
set_tests_properties(cli.classify PROPERTIES TIMEOUT 900)
# One command-line convention (exit codes, options named in every usage error), every command.
add_test(NAME cli.conventions
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/cli_conventions.py
                 $<TARGET_FILE:scratchcv>)
set_tests_properties(cli.conventions PROPERTIES TIMEOUT 300)
# Output targets (file, symlink, FIFO, '-', unwritable dir, links to an input) for every command
# that writes, and interrupted writes (SIGKILL/SIGINT/SIGTERM) never leaving a partial file.
add_test(NAME cli.safe_outputs
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/safe_outputs.py
                 $<TARGET_FILE:scratchcv>)
set_tests_properties(cli.safe_outputs PROPERTIES TIMEOUT 300)
