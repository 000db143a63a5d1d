#!/usr/bin/env python3
"""Side by side: seconds per training epoch, scratchcv vs Debian's PyTorch, same model, batch,
threads and images.

Runs are interleaved (ours, torch, ours, torch, ...) so machine load hits both alike; reports
the median and min of each. Both sides time only the training loop of one epoch (forward,
backward, Adam step over shuffled mini-batches), not data loading or evaluation. Writes a JSON
file beside the readable table.

With --baseline OTHER_SCRATCHCV the other side is another scratchcv binary (before / after a
change, interleaved the same way) instead of PyTorch.

usage: bench/train_compare.py [--scratchcv build/scratchcv] [--data DIR] [--model lenet]
                              [--batch 64] [--threads 2] [--limit 6000] [--rounds 3]
                              [--baseline OTHER_SCRATCHCV] [--json out.json]
"""
import argparse
import gzip
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "py"))


def load_idx(path):
    b = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    ndim = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def ours(args, binary=None):
    out = subprocess.run(
        [binary or args.scratchcv, "mnist", "train", "--data", args.data, "--model", args.model,
         "--epochs", "1", "--batch", str(args.batch), "--threads", str(args.threads),
         "--limit", str(args.limit), "--test-limit", "1000", "--quiet",
         "--out", "/tmp/train_compare_ours.scv"], check=True, capture_output=True,
        text=True).stdout
    m = re.search(r"time ([0-9.]+) s", out)
    acc = re.search(r"test loss [0-9.]+ acc ([0-9.]+)%", out)
    return float(m.group(1)), float(acc.group(1))


def torch_epoch(args, x, y):
    """Runs in a child process so each measurement starts as fresh as ours does."""
    code = r"""
import sys, time, numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, %r)
from train_torch_step import build_torch
torch.set_num_threads(%d)
cfg = open(%r).read()
net, params = build_torch(cfg)
d = np.load(%r)
x = torch.from_numpy(d["x"]); y = torch.from_numpy(d["y"])
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(1))
t = time.perf_counter()
for i in range(0, len(x), %d):
    idx = perm[i:i + %d]
    opt.zero_grad()
    loss = F.cross_entropy(net(x[idx]), y[idx])
    loss.backward()
    opt.step()
print(time.perf_counter() - t)
""" % (os.path.join(HERE, "..", "tests", "py"), args.threads, args.cfg_path, args.npz,
       args.batch, args.batch)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scratchcv", default=os.path.join(HERE, "..", "build", "scratchcv"))
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--model", default="lenet")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=6000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", help="another scratchcv binary to compare with, not PyTorch")
    ap.add_argument("--json", default="train_compare.json")
    args = ap.parse_args()
    if args.baseline:
        return compare_binaries(args)

    # The same model for PyTorch, from our canonical config text.
    cfg = subprocess.run([args.scratchcv, "mnist", "dump-step", "--model", args.model, "--out",
                          "/tmp/train_compare_step.bin"], check=True)
    from train_torch_step import read_dump
    cfg_text, _ = read_dump("/tmp/train_compare_step.bin")
    args.cfg_path = "/tmp/train_compare_cfg.txt"
    open(args.cfg_path, "w").write(cfg_text)
    pre = os.path.join(args.data, "train-")
    x = load_idx(pre + "images-idx3-ubyte.gz")[:args.limit].astype(np.float32)[:, None] / 255
    y = load_idx(pre + "labels-idx1-ubyte.gz")[:args.limit].astype(np.int64)
    args.npz = "/tmp/train_compare_data.npz"
    np.savez(args.npz, x=x, y=y)

    import torch
    ours_t, torch_t, accs = [], [], []
    for r in range(args.rounds):
        t, acc = ours(args)
        ours_t.append(t)
        accs.append(acc)
        torch_t.append(torch_epoch(args, x, y))
        print("round %d: scratchcv %.2f s, pytorch %.2f s" % (r + 1, ours_t[-1], torch_t[-1]),
              flush=True)
    load = os.getloadavg()
    res = {
        "model": args.model, "batch": args.batch, "threads": args.threads,
        "images_per_epoch": args.limit, "rounds": args.rounds,
        "scratchcv_s": ours_t, "pytorch_s": torch_t,
        "scratchcv_median_s": statistics.median(ours_t), "scratchcv_min_s": min(ours_t),
        "pytorch_median_s": statistics.median(torch_t), "pytorch_min_s": min(torch_t),
        "ratio_median": statistics.median(ours_t) / statistics.median(torch_t),
        "scratchcv_test_acc_1000": accs,
        "torch_version": torch.__version__, "cpu": platform.processor() or platform.machine(),
        "loadavg_after": load, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    print("\n| %s, batch %d, %d threads, %d images | median s | min s | per 60k (median) |"
          % (args.model, args.batch, args.threads, args.limit))
    print("|---|---|---|---|")
    for name, ts in (("scratchcv", ours_t), ("PyTorch %s" % torch.__version__, torch_t)):
        print("| %s | %.2f | %.2f | %.1f |" % (name, statistics.median(ts), min(ts),
                                               statistics.median(ts) * 60000 / args.limit))
    print("\nscratchcv / PyTorch (median): %.3fx   load average after: %.2f %.2f %.2f"
          % ((res["ratio_median"],) + load))


def compare_binaries(args):
    """--baseline: interleaved epochs of two scratchcv binaries (baseline, ours, baseline, ...)."""
    base_t, ours_t, base_acc, ours_acc = [], [], [], []
    for r in range(args.rounds):
        t, acc = ours(args, args.baseline)
        base_t.append(t)
        base_acc.append(acc)
        t, acc = ours(args)
        ours_t.append(t)
        ours_acc.append(acc)
        print("round %d: baseline %.2f s, scratchcv %.2f s" % (r + 1, base_t[-1], ours_t[-1]),
              flush=True)
    load = os.getloadavg()
    res = {
        "model": args.model, "batch": args.batch, "threads": args.threads,
        "images_per_epoch": args.limit, "rounds": args.rounds, "baseline": args.baseline,
        "baseline_s": base_t, "scratchcv_s": ours_t,
        "baseline_median_s": statistics.median(base_t), "scratchcv_median_s":
        statistics.median(ours_t), "ratio_median": statistics.median(ours_t) /
        statistics.median(base_t), "baseline_test_acc_1000": base_acc,
        "scratchcv_test_acc_1000": ours_acc, "loadavg_after": load,
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    print("\n| %s, batch %d, %d threads, %d images | median s | min s |"
          % (args.model, args.batch, args.threads, args.limit))
    print("|---|---|---|")
    for name, ts in (("baseline", base_t), ("scratchcv", ours_t)):
        print("| %s | %.2f | %.2f |" % (name, statistics.median(ts), min(ts)))
    print("\nscratchcv / baseline (median): %.3fx   test acc %s vs %s   load average after: "
          "%.2f %.2f %.2f" % ((res["ratio_median"], base_acc, ours_acc) + load))


if __name__ == "__main__":
    main()
