# The Python module (python/): its pytest suites against the CLI, on the module staged in the
# build tree (two tests so that ctest -j runs them side by side); and `pip install
# --no-build-isolation` offline into a throw-away venv.
if(TARGET _scratchcv)
  set(SCV_PY_ENV "PYTHONPATH=${SCV_PY_DIR};SCV_CLI=$<TARGET_FILE:scratchcv>;OMP_NUM_THREADS=1")
  add_test(NAME python.pytest
           COMMAND ${SCV_PYTHON} -m pytest -q -p no:cacheprovider
                   ${PROJECT_SOURCE_DIR}/python/tests --ignore=${PROJECT_SOURCE_DIR}/python/tests/test_cluster.py)
  # Dask LocalCluster, 2 worker processes, 310 photos: ~60 s on an idle 2-core machine.
  add_test(NAME python.cluster
           COMMAND ${SCV_PYTHON} -m pytest -q -p no:cacheprovider
                   ${PROJECT_SOURCE_DIR}/python/tests/test_cluster.py)
  add_test(NAME python.pip_install
           COMMAND ${SCV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/py/python_pip_install.py
                   ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  set_tests_properties(python.pytest python.cluster python.pip_install PROPERTIES
                       TIMEOUT 600 ENVIRONMENT "${SCV_PY_ENV}")
endif()
