#!/usr/bin/env python3
"""End to end: `scratchcv explain --html` on a real photo, then the page in headless Chromium.

Checks:
  - every picture written to --out and every image embedded in the page decodes (PIL) and is
    not blank (more than a handful of distinct colours);
  - the page has the photo, the top-5 bars (SVG) and at least one heatmap;
  - Chromium (Debian `chromium`, headless, no network, a fresh profile) loads the page and
    decodes every embedded image (the page marks <body data-images="decoded">), and its
    screenshot is not blank;
  - bad input gives a one-line error and a non-zero exit, and writes no report.

usage: explain_html.py CLI [--screenshot PATH] [--html PATH]   (PATHs keep the outputs)
"""
import argparse
import base64
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

from clitest import Checks
from resnet_golden import photo_batch, randomised_model

PHOTO = "/usr/share/darknet/data/dog.jpg"


def distinct_colours(img):
    a = np.asarray(img.convert("RGB")).reshape(-1, 3)
    return len(np.unique(a[:: max(1, len(a) // 20000)], axis=0))


def chromium(args, tmp):
    exe = shutil.which("chromium")
    if not exe:
        return None, "chromium is not installed (Debian package `chromium`)"
    profile = tempfile.mkdtemp(dir=tmp, prefix="profile")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={profile}", "--hide-scrollbars"] + args
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    return r, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("--screenshot")
    ap.add_argument("--html")
    args = ap.parse_args()
    torch.set_num_threads(2)
    check = Checks()

    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "resnet18.pth")
        torch.save(randomised_model("resnet18", 7, photo_batch(1)).state_dict(), model)
        html = args.html or os.path.join(tmp, "report.html")
        out = os.path.join(tmp, "pictures")
        r = subprocess.run([args.cli, "explain", PHOTO, "--model", model, "--html", html, "--out",
                            out, "--deconv", "layer1", "--threads", "2"],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"explain exits 0 ({r.stderr.strip()[:200]})")
        if r.returncode != 0:
            return 1
        files = sorted(os.listdir(out))
        pngs = [f for f in files if f.endswith(".png")]
        check(not [f for f in files if f.startswith(".")], f"no temporary files left in {out}")
        for f in pngs:
            n = distinct_colours(Image.open(os.path.join(out, f)))
            check(n > 8, f"{f} decodes, {n} distinct colours")
        for want in ("photo.png", "cam_1_", "gradcam_1_", "saliency_1_", "features_layer1",
                     "filters_conv1", "deconv_layer1"):
            check(any(f.startswith(want) for f in pngs), f"wrote {want}*")

        page = open(html, encoding="utf-8").read()
        images = re.findall(r"<img alt='([^']*)' src='data:image/png;base64,([^']+)'", page)
        check(len(images) >= 10, f"{len(images)} embedded images")
        for alt, data in images:
            img = Image.open(io.BytesIO(base64.b64decode(data)))
            n = distinct_colours(img)
            check(n > 8 or alt == "colour scale", f"embedded '{alt}' {img.size} decodes, {n} colours")
        check(any(alt == "photo" for alt, _ in images), "the page shows the photo")
        check(any(alt.startswith(("CAM", "Grad-CAM")) for alt, _ in images),
              "the page shows a heatmap")
        check(len(re.findall(r"<rect ", page)) >= 5 and "<svg" in page, "the page has top-5 bars")
        check("src='http" not in page and "href='http" not in page, "the page is self-contained")

        r, why = chromium(["--dump-dom", "--virtual-time-budget=5000", "file://" + html], tmp)
        if r is None:
            check(False, why)
        else:
            check('data-images="decoded"' in r.stdout,
                  "Chromium decoded every image (body data-images=decoded)")
        shot = args.screenshot or os.path.join(tmp, "shot.png")
        r, why = chromium([f"--screenshot={shot}", "--window-size=1200,1400",
                           "--virtual-time-budget=5000", "file://" + html], tmp)
        if r is None:
            check(False, why)
        else:
            ok = os.path.exists(shot)
            n = distinct_colours(Image.open(shot)) if ok else 0
            check(ok and n > 1000, f"Chromium screenshot {shot if args.screenshot else ''} "
                  f"is not blank ({n} distinct colours)")

        # Bad input: a clear error, nothing written.
        bad = os.path.join(tmp, "bad.jpg")
        open(bad, "wb").write(b"not an image")
        html2 = os.path.join(tmp, "bad.html")
        r = subprocess.run([args.cli, "explain", bad, "--model", model, "--html", html2],
                           capture_output=True, text=True)
        check(r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and
              not os.path.exists(html2), f"bad image: exit {r.returncode}, '{r.stderr.strip()}'")
        r = subprocess.run([args.cli, "explain", PHOTO, "--model", model, "--layer", "layer9",
                            "--html", html2], capture_output=True, text=True)
        check(r.returncode != 0 and "layer9" in r.stderr and not os.path.exists(html2),
              f"unknown layer: exit {r.returncode}, '{r.stderr.strip()[:120]}'")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
