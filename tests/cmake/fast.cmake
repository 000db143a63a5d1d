# Session / bench CLI script tests (owner: fast runtime).
scv_script_test(fast_bench_cli fast_bench_cli.py 900)
