#!/usr/bin/python3
"""Benchmark of the classic CV commands against OpenCV on a 3840x2160 photo (not a test).

Makes the photo by upscaling a real one with OpenCV (bicubic; not committed), then for each
algorithm and thread count (1 and 2) times scratchcv through its `--bench N` option (the
algorithm alone, in-process, after a warm-up; no decode/encode) and cv2 on the same pixels in
this process. On a shared, loaded machine wall times are noisy, so each case runs in ROUNDS
alternating rounds (ours, OpenCV, ours, OpenCV, ...) and reports the minimum (closest to an
unloaded run; the ratio is computed on it) and the median of the per-round medians.
Prints a Markdown table and writes JSON.

usage: cv_bench.py SCRATCHCV_BINARY [--iters N] [--photo PATH] [--json OUT.json]
"""
import argparse
import json
import os
import platform
import re
import subprocess
import tempfile
import time

import cv2
import numpy as np


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def time_cv(fn, iters):
    fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return ts[len(ts) // 2], ts[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--photo", default="/usr/share/darknet/data/dog.jpg")
    ap.add_argument("--json", default="")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()

    src = cv2.cvtColor(cv2.imread(a.photo, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(src, (3840, 2160), interpolation=cv2.INTER_CUBIC)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)

    cases = [
        # name, scratchcv args (IN is substituted), cv2 function, input kind
        ("gray", ["gray"], lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), "rgb"),
        ("yuv", ["yuv"], lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV), "rgb"),
        ("yuv --inverse", ["yuv", "--inverse"], lambda: cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB),
         "yuv"),
    ]
    for k in (3, 5, 7, 15):
        cases.append((f"blur k{k}", ["blur", "--ksize", str(k)],
                      (lambda k=k: cv2.blur(rgb, (k, k))), "rgb"))
    for k in (3, 5, 7, 15):
        cases.append((f"gaussian k{k}", ["gaussian", "--ksize", str(k)],
                      (lambda k=k: cv2.GaussianBlur(rgb, (k, k), 0)), "rgb"))
    cases += [
        ("canny 50/150 L1", ["canny", "--low", "50", "--high", "150"],
         lambda: cv2.Canny(gray, 50, 150, apertureSize=3), "gray"),
        ("canny 50/150 L2", ["canny", "--low", "50", "--high", "150", "--l2"],
         lambda: cv2.Canny(gray, 50, 150, apertureSize=3, L2gradient=True), "gray"),
        ("otsu", ["otsu"],
         lambda: cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU), "gray"),
    ]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"rgb": os.path.join(tmp, "rgb.png"), "gray": os.path.join(tmp, "gray.png"),
                 "yuv": os.path.join(tmp, "yuv.png")}
        cv2.imwrite(paths["rgb"], cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_PNG_COMPRESSION, 1])
        cv2.imwrite(paths["gray"], gray, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        cv2.imwrite(paths["yuv"], cv2.cvtColor(yuv, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_PNG_COMPRESSION, 1])
        out = os.path.join(tmp, "out.png")
        for threads in [int(t) for t in a.threads.split(",")]:
            cv2.setNumThreads(threads)
            for name, args, fn, kind in cases:
                cmd = [a.cli, args[0], paths[kind], out, *args[1:], "--threads", str(threads),
                       "--bench", str(a.iters)]
                o_min, o_med, c_min, c_med = [], [], [], []
                for _ in range(a.rounds):
                    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    m = re.search(r"median ([\d.]+) ms min ([\d.]+) ms .*isa (\w+)", r.stdout)
                    o_med.append(float(m.group(1)))
                    o_min.append(float(m.group(2)))
                    isa = m.group(3)
                    med, mn = time_cv(fn, a.iters)
                    c_med.append(med)
                    c_min.append(mn)
                row = dict(algo=name, threads=threads, isa=isa, ours_min_ms=min(o_min),
                           ours_median_ms=sorted(o_med)[len(o_med) // 2],
                           opencv_min_ms=min(c_min),
                           opencv_median_ms=sorted(c_med)[len(c_med) // 2])
                row["ratio"] = row["ours_min_ms"] / row["opencv_min_ms"]
                rows.append(row)
                print(f"{name:<18} t{threads} ours min {row['ours_min_ms']:8.2f} med "
                      f"{row['ours_median_ms']:8.2f} | opencv min {row['opencv_min_ms']:8.2f} med "
                      f"{row['opencv_median_ms']:8.2f} | ratio(min) {row['ratio']:5.2f}", flush=True)

    print(f"\nCPU: {cpu_model()}, OpenCV {cv2.__version__}, image 3840x2160 RGB "
          f"(upscaled {os.path.basename(a.photo)}), {a.rounds} rounds x {a.iters} timed runs\n")
    print("| algorithm | threads | scratchcv min (median) ms | OpenCV min (median) ms | "
          "ours / OpenCV (min) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['algo']} | {r['threads']} | {r['ours_min_ms']:.2f} ({r['ours_median_ms']:.2f})"
              f" | {r['opencv_min_ms']:.2f} ({r['opencv_median_ms']:.2f}) | {r['ratio']:.2f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(cpu=cpu_model(), opencv=cv2.__version__, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
