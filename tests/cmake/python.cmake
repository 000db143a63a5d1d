# The Python module (python/): its pytest suite against the CLI, on the module staged in the
# build tree; and `pip install --no-build-isolation` offline into a throw-away venv.
if(TARGET _scratchcv)
  add_test(NAME python.pytest
           COMMAND ${SCV_PYTHON} -m pytest -q -p no:cacheprovider ${PROJECT_SOURCE_DIR}/python/tests)
  set_tests_properties(python.pytest PROPERTIES TIMEOUT 600 ENVIRONMENT
                       "PYTHONPATH=${SCV_PY_DIR};SCV_CLI=$<TARGET_FILE:scratchcv>;OMP_NUM_THREADS=1")
endif()
