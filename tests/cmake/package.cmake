# The installed package (acceptance of the C++ API): install into a temporary prefix, build
# examples/ with find_package(scratchcv) and with pkg-config, same top-5 as the CLI.
add_test(NAME package.install
         COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/package_install.py
                 ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR} $<TARGET_FILE:scratchcv>)
set_tests_properties(package.install PROPERTIES TIMEOUT 300)
