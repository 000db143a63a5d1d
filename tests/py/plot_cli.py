#!/usr/bin/env python3
"""The book's figures: `plot activations` and `bench --ladder --plot`.

  - plot activations: the values behind the picture (--csv) vs PyTorch's sigmoid, tanh, relu and
    leaky_relu(0.01) and their autograd derivatives; the picture decodes and is not blank.
  - bench --ladder --plot: one bar per ladder step, each bar's length proportional to the step's
    speed (1 / min ms from --json) to within 2 pixels.
usage: plot_cli.py CLI
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

from clitest import Checks

BAR = (31, 119, 180)  # viz::palette(0)


def main():
    cli = sys.argv[1]
    check = Checks()

    with tempfile.TemporaryDirectory() as tmp:
        png, vals = os.path.join(tmp, "act.png"), os.path.join(tmp, "act.csv")
        r = subprocess.run([cli, "plot", "activations", png, "--csv", vals], capture_output=True,
                           text=True)
        check(r.returncode == 0, f"plot activations exits 0 {r.stderr.strip()}")
        rows = list(csv.DictReader(open(vals)))
        x = torch.tensor([float(r["x"]) for r in rows], dtype=torch.float64, requires_grad=True)
        fns = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
               "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01)}
        for name, f in fns.items():
            y = f(x)
            (d,) = torch.autograd.grad(y.sum(), [x])
            got = np.array([float(r[name]) for r in rows])
            dgot = np.array([float(r["d_" + name]) for r in rows])
            e = max(np.abs(got - y.detach().numpy()).max(), np.abs(dgot - d.numpy()).max())
            check(e < 1e-6, f"{name} and its derivative vs PyTorch: max |diff| {e:.1e}")
        a = np.asarray(Image.open(png).convert("RGB"))
        check(len(np.unique(a.reshape(-1, 3), axis=0)) > 4 and (a != 255).any(axis=2).mean() > 0.02,
              f"act.png {a.shape} not blank")
        r = subprocess.run([cli, "plot", "nosuch", png], capture_output=True, text=True)
        check(r.returncode == 2 and "unknown figure" in r.stderr, "unknown figure: usage error")

        lad, js = os.path.join(tmp, "ladder.png"), os.path.join(tmp, "l.json")
        r = subprocess.run([cli, "bench", "--ladder", "--size", "32", "--iters", "1", "--warmup",
                            "0", "--threads", "2", "--plot", lad, "--json", js],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"bench --ladder --plot exits 0 {r.stderr.strip()[:200]}")
        steps = json.load(open(js))["ladder"]
        img = np.asarray(Image.open(lad).convert("RGB"))
        is_bar = np.all(img == BAR, axis=2)
        rows_with_bar = np.where(is_bar.any(axis=1))[0]
        # Bars are runs of consecutive rows; measure each bar's length on its middle row.
        runs = np.split(rows_with_bar, np.where(np.diff(rows_with_bar) > 1)[0] + 1)
        lengths = [int(is_bar[r[len(r) // 2]].sum()) for r in runs]
        check(len(lengths) == len(steps), f"{len(lengths)} bars for {len(steps)} ladder steps")
        if len(lengths) == len(steps):
            speed = [1.0 / s["min_ms"] for s in steps]
            want = [max(1, round(max(lengths) * v / max(speed))) for v in speed]
            check(all(abs(a - b) <= 2 for a, b in zip(lengths, want)),
                  f"bar lengths {lengths} proportional to speed {want}")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
