#!/usr/bin/env python3
"""PyTorch int8 MobileNetV2 / ResNet50 latency (torchvision.models.quantization, engine onednn).

The pretrained quantized weights need a download, so the model gets seeded random weights and
goes through torch's post-training quantization flow (fuse, prepare, calibrate, convert);
speed does not depend on the weight values. Prints one JSON line:
  {"runtime": "torch-int8-onednn", "threads": T, "median_ms": ..., "min_ms": ..., "iters": K}
Usage: torch_int8_bench.py --threads T [--iters K] [--warmup W] [--size 224] [--engine onednn]
                           [--model mobilenet_v2|resnet50] [--batch B]
"""
import argparse
import json

import torch
import torchvision

from timing import add_run_args, timed_calls


def build(engine, size, model="mobilenet_v2"):
    torch.manual_seed(0)
    m = getattr(torchvision.models.quantization, model)(weights=None, quantize=False)
    m.eval()
    m.fuse_model()
    torch.backends.quantized.engine = engine
    m.qconfig = torch.ao.quantization.get_default_qconfig(engine)
    torch.ao.quantization.prepare(m, inplace=True)
    with torch.no_grad():
        for _ in range(4):
            m(torch.randn(1, 3, size, size))
    torch.ao.quantization.convert(m, inplace=True)
    return m


def main():
    ap = argparse.ArgumentParser()
    add_run_args(ap, warmup=5, iters=30)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--engine", default="onednn")
    ap.add_argument("--model", default="mobilenet_v2")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = build(a.engine, a.size, a.model)
    x = torch.randn(a.batch, 3, a.size, a.size)
    with torch.no_grad():
        for _ in range(a.warmup):
            m(x)
        t, c = timed_calls(lambda: m(x), a.iters)
    print(json.dumps({"runtime": "torch-int8-" + a.engine, "model": a.model, "batch": a.batch,
                      "threads": a.threads,
                      "median_ms": t[len(t) // 2], "min_ms": t[0], "cpu_ms": c[len(c) // 2],
                      "iters": a.iters}))


if __name__ == "__main__":
    main()
