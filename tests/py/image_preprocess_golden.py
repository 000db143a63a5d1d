#!/usr/bin/env python3
"""Golden test: `scratchcv preprocess` against torchvision's ImageNet eval transform.

For real photos of several sizes and aspects (darknet samples, scikit-image data), runs
  Resize(256) -> CenterCrop(224) -> ToTensor() -> Normalize(ImageNet mean/std)
on the PIL image (what torchvision 0.14 does) and compares with our raw float32 CHW dump.
A crop larger than the resized image checks torchvision's zero padding. Also checks the plain
decode (PIL convert('RGB')) through `preprocess --resize N` where N is the
image's own shorter side, so no resampling happens.
Usage: image_preprocess_golden.py SCRATCHCV_BINARY
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

PHOTOS = [
    "/usr/share/darknet/data/dog.jpg",
    "/usr/share/darknet/data/eagle.jpg",
    "/usr/share/darknet/data/giraffe.jpg",
    "/usr/share/darknet/data/horses.jpg",
    "/usr/share/darknet/data/person.jpg",
    "/usr/share/darknet/data/scream.jpg",
    "/usr/lib/python3/dist-packages/skimage/data/astronaut.png",
    "/usr/lib/python3/dist-packages/skimage/data/chelsea.png",
    "/usr/lib/python3/dist-packages/skimage/data/coffee.png",
    "/usr/lib/python3/dist-packages/skimage/data/camera.png",
    "/usr/lib/python3/dist-packages/skimage/data/rocket.jpg",
    "/usr/lib/python3/dist-packages/skimage/data/retina.jpg",
    "/usr/lib/python3/dist-packages/skimage/data/motorcycle_left.png",
    "/usr/lib/python3/dist-packages/skimage/data/logo.png",
]
MAX_ABS = 2e-2
MEAN_ABS = 2e-3


def ours(cli, path, out, resize, crop):
    r = subprocess.run([cli, "preprocess", "--resize", str(resize), "--crop", str(crop), path,
                        out], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"scratchcv preprocess {path} failed: {r.stderr.strip()}")
    return np.fromfile(out, dtype=np.float32).reshape(3, crop, crop)


def reference(path, resize, crop):
    tf = transforms.Compose([
        transforms.Resize(resize),
        transforms.CenterCrop(crop),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    with Image.open(path) as im:
        return tf(im.convert("RGB")).numpy()


def main():
    cli = sys.argv[1]
    photos = [p for p in PHOTOS if os.path.exists(p)]
    if len(photos) < 5:
        print(f"need at least 5 sample photos, found {len(photos)}: {photos}")
        return 1
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "t.bin")
        for path in photos:
            with Image.open(path) as im:
                size, mode = im.size, im.mode
            cases = [(256, 224)]
            # Identity resize: isolates the decoder (and the crop) from the resampling.
            cases.append((min(size), min(size) // 2 * 2 - 1 if min(size) > 2 else 1))
            if path == PHOTOS[0] or path == PHOTOS[6]:
                cases.append((200, 224))  # crop larger than the resized image: zero padding
            for resize, crop in cases:
                a = ours(cli, path, out, resize, crop)
                b = reference(path, resize, crop)
                d = np.abs(a - b)
                exact = float((d == 0).mean())
                ok = d.max() <= MAX_ABS and d.mean() <= MEAN_ABS
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(path):22s} {mode:4s} "
                      f"{size[0]:5d}x{size[1]:<5d} resize {resize:4d} crop {crop:4d}: "
                      f"max|diff| {d.max():.3e} mean|diff| {d.mean():.3e} "
                      f"bit-exact {100 * exact:.2f}%")
    print(f"{len(photos)} photos, {failures} failures "
          f"(limits: max {MAX_ABS}, mean {MEAN_ABS})")
    return 1 if failures else 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
