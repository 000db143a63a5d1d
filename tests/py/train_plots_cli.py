#!/usr/bin/env python3
"""`mnist train --log/--plot` and `mnist test --confusion/--errors` end to end on Fashion-MNIST.

Checks the CSV log against the epoch lines train prints, that the pictures decode and are not
blank, and that the errors grid holds exactly min(100, misclassified) tiles, where misclassified
is the off-diagonal sum of the confusion matrix `mnist test` prints.
usage: train_plots_cli.py CLI
"""
import csv
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

from clitest import Checks

DATA = "/usr/share/datasets/fashion-mnist"


def main():
    cli = sys.argv[1]
    check = Checks()

    with tempfile.TemporaryDirectory() as tmp:
        model, log, plot = (os.path.join(tmp, n) for n in ("m.scv", "run.csv", "curves.png"))
        r = subprocess.run([cli, "mnist", "train", "--data", DATA, "--epochs", "2", "--limit", "512",
                            "--test-limit", "300", "--out", model, "--log", log, "--plot", plot,
                            "--threads", "2", "--quiet"], capture_output=True, text=True)
        check(r.returncode == 0, f"train exits 0 {r.stderr.strip()[:200]}")
        epochs = re.findall(r"epoch (\d+)/\d+  train loss ([\d.]+) acc ([\d.]+)%  "
                            r"test loss ([\d.]+) acc ([\d.]+)%", r.stdout)
        rows = list(csv.DictReader(open(log)))
        for e, tl, ta, vl, va in epochs:
            tr = [x for x in rows if x["epoch"] == e and x["split"] == "train"]
            te = [x for x in rows if x["epoch"] == e and x["split"] == "test"]
            ok = (len(tr) == 1 and len(te) == 1 and abs(float(tr[0]["loss"]) - float(tl)) < 1e-4
                  and abs(100 * float(tr[0]["accuracy"]) - float(ta)) < 0.01
                  and abs(float(te[0]["loss"]) - float(vl)) < 1e-4
                  and abs(100 * float(te[0]["accuracy"]) - float(va)) < 0.01)
            check(ok, f"log epoch {e}: train {tl}/{ta}%, test {vl}/{va}% as printed")
        batch = [x for x in rows if x["split"] == "batch"]
        check(len(epochs) == 2 and len(batch) >= 10, f"{len(batch)} running points in the log")
        steps = [float(x["step"]) for x in batch]
        check(steps == sorted(steps) and 0 < steps[0] and steps[-1] <= 2.0, "steps increase")
        img = np.asarray(Image.open(plot).convert("RGB"))
        check(len(np.unique(img.reshape(-1, 3), axis=0)) > 5, f"curves.png {img.shape} not blank")

        conf, errs = os.path.join(tmp, "conf.png"), os.path.join(tmp, "errors.png")
        r = subprocess.run([cli, "mnist", "test", "--data", DATA, "--model", model, "--limit",
                            "300", "--confusion", conf, "--errors", errs],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"test exits 0 {r.stderr.strip()[:200]}")
        lines = r.stdout.splitlines()
        start = next(i for i, l in enumerate(lines) if l.startswith("confusion")) + 2
        m = np.array([[int(v) for v in l.split()[1:]] for l in lines[start:start + 10]])
        wrong = int(m.sum() - np.trace(m))
        check(m.sum() == 300, f"confusion matrix sums to {m.sum()}")
        check(f"({min(100, wrong)} misclassified images)" in r.stdout,
              f"errors grid reports {min(100, wrong)} images")
        for f in (conf, errs):
            a = np.asarray(Image.open(f).convert("RGB"))
            check(len(np.unique(a.reshape(-1, 3), axis=0)) > 5, f"{os.path.basename(f)} not blank")
        # The grid: 10 columns of 84x(84 + 15) tiles, 4 px apart.
        tiles = min(100, wrong)
        h = Image.open(errs).height
        check(h == 4 + ((tiles + 9) // 10) * (84 + 15 + 4), f"errors.png height {h} fits {tiles} tiles")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
