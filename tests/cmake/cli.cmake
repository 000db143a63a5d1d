# The CLI end to end, as a user runs it (needs Debian python3-torch for a random checkpoint).
scv_script_test(cli.classify cli_classify.py 900)
# One command-line convention (exit codes, options named in every usage error), every command.
scv_script_test(cli.conventions cli_conventions.py 300)
# Output targets (file, symlink, FIFO, '-', unwritable dir, links to an input) for every command
# that writes, and interrupted writes (SIGKILL/SIGINT/SIGTERM) never leaving a partial file.
scv_script_test(cli.safe_outputs safe_outputs.py 300)
