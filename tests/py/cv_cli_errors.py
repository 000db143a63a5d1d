#!/usr/bin/python3
"""Failure paths of the classic CV subcommands.

Each bad invocation must exit non-zero, print exactly one line on stderr, and leave no output
file (nor a temp file) behind. A good invocation is run too, so the harness itself is checked.

usage: cv_cli_errors.py SCRATCHCV_BINARY
"""
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

CLI = sys.argv[1]


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "good.png")
        img = np.random.default_rng(1).integers(0, 256, (9, 11, 3), dtype=np.uint8)
        assert cv2.imwrite(good, img)
        corrupt = os.path.join(tmp, "corrupt.png")
        with open(good, "rb") as f:
            data = f.read()
        with open(corrupt, "wb") as f:
            f.write(data[: len(data) // 2])  # truncated PNG
        garbage = os.path.join(tmp, "garbage.jpg")
        with open(garbage, "wb") as f:
            f.write(b"\xff\xd8\xff\xe0 not really a jpeg" * 3)
        empty = os.path.join(tmp, "empty.png")
        open(empty, "wb").close()
        out = os.path.join(tmp, "out.png")
        missing = os.path.join(tmp, "missing.png")
        cases = [
            ("missing file", ["gray", missing, out]),
            ("corrupt png", ["blur", corrupt, out, "--ksize", "3"]),
            ("garbage jpeg", ["canny", garbage, out, "--low", "1", "--high", "2"]),
            ("empty file", ["otsu", empty, out]),
            ("ksize even", ["blur", good, out, "--ksize", "4"]),
            ("ksize 0", ["gaussian", good, out, "--ksize", "0"]),
            ("ksize negative", ["blur", good, out, "--ksize", "-3"]),
            ("ksize missing", ["gaussian", good, out]),
            ("ksize not a number", ["blur", good, out, "--ksize", "abc"]),
            ("sigma negative", ["gaussian", good, out, "--ksize", "3", "--sigma", "-1"]),
            ("low > high", ["canny", good, out, "--low", "200", "--high", "100"]),
            ("thresholds missing", ["canny", good, out]),
            ("aperture 4", ["canny", good, out, "--low", "1", "--high", "2", "--aperture", "4"]),
            ("overwrite input", ["gray", good, good]),
            ("overwrite input via --compare", ["gray", good, out, "--compare", good]),
            ("one positional", ["otsu", good]),
            ("unknown option", ["yuv", good, out, "--bogus"]),
            ("inverse of gray", ["yuv", os.path.join(tmp, "g1.png"), out, "--inverse"]),
            ("inverse planes missing", ["yuv", os.path.join(tmp, "nope.png"), out, "--inverse",
                                        "--planes"]),
            ("bad --isa", ["gray", good, out, "--isa", "sse9"]),
            ("bad --threads", ["gray", good, out, "--threads", "-2"]),
            ("unwritable output", ["gray", good, os.path.join(tmp, "no_dir", "out.png")]),
        ]
        assert cv2.imwrite(os.path.join(tmp, "g1.png"), img[:, :, 0])
        for name, args in cases:
            before = set(os.listdir(tmp))
            r = subprocess.run([CLI, *args], capture_output=True, text=True)
            after = set(os.listdir(tmp))
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            problems = []
            if r.returncode == 0:
                problems.append("exit 0")
            if len(lines) != 1:
                problems.append(f"{len(lines)} stderr lines")
            if after - before:
                problems.append(f"left behind {sorted(after - before)}")
            if r.returncode < 0:
                problems.append(f"killed by signal {-r.returncode}")
            status = "FAIL" if problems else "ok  "
            print(f"{status} {name:<32} exit {r.returncode}: {lines[0] if lines else ''}"
                  + (f"  [{'; '.join(problems)}]" if problems else ""))
            failures += bool(problems)
        # The harness sees success too: every command on a good image, compare included.
        for args in (["gray", good, out], ["yuv", good, out, "--planes"],
                     ["blur", good, out, "--ksize", "3", "--compare", os.path.join(tmp, "c.png")],
                     ["gaussian", good, out, "--ksize", "5"],
                     ["canny", good, out, "--low", "10", "--high", "30"], ["otsu", good, out]):
            r = subprocess.run([CLI, *args], capture_output=True, text=True)
            ok = r.returncode == 0 and r.stderr.strip() == ""
            print(f"{'ok  ' if ok else 'FAIL'} good: {' '.join(args[:1] + args[3:])}")
            failures += not ok
        c = cv2.imread(os.path.join(tmp, "c.png"), cv2.IMREAD_UNCHANGED)
        if c is None or c.shape[:2] != (9, 22):
            print(f"FAIL --compare image shape {None if c is None else c.shape}")
            failures += 1
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
