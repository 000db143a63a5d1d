# `scratchcv fetch` end to end against a local HTTP server (tests/py/fetch_server.py).
scv_script_test(fetch_cli fetch_cli.py 300)
