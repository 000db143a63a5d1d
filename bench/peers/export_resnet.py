#!/usr/bin/env python3
"""Export a torchvision ResNet with seeded random weights as .pth (state_dict) and .onnx.

usage: export_resnet.py OUT_DIR [--arch resnet50] [--seed 0] [--opset 13]
Writes OUT_DIR/<arch>.pth and OUT_DIR/<arch>.onnx (input "input" [N,3,224,224], dynamic N;
output "logits"). Batch-norm scale, shift and running statistics are randomised too, so that
folding BN into conv is exercised, not a no-op. Prints the paths as JSON.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "py"))
from torch_models import draw_batchnorm, seeded_torchvision  # noqa: E402


def build(arch, seed):
    model, g = seeded_torchvision(arch, seed)
    draw_batchnorm(model, g, [("weight", "rand", 0.5, 0.5), ("bias", "randn", 0.1, 0),
                              ("running_mean", "randn", 0.1, 0),
                              ("running_var", "rand", 0.5, 0.75)])
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opset", type=int, default=13, choices=range(11, 18))
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    model = build(a.arch, a.seed)
    pth = os.path.join(a.out_dir, a.arch + ".pth")
    onnx = os.path.join(a.out_dir, a.arch + ".onnx")
    torch.save(model.state_dict(), pth + ".tmp")
    os.replace(pth + ".tmp", pth)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(a.seed + 2))
    torch.onnx.export(model, x, onnx + ".tmp", opset_version=a.opset, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=True)
    os.replace(onnx + ".tmp", onnx)
    with torch.no_grad():
        y = model(x)
    if not torch.isfinite(y).all():
        sys.exit("export_resnet.py: logits are not finite; pick another seed")
    print(json.dumps({"pth": pth, "onnx": onnx, "arch": a.arch, "seed": a.seed,
                      "opset": a.opset, "logit_std": float(y.std())}))


if __name__ == "__main__":
    main()
