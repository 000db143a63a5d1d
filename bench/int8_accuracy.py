#!/usr/bin/env python3
"""int8 vs fp32 agreement of a seeded-random ResNet with spread logits, on real photos.

usage: int8_accuracy.py SCRATCHCV [--arch resnet50] [--inputs 1000] [--method percentile]
                        [--samples 64] [--batch 25] [--threads 2] [--min-top1 0.99] [--json OUT]

1. tests/py/int8_make_resnet.py writes the model (randomised BatchNorm statistics, fc scaled:
   logits spread over several units, so top-1 means something);
2. `scratchcv quantize` calibrates it on the scikit-image colour photos (astronaut, chelsea,
   coffee, rocket, motorcycle: not the evaluation photos) into a QDQ model;
3. the evaluation inputs are seeded random crops (40-100% of the shorter side), flips and
   scales of the Debian darknet photos (/usr/share/darknet/data/*.jpg), resized to 224;
4. `scratchcv infer` runs fp32 (the .pth) and int8 (the QDQ file) on the same inputs.
Prints top-1 and top-5 agreement (int8's top-1 in fp32's top-5), the logit error (max and
mean |diff|, relative to the logits' standard deviation) and exits 1 when top-1 agreement is
below --min-top1.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
CALIB = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def inputs(photos, count, seed):
    """Yields `count` [3, 224, 224] inputs: seeded crops / flips / scales of the photos."""
    rng = np.random.RandomState(seed)
    ims = [Image.open(p).convert("RGB") for p in photos]
    for i in range(count):
        im = ims[i % len(ims)]
        w, h = im.size
        s = int(min(w, h) * rng.uniform(0.4, 1.0))
        x0, y0 = rng.randint(0, w - s + 1), rng.randint(0, h - s + 1)
        c = im.crop((x0, y0, x0 + s, y0 + s)).resize((224, 224), Image.BILINEAR)
        if rng.rand() < 0.5:
            c = c.transpose(Image.FLIP_LEFT_RIGHT)
        a = (np.asarray(c, np.float32) / 255.0 - MEAN) / STD
        yield a.transpose(2, 0, 1)


def infer(cli, model, x, d, threads, precision):
    xf, yf = os.path.join(d, "x.f32"), os.path.join(d, "y.f32")
    x.astype(np.float32).tofile(xf)
    r = subprocess.run([cli, "infer", "--model", model, "--input", xf, "--shape",
                        ",".join(map(str, x.shape)), "--output", yf, "--threads", str(threads),
                        "--precision", precision], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"infer failed: {r.stderr}")
    return np.fromfile(yf, np.float32).reshape(x.shape[0], -1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--inputs", type=int, default=1000)
    ap.add_argument("--method", default="percentile")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-top1", type=float, default=0.99)
    ap.add_argument("--json")
    a = ap.parse_args()
    photos = sorted(glob.glob("/usr/share/darknet/data/*.jpg"))
    with tempfile.TemporaryDirectory() as d:
        pth = os.path.join(d, f"{a.arch}.pth")
        subprocess.run([sys.executable, os.path.join(ROOT, "tests/py/int8_make_resnet.py"),
                        a.arch, pth, "--seed", str(a.seed)], check=True)
        calib = os.path.join(d, "calib")
        os.mkdir(calib)
        for f in CALIB:
            os.symlink(os.path.join(SKIMAGE, f), os.path.join(calib, f))
        qdq = os.path.join(d, f"{a.arch}_int8.onnx")
        subprocess.run([a.cli, "quantize", pth, "--calib", calib, "--method", a.method,
                        "--samples", str(a.samples), "-o", qdq], check=True,
                       stdout=subprocess.DEVNULL)
        gen = inputs(photos, a.inputs, 1234 + a.seed)
        f32, i8 = [], []
        done = 0
        while done < a.inputs:
            n = min(a.batch, a.inputs - done)
            x = np.stack([next(gen) for _ in range(n)])
            f32.append(infer(a.cli, pth, x, d, a.threads, "fp32"))
            i8.append(infer(a.cli, qdq, x, d, a.threads, "int8"))
            done += n
        yf, yq = np.concatenate(f32), np.concatenate(i8)
    top1 = float((yf.argmax(1) == yq.argmax(1)).mean())
    top5f = np.argsort(-yf, 1)[:, :5]
    top5q = np.argsort(-yq, 1)[:, :5]
    in5 = float(np.mean([yq[i].argmax() in top5f[i] for i in range(len(yf))]))
    set5 = float(np.mean([len(set(top5f[i]) & set(top5q[i])) / 5 for i in range(len(yf))]))
    diff = np.abs(yf - yq)
    res = {
        "arch": a.arch, "inputs": int(len(yf)), "method": a.method, "calib_samples": a.samples,
        "top1_agreement": top1, "int8_top1_in_fp32_top5": in5, "top5_overlap": set5,
        "logit_std": float(yf.std()), "max_abs_logit_diff": float(diff.max()),
        "mean_abs_logit_diff": float(diff.mean()),
        "distinct_fp32_top1": int(len(set(yf.argmax(1)))),
    }
    print(json.dumps(res, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if top1 < a.min_top1:
        sys.exit(f"FAIL: top-1 agreement {top1:.4f} < {a.min_top1}")


if __name__ == "__main__":
    main()
