# Session / bench CLI script tests (owner: fast runtime).
add_test(NAME fast_bench_cli COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/fast_bench_cli.py
         $<TARGET_FILE:scratchcv>)
set_tests_properties(fast_bench_cli PROPERTIES TIMEOUT 900)
