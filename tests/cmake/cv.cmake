# Classic CV area: OpenCV golden comparison (real photos, synthetic edge cases, all 2^24 colours)
# and the CLI's failure paths (one stderr line, non-zero exit, no output left behind).
scv_script_test(cv_opencv_golden cv_golden.py 600)
scv_script_test(cv_cli_errors cv_cli_errors.py 120)
