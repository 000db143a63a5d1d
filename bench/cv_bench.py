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
    """(wall median, wall min, cpu median, cpu min) in ms; cpu = process CPU time."""
    fn()
    ts, cs = [], []
    for _ in range(iters):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
        cs.append((time.process_time() - c0) * 1e3)
    ts.sort()
    cs.sort()
    return ts[len(ts) // 2], ts[0], cs[len(cs) // 2], cs[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--photo", default="/usr/share/darknet/data/dog.jpg")
    ap.add_argument("--json", default="")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    a = ap.parse_args()

    src = cv2.cvtColor(cv2.imread(a.photo, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(src, (3840, 2160), interpolation=cv2.INTER_CUBIC)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)

    o3 = np.empty_like(rgb)
    o1 = np.empty_like(gray)

    def otsu_reuse():
        cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU, dst=o1)

    cases = [
        # name, scratchcv args, cv2 (new output), cv2 (dst= reused), input kind
        ("gray", ["gray"], lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
         lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY, dst=o1), "rgb"),
        ("yuv", ["yuv"], lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV),
         lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV, dst=o3), "rgb"),
        ("yuv --inverse", ["yuv", "--inverse"], lambda: cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB),
         lambda: cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB, dst=o3), "yuv"),
    ]
    for k in (3, 5, 7, 15):
        cases.append((f"blur k{k}", ["blur", "--ksize", str(k)],
                      (lambda k=k: cv2.blur(rgb, (k, k))),
                      (lambda k=k: cv2.blur(rgb, (k, k), dst=o3)), "rgb"))
    for k in (3, 5, 7, 15):
        cases.append((f"gaussian k{k}", ["gaussian", "--ksize", str(k)],
                      (lambda k=k: cv2.GaussianBlur(rgb, (k, k), 0)),
                      (lambda k=k: cv2.GaussianBlur(rgb, (k, k), 0, dst=o3)), "rgb"))
    cases += [
        ("canny 50/150 L1", ["canny", "--low", "50", "--high", "150"],
         lambda: cv2.Canny(gray, 50, 150, apertureSize=3),
         lambda: cv2.Canny(gray, 50, 150, edges=o1, apertureSize=3), "gray"),
        ("canny 50/150 L2", ["canny", "--low", "50", "--high", "150", "--l2"],
         lambda: cv2.Canny(gray, 50, 150, apertureSize=3, L2gradient=True),
         lambda: cv2.Canny(gray, 50, 150, edges=o1, apertureSize=3, L2gradient=True), "gray"),
        ("otsu", ["otsu"],
         lambda: cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU), otsu_reuse,
         "gray"),
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
            for name, args, fn, fn_reuse, kind in cases:
                if a.only not in name:
                    continue
                cmd = [a.cli, args[0], paths[kind], out, *args[1:], "--threads", str(threads),
                       "--bench", str(a.iters)]
                # samples[(side, mode)] = list of (wall med, wall min, cpu med, cpu min) per round
                samples = {}
                isa = "?"
                for _ in range(a.rounds):
                    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    for m in re.finditer(r"bench \S+ (alloc|reuse): median ([\d.]+) ms min ([\d.]+)"
                                         r" ms cpu median ([\d.]+) ms min ([\d.]+) ms .*isa (\w+)",
                                         r.stdout):
                        samples.setdefault(("ours", m.group(1)), []).append(
                            tuple(float(m.group(i)) for i in range(2, 6)))
                        isa = m.group(6)
                    samples.setdefault(("opencv", "alloc"), []).append(time_cv(fn, a.iters))
                    samples.setdefault(("opencv", "reuse"), []).append(time_cv(fn_reuse, a.iters))
                row = dict(algo=name, threads=threads, isa=isa)
                for (side, mode), v in samples.items():
                    med = lambda i: sorted(x[i] for x in v)[len(v) // 2]
                    row[f"{side}_{mode}_wall_min"] = min(x[1] for x in v)
                    row[f"{side}_{mode}_wall_median"] = med(0)
                    row[f"{side}_{mode}_cpu_median"] = med(2)
                for mode in ("alloc", "reuse"):
                    row[f"ratio_{mode}_wall_min"] = (row[f"ours_{mode}_wall_min"] /
                                                     row[f"opencv_{mode}_wall_min"])
                    row[f"ratio_{mode}_cpu_median"] = (row[f"ours_{mode}_cpu_median"] /
                                                       row[f"opencv_{mode}_cpu_median"])
                rows.append(row)
                print(f"{name:<16} t{threads} alloc: ours {row['ours_alloc_wall_min']:7.2f} "
                      f"cv {row['opencv_alloc_wall_min']:7.2f} ratio {row['ratio_alloc_wall_min']:4.2f}"
                      f" (cpu {row['ratio_alloc_cpu_median']:4.2f}) | reuse: ours "
                      f"{row['ours_reuse_wall_min']:7.2f} cv {row['opencv_reuse_wall_min']:7.2f} "
                      f"ratio {row['ratio_reuse_wall_min']:4.2f} (cpu "
                      f"{row['ratio_reuse_cpu_median']:4.2f})", flush=True)

    print(f"\nCPU: {cpu_model()}, OpenCV {cv2.__version__}, image 3840x2160 RGB "
          f"(upscaled {os.path.basename(a.photo)}), {a.rounds} rounds x {a.iters} timed runs\n")
    print("Wall-clock minimum over all runs in ms (median of round medians in brackets); ratio = "
          "ours / OpenCV on the minimum; CPU ratio = on the median process CPU time.\n")
    print("| algorithm | thr | ours, new output | OpenCV, new output | ratio | CPU ratio "
          "| ours, reused dst | OpenCV, dst= | ratio | CPU ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["algo"], str(r["threads"])]
        for mode in ("alloc", "reuse"):
            cells += [f"{r[f'ours_{mode}_wall_min']:.2f} ({r[f'ours_{mode}_wall_median']:.2f})",
                      f"{r[f'opencv_{mode}_wall_min']:.2f} ({r[f'opencv_{mode}_wall_median']:.2f})",
                      f"{r[f'ratio_{mode}_wall_min']:.2f}", f"{r[f'ratio_{mode}_cpu_median']:.2f}"]
        print("| " + " | ".join(cells) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(cpu=cpu_model(), opencv=cv2.__version__, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
