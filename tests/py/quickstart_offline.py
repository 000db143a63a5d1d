#!/usr/bin/env python3
"""scripts/quickstart.sh on a machine without network: exits 0, prints the bundled model's
top-5 for the sample photo (a cat) and the hint for ResNet50.

`fetch` is pointed at a closed local port (SCV_MODEL_BASE_URL) with an empty cache, so the
download fails at once, as it does offline.
Usage: quickstart_offline.py SCRATCHCV_BINARY
"""
import os
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    cli = os.path.abspath(sys.argv[1])
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SCV_CLI=cli, SCV_CACHE_DIR=cache,
                   SCV_MODEL_BASE_URL="http://127.0.0.1:%d/models/" % port)
        env.pop("XDG_CACHE_HOME", None)
        r = subprocess.run([os.path.join(ROOT, "scripts", "quickstart.sh"), "--no-build"],
                           env=env, capture_output=True, text=True, timeout=300)
    out = r.stdout
    print(out)
    print(r.stderr, file=sys.stderr)
    fails = []
    if r.returncode != 0:
        fails.append("exit status %d" % r.returncode)
    lines = [l for l in out.splitlines() if l.strip().startswith(("1.", "2.", "3.", "4.", "5."))]
    if len(lines) != 5:
        fails.append("expected a top-5 (5 ranked lines), found %d" % len(lines))
    if not lines or "cat" not in lines[0]:
        fails.append("top-1 of the sample photo is not a cat: %r" % (lines[:1],))
    if "scratchcv fetch resnet50" not in out:
        fails.append("no hint on how to get ResNet50")
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
