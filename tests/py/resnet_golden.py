#!/usr/bin/env python3
"""Golden test: scratchcv's ResNet logits vs PyTorch's on the same seeded random weights.

For each architecture: build torchvision's model with seeded random weights (batch-norm running
statistics and affine parameters randomised too, so the folding maths is exercised), save it as
a .pth state_dict (and, when asked, as ONNX), pre-process a real photo with torchvision's eval
transform, and compare PyTorch's logits with `scratchcv infer` on exactly the same tensor:
max |diff| <= 1e-3, max |diff| <= 1e-4 * (logit range), identical top-5.

usage: resnet_golden.py CLI ARCH[:onnx] [--isa ISA] [--threads N] [--reference] [--batch N]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

PHOTOS = ["/usr/share/darknet/data/dog.jpg", "/usr/share/darknet/data/eagle.jpg"]


def randomised_model(arch, seed, x):
    """torchvision's model with every parameter and batch-norm statistic random.

    Random deep ResNets have logits of wildly different scales (resnet50: a range of ~2500,
    resnext50: ~2.5), while trained ones span ~10-50. The fc layer is rescaled so the photo's
    logits span 30, so that the absolute tolerance means the same thing for every model.
    """
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(weights=None)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
        model.eval()
        y = model(x)
        scale = 30.0 / float(y.max() - y.min())
        model.fc.weight.mul_(scale)
        model.fc.bias.mul_(scale)
    return model


def photo_batch(n):
    tf = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    xs = [tf(Image.open(PHOTOS[i % len(PHOTOS)]).convert("RGB")) for i in range(n)]
    return torch.stack(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("arch", help="torchvision name, ':onnx' suffix to also test an ONNX export")
    ap.add_argument("--isa", default="")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--opset", type=int, default=13)
    args = ap.parse_args()
    arch, _, fmt = args.arch.partition(":")
    torch.set_num_threads(2)

    x = photo_batch(args.batch)
    model = randomised_model(arch, 1234, x)
    with torch.no_grad():
        want = model(x).numpy()

    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        files = [os.path.join(tmp, arch + ".pth")]
        torch.save(model.state_dict(), files[0])
        if fmt == "onnx":
            files.append(os.path.join(tmp, arch + ".onnx"))
            torch.onnx.export(model, x, files[1], opset_version=args.opset,
                              input_names=["input"], output_names=["logits"])
        xin = os.path.join(tmp, "x.bin")
        x.numpy().astype("<f4").tofile(xin)
        for f in files:
            out = os.path.join(tmp, "y.bin")
            cmd = [args.cli, "infer", "--model", f, "--input", xin, "--output", out,
                   "--shape", ",".join(map(str, x.shape))]
            if args.isa:
                cmd += ["--isa", args.isa]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            if args.reference:
                cmd += ["--reference"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {os.path.basename(f)}: scratchcv exited {r.returncode}: {r.stderr}")
                failures += 1
                continue
            got = np.fromfile(out, dtype="<f4").reshape(want.shape)
            diff = np.abs(got - want).max()
            rng = want.max() - want.min()
            top_ok = all((np.argsort(-want[i])[:5] == np.argsort(-got[i])[:5]).all()
                         for i in range(want.shape[0]))
            ok = diff <= 1e-3 and diff <= 1e-4 * rng and top_ok
            print(f"{'ok  ' if ok else 'FAIL'} {arch} {os.path.basename(f)} batch={x.shape[0]} "
                  f"isa={args.isa or 'default'}{' reference' if args.reference else ''}: "
                  f"max|diff|={diff:.3g} (logit range {rng:.3g}, rel {diff / rng:.3g}), "
                  f"top-5 {'identical' if top_ok else 'DIFFERENT'}")
            failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
