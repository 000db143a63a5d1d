#!/usr/bin/env python3
"""Smoke test of `scratchcv bench`: the ladder runs on a small input, every step is checked
against the reference by the tool itself (non-zero exit otherwise), and --json carries the
documented keys. Timings are not asserted (tests never time anything); bad arguments give a
one-line error and a non-zero exit."""
import json
import os
import subprocess
import sys
import tempfile

cli = sys.argv[1]
with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "bench.json")
    r = subprocess.run([cli, "bench", "--ladder", "--size", "64", "--iters", "1", "--warmup", "0",
                        "--threads", "2", "--per-layer", "--json", out],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "reference loops" in r.stdout and "+threads" in r.stdout, r.stdout
    j = json.load(open(out))
    for k in ["median_ms", "min_ms", "imgs_per_s", "gflops", "peak_pct", "peak_gflops_per_core",
              "batch", "threads", "isa", "layers"]:
        assert k in j, k
    assert j["batch"] == 1 and j["threads"] == 2
    if j["isa"] != "ref":
        assert len(j["ladder"]) == 8, j["ladder"]
        for step in j["ladder"]:
            assert step["max_abs_diff"] <= 1e-2, step
    assert len(j["layers"]) > 50

# A bare --json prints the JSON as the last stdout line (what bench/compare.sh parses).
r = subprocess.run([cli, "bench", "--size", "32", "--iters", "1", "--warmup", "0", "--json"],
                   capture_output=True, text=True, timeout=600)
assert r.returncode == 0, r.stderr
last = [l for l in r.stdout.splitlines() if l.strip().startswith("{")][-1]
assert "median_ms" in json.loads(last)

# int8: the engine's steps profiled one by one; the ladder is fp32 only (a usage error).
r = subprocess.run([cli, "bench", "--precision", "int8", "--size", "64", "--iters", "1",
                    "--warmup", "0", "--per-layer"], capture_output=True, text=True, timeout=600)
assert r.returncode == 0, r.stderr
assert "int8 engine steps" in r.stdout and "(CONV_2D)" in r.stdout, r.stdout
r = subprocess.run([cli, "bench", "--precision", "int8", "--ladder"], capture_output=True,
                   text=True, timeout=120)
assert r.returncode == 2 and "--ladder" in r.stderr, (r.returncode, r.stderr)

for bad in (["--isa", "sse9"], ["--batch", "0"], ["--model", "/nonexistent.onnx"]):
    r = subprocess.run([cli, "bench"] + bad, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0, bad
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("scratchcv bench:"), r.stderr
print("ok")
