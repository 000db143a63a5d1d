#!/usr/bin/python3
"""End to end on a 24 MP photo: read JPEG, filter, write PNG -- scratchcv vs OpenCV (not a test).

For gray, blur (5x5) and canny (50/150): `scratchcv OP photo.jpg out.png` timed as a whole
process (start, decode, filter, encode, safe write), against cv2.imread + the same op + cv2.imwrite
(PNG, OpenCV's defaults) timed inside this Python process (import and start-up not counted,
which favours OpenCV). Rounds alternate (ours, OpenCV, ...); medians and minima are reported
with the ratio of medians. The photo is a darknet sample upscaled bicubically to 6000x4000 and
saved as JPEG quality 95 (not committed).

usage: cv_e2e.py SCRATCHCV_BINARY [--rounds N] [--threads N]
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

import cv2

ap = argparse.ArgumentParser()
ap.add_argument("cli")
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--threads", type=int, default=0, help="0: both use their defaults")
a = ap.parse_args()
if a.threads:
    cv2.setNumThreads(a.threads)

d = tempfile.mkdtemp()
photo = os.path.join(d, "photo24mp.jpg")
src = cv2.imread("/usr/share/darknet/data/horses.jpg")
cv2.imwrite(photo, cv2.resize(src, (6000, 4000), interpolation=cv2.INTER_CUBIC),
            [cv2.IMWRITE_JPEG_QUALITY, 95])
print(f"photo: 6000x4000 JPEG, {os.path.getsize(photo) / 1e6:.1f} MB; load: {os.getloadavg()}")

OPS = {
    "gray": (["gray"], lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)),
    "blur": (["blur", "--ksize", "5"], lambda im: cv2.blur(im, (5, 5))),
    "canny": (["canny", "--low", "50", "--high", "150"],
              lambda im: cv2.Canny(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), 50, 150)),
}
thr = ["--threads", str(a.threads)] if a.threads else []
print(f"\n| op | scratchcv median (min) s | OpenCV median (min) s | ratio ours/OpenCV | PNG bytes ours / OpenCV |")
print("|---|---|---|---|---|")
for name, (args, fn) in OPS.items():
    ours, theirs = [], []
    out_s, out_c = os.path.join(d, "s.png"), os.path.join(d, "c.png")
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        subprocess.run([a.cli] + args + thr + [photo, out_s], check=True)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cv2.imwrite(out_c, fn(cv2.imread(photo)))
        theirs.append(time.perf_counter() - t0)
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print(f"| {name} | {mo:.3f} ({min(ours):.3f}) | {mt:.3f} ({min(theirs):.3f}) | {mo / mt:.2f}x "
          f"| {os.path.getsize(out_s)} / {os.path.getsize(out_c)} |")
print(f"\nload after: {os.getloadavg()}")
