#!/usr/bin/env python3
"""`classify --annotate DIR`: each photo written back with its top-3 labels drawn on it.

Checks, for two photos and a seeded random resnet18: one PNG per photo, the photo's size, the
pixels below the label boxes equal to the decoded photo (PIL), and each label box (black,
top-left, one per line) exactly as wide as its text "<percent>% <label>" from --json needs
(6 px per character at scale 2, plus padding).
usage: annotate_cli.py CLI
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

from clitest import Checks
from resnet_golden import photo_batch, randomised_model

PHOTOS = ["/usr/share/darknet/data/dog.jpg", "/usr/share/darknet/data/eagle.jpg"]


def main():
    cli = sys.argv[1]
    check = Checks()

    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "r18.pth")
        torch.save(randomised_model("resnet18", 3, photo_batch(1)).state_dict(), model)
        out = os.path.join(tmp, "ann")
        r = subprocess.run([cli, "classify", *PHOTOS, "--model", model, "--annotate", out,
                            "--json", "--topk", "3"], capture_output=True, text=True)
        check(r.returncode == 0, f"classify --annotate exits 0 {r.stderr.strip()[:200]}")
        results = json.loads(r.stdout)
        for res in results:
            stem = os.path.splitext(os.path.basename(res["file"]))[0]
            path = os.path.join(out, stem + ".png")
            if not os.path.exists(path):
                check(False, f"{path} written")
                continue
            got = np.asarray(Image.open(path).convert("RGB")).astype(int)
            want = np.asarray(Image.open(res["file"]).convert("RGB")).astype(int)
            check(got.shape == want.shape, f"{stem}.png has the photo's size {got.shape}")
            scale, row = 2, (11 + 4) * 2
            below = 8 + 3 * row
            d = np.abs(got[below:] - want[below:]).mean()
            check(d < 1.0, f"{stem}.png below the labels equals the photo (mean |diff| {d:.3f})")
            for i, t in enumerate(res["top"][:3]):
                text = f"{int(100 * t['probability'] + 0.5)}% {t['label']}"  # as lround
                y = 4 * scale + i * row + 1  # inside the box, above the text
                black = np.all(got[y] == 0, axis=1)
                width = int(np.argmin(black[4 * scale:])) if not black[4 * scale:].all() else 0
                want_w = (len(text) * 6 + 4) * scale
                check(width == want_w, f"{stem} label {i + 1} '{text}': box {width} px, "
                      f"text needs {want_w}")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
