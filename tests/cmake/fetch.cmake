# `scratchcv fetch` end to end against a local HTTP server (tests/py/fetch_server.py).
add_test(NAME fetch_cli
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/fetch_cli.py $<TARGET_FILE:scratchcv>)
set_tests_properties(fetch_cli PROPERTIES TIMEOUT 300)
