#!/usr/bin/env python3
"""PyTorch (Debian's 1.13) on a ResNet state_dict: torch.jit.trace, then
torch.jit.optimize_for_inference (freezing, conv-BN folding, oneDNN/MKLDNN layouts).

usage: torch_bench.py --model M.pth [--arch resnet50] [--threads N] [--batch B]
                      [--warmup W] [--iters K] [--no-optimize]
Prints one JSON line {"runtime", "version", "threads", "batch", "iters", "median_ms", "min_ms",
"imgs_per_s", "mkldnn"}.
"""
import argparse
import json
import statistics
import sys

from timing import add_run_args, timed_calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--arch", default="resnet50")
    add_run_args(ap)
    ap.add_argument("--no-optimize", action="store_true", help="plain traced module")
    a = ap.parse_args()
    if min(a.threads, a.batch, a.iters) < 1:
        sys.exit("torch_bench.py: threads, batch and iters must be >= 1")

    import torch
    import torchvision

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model = getattr(torchvision.models, a.arch)(weights=None)
    model.load_state_dict(torch.load(a.model, map_location="cpu"))
    model.eval()
    g = torch.Generator().manual_seed(12345)
    x = torch.rand(a.batch, 3, 224, 224, generator=g) * 2 - 1
    with torch.no_grad():
        ref = model(x)
        m = torch.jit.trace(model, x)
        if not a.no_optimize:
            m = torch.jit.optimize_for_inference(m)
        for _ in range(max(a.warmup, 2)):  # the first calls of a scripted module compile
            y = m(x)
        err = float((y - ref).abs().max() / ref.abs().max())
        if err > 1e-3:
            sys.exit("torch_bench.py: optimized module disagrees with eager (rel err %.2e)" % err)
        times, _ = timed_calls(lambda: m(x), a.iters)
    med = statistics.median(times)
    print(json.dumps({"runtime": "torch-jit" + ("" if a.no_optimize else "-optimized"),
                      "version": torch.__version__, "threads": a.threads, "batch": a.batch,
                      "iters": a.iters, "median_ms": med, "min_ms": min(times),
                      "imgs_per_s": a.batch * 1e3 / med,
                      "mkldnn": torch.backends.mkldnn.is_available()}))


if __name__ == "__main__":
    main()
