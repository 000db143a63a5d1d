#!/usr/bin/env python3
"""Golden test: scratchcv's ResNet logits vs PyTorch's on the same seeded random weights.

For each architecture: build torchvision's model with seeded random weights (batch-norm running
statistics and affine parameters randomised too, so the folding maths is exercised), save it as
a .pth state_dict (and, when asked, as ONNX), pre-process a real photo with torchvision's eval
transform, and compare PyTorch's logits with `scratchcv infer` on exactly the same tensor:
max |diff| <= 1e-3, max |diff| <= 1e-4 * (logit range), identical top-5.

usage: resnet_golden.py CLI ARCH[:onnx] [--runs RUN,RUN...] [--batch N] [--opset K]
  RUN is "reference" (the plain reference executor) or ISA:THREADS for the prepared session,
  e.g. avx512:2, avx2:1, ref:1 ("best" = the best ISA of this CPU). ISAs the CPU lacks are
  reported and skipped.
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

from torch_models import randomise_batchnorm

PHOTOS = ["/usr/share/darknet/data/dog.jpg", "/usr/share/darknet/data/eagle.jpg"]


def randomised_model(arch, seed, x):
    """torchvision's model with every parameter and batch-norm statistic random.

    Random deep ResNets have logits of wildly different scales (resnet50: a range of ~2500,
    resnext50: ~2.5), while trained ones span ~10-50. The fc layer is rescaled so the photo's
    logits span 30, so that the absolute tolerance means the same thing for every model.
    """
    torch.manual_seed(seed)
    model = randomise_batchnorm(getattr(torchvision.models, arch)(weights=None))
    with torch.no_grad():
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
    ap.add_argument("--runs", default="reference,best:2")
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
        cpu = open("/proc/cpuinfo").read()
        have = {"ref": True, "best": True, "avx2": " avx2 " in cpu and " fma " in cpu,
                "avx512": all(f" {f} " in cpu for f in ("avx512f", "avx512bw", "avx512vl"))}
        for f, run in [(f, run) for f in files for run in args.runs.split(",")]:
            out = os.path.join(tmp, "y.bin")
            cmd = [args.cli, "infer", "--model", f, "--input", xin, "--output", out,
                   "--shape", ",".join(map(str, x.shape))]
            if run == "reference":
                cmd += ["--reference"]
            else:
                isa, _, threads = run.partition(":")
                if not have.get(isa, False):
                    print(f"skip {arch} {os.path.basename(f)} {run}: this CPU lacks {isa}")
                    continue
                if isa != "best":
                    cmd += ["--isa", isa]
                cmd += ["--threads", threads or "1"]
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
                  f"{run}: "
                  f"max|diff|={diff:.3g} (logit range {rng:.3g}, rel {diff / rng:.3g}), "
                  f"top-5 {'identical' if top_ok else 'DIFFERENT'}")
            failures += not ok
        # The whole user path: `classify` decodes and pre-processes the photo itself.
        if x.shape[0] == 1:
            import json
            r = subprocess.run([args.cli, "classify", PHOTOS[0], "--model", files[0], "--json"],
                               capture_output=True, text=True)
            want_top = [int(i) for i in np.argsort(-want[0])[:5]]
            try:
                got_top = [t["index"] for t in json.loads(r.stdout)[0]["top"]]
            except (ValueError, KeyError, IndexError):
                got_top = None
            ok = r.returncode == 0 and got_top == want_top
            print(f"{'ok  ' if ok else 'FAIL'} {arch} classify {os.path.basename(PHOTOS[0])}: "
                  f"top-5 {got_top} vs PyTorch {want_top}")
            failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
