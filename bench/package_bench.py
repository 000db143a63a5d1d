#!/usr/bin/python3
"""Overheads of the ways to use scratchcv beyond the CLI, on this machine:

1. photos/s over one folder: the plain CLI (`classify DIR --jsonl`, 1 and 2 threads) vs the Dask
   command (`python3 -m scratchcv.cluster classify --scheduler local:N`, 1 and 2 worker
   processes of 1 thread). Whole-command wall time (start-up, model loading, and for Dask the
   cluster start included) and, for Dask, the rate its client reports once the cluster is up.
2. per-call time of the Python API vs the C++ API (classify of a decoded image, logits of one
   pre-processed image), same model, 1 thread; the difference is the binding's overhead.

Rounds are interleaved (A B C D, A B C D, ...) and medians reported, so load from other
processes hits every variant alike. Writes a table and JSON (--json FILE).

usage: PYTHONPATH=build/python bench/package_bench.py BUILD_DIR [--photos 96] [--rounds 3]
       [--arch resnet18] [--json out.json]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--photos", type=int, default=96)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--arch", default="resnet18")
ap.add_argument("--json", default=None)
args = ap.parse_args()
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(args.build, "scratchcv")
env = dict(os.environ, PYTHONPATH=os.path.join(os.path.abspath(args.build), "python"))
sys.path.insert(0, env["PYTHONPATH"])

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

import scratchcv  # noqa: E402

tmp = tempfile.mkdtemp(prefix="scv-package-bench-")
try:
    torch.manual_seed(0)
    model = os.path.join(tmp, f"{args.arch}.pth")
    torch.save(getattr(torchvision.models, args.arch)(weights=None).eval().state_dict(), model)
    src = sorted(f"/usr/share/darknet/data/{n}" for n in os.listdir("/usr/share/darknet/data")
                 if n.endswith(".jpg"))
    src += [f"/usr/lib/python3/dist-packages/skimage/data/{n}"
            for n in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")]
    photos = os.path.join(tmp, "photos")
    os.mkdir(photos)
    for i in range(args.photos):
        s = src[i % len(src)]
        shutil.copy(s, os.path.join(photos, f"{i:04d}_{os.path.basename(s)}"))

    # ---- 1. CLI vs Dask ------------------------------------------------------------------------
    def cli(threads):
        def run():
            t0 = time.perf_counter()
            subprocess.run([CLI, "classify", photos, "--jsonl", "--model", model, "--threads",
                            str(threads)], capture_output=True, check=True)
            return time.perf_counter() - t0, None
        return run

    def dask(workers):
        def run():
            out = os.path.join(tmp, "out.jsonl")
            if os.path.exists(out):
                os.remove(out)
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "scratchcv.cluster", "classify",
                                "--scheduler", f"local:{workers}", photos, "--out", out,
                                "--model", model, "--batch", "8"],
                               capture_output=True, text=True, env=env, check=True)
            wall = time.perf_counter() - t0
            m = re.search(r"(\d+) photos in ([0-9.]+) s", r.stderr)
            assert sum(1 for _ in open(out)) == args.photos
            return wall, float(m[2])
        return run

    variants = {"CLI, 1 thread": cli(1), "CLI, 2 threads": cli(2),
                "Dask local:1 (1 worker x 1 thread)": dask(1),
                "Dask local:2 (2 workers x 1 thread)": dask(2)}
    walls = {k: [] for k in variants}
    inner = {k: [] for k in variants}
    for r in range(args.rounds):
        order = list(variants)[r % len(variants):] + list(variants)[:r % len(variants)]
        for k in order:
            w, i = variants[k]()
            walls[k].append(w)
            if i is not None:
                inner[k].append(i)
    base = statistics.median(walls["CLI, 1 thread"])
    rows = []
    print(f"\n{args.photos} photos ({args.arch}, 224x224, random weights), load "
          f"{os.getloadavg()[0]:.1f}, {args.rounds} interleaved rounds, medians")
    print(f"{'variant':38} {'wall s':>7} {'photos/s':>9} {'vs CLI 1t':>9} "
          f"{'photos/s after cluster start':>29}")
    for k in variants:
        w = statistics.median(walls[k])
        i = statistics.median(inner[k]) if inner[k] else None
        rows.append({"variant": k, "wall_s": w, "photos_per_s": args.photos / w,
                     "photos_per_s_after_start": args.photos / i if i else None,
                     "walls": walls[k]})
        print(f"{k:38} {w:7.2f} {args.photos / w:9.2f} {base / w:8.2f}x "
              f"{(args.photos / i) if i else float('nan'):29.2f}")

    # ---- 2. Python vs C++ per call ----------------------------------------------------------
    prefix = os.path.join(tmp, "prefix")
    subprocess.run(["cmake", "--install", args.build, "--prefix", prefix], check=True,
                   capture_output=True)
    pc = subprocess.run(["pkg-config", "--cflags", "--libs", "scratchcv"], check=True, text=True,
                        capture_output=True,
                        env=dict(os.environ, PKG_CONFIG_PATH=f"{prefix}/lib/pkgconfig")).stdout
    exe = os.path.join(tmp, "classifier_overhead")
    subprocess.run(["g++", "-O2", os.path.join(SRC, "bench", "classifier_overhead.cpp"), "-o",
                    exe, *pc.split()], check=True)
    photo = os.path.join(SRC, "data", "sample.jpg")
    print("\nper call, 1 thread, medians of interleaved rounds (microseconds)")
    print(f"{'crop':>5} {'C++ classify':>13} {'Py classify':>12} {'diff':>7} "
          f"{'C++ logits':>11} {'Py logits':>10} {'diff':>7}")
    calls = []
    for crop, n in ((32, 400), (224, 30)):
        clf = scratchcv.Classifier(model, threads=1, crop=crop, resize=crop + crop // 7)
        img = scratchcv.imread(photo, "rgb")
        x = clf.preprocess(img)

        def py_time(fn):
            fn()
            t = []
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                t.append((time.perf_counter() - t0) * 1e6)
            return statistics.median(t)

        cc, pcls, cl, pl = [], [], [], []
        for _ in range(args.rounds):
            r = json.loads(subprocess.run([exe, model, photo, str(crop), str(n)], check=True,
                                          capture_output=True, text=True).stdout)
            cc.append(r["classify_median_us"])
            cl.append(r["logits_median_us"])
            pcls.append(py_time(lambda: clf.classify(img)))
            pl.append(py_time(lambda: clf.logits(x)))
        row = {"crop": crop, "cpp_classify_us": statistics.median(cc),
               "py_classify_us": statistics.median(pcls), "cpp_logits_us": statistics.median(cl),
               "py_logits_us": statistics.median(pl)}
        calls.append(row)
        print(f"{crop:5d} {row['cpp_classify_us']:13.1f} {row['py_classify_us']:12.1f} "
              f"{row['py_classify_us'] - row['cpp_classify_us']:7.1f} {row['cpp_logits_us']:11.1f} "
              f"{row['py_logits_us']:10.1f} {row['py_logits_us'] - row['cpp_logits_us']:7.1f}")
    # The binding's own cost, without any arithmetic: logits() of an empty batch (argument
    # checks, buffer protocol, GIL release/re-acquire, the result array).
    clf = scratchcv.Classifier(model, threads=1, crop=32, resize=36)
    empty = np.zeros((0, 3, 32, 32), np.float32)
    floor = []
    for _ in range(args.rounds):
        t = []
        for _ in range(20000):
            t0 = time.perf_counter()
            clf.logits(empty)
            t.append((time.perf_counter() - t0) * 1e6)
        floor.append(statistics.median(t))
    print(f"Python call floor (logits of an empty batch): {statistics.median(floor):.2f} us")
    calls.append({"python_call_floor_us": statistics.median(floor)})
    if args.json:
        json.dump({"photos": args.photos, "arch": args.arch, "throughput": rows, "calls": calls,
                   "load": os.getloadavg()}, open(args.json, "w"), indent=1)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
