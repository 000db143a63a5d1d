"""ONNX Runtime runs the QDQ model `scratchcv quantize` writes, and agrees with scratchcv.

usage: int8_ort.py SCRATCHCV

A seeded-random ResNet18 (int8_make_resnet.py --plain) is quantized with --int8-logits (every output on an
int8 grid) on the Debian darknet photos; scratchcv (`infer --precision int8`) and ONNX Runtime
(bench/peers/ort_infer.js, onnxruntime-node) run the same file on 4 photo inputs. Checked:
  - the file passes onnx.checker (full check);
  - against ONNX Runtime executing the file as written (graph optimizations off: DQ -> float op
    -> Q, the ONNX semantics): >= 99.9% of outputs within 1 quantization step;
  - against ONNX Runtime's fused int8 kernels (optimizations on): the same bound and top-1
    (its kernels round a little differently from the QDQ semantics: on Gaussian-noise inputs,
    far from the calibration photos, ~3% of outputs move by 2-4 steps, between ORT's own two
    modes as much as between ORT and scratchcv; on photos they stay within 1 step);
  - the float-logits file (the default) runs in ONNX Runtime too, with the same top-1.
Exit 77 (skipped) when node or onnxruntime-node is missing.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PHOTOS = "/usr/share/darknet/data"


def ort_available():
    if not shutil.which("node"):
        return False
    dirs = [os.environ.get("SCV_ORT_NODE_MODULES"), os.path.join(ROOT, "bench/peers/node_modules")]
    return any(d and os.path.isdir(os.path.join(d, "onnxruntime-node")) for d in dirs)


def photo_batch(n):
    """The first n darknet photos, resized 256 / center 224 / ImageNet-normalized (NCHW)."""
    from PIL import Image
    files = sorted(glob.glob(os.path.join(PHOTOS, "*.jpg")))[:n]
    out = []
    for f in files:
        im = Image.open(f).convert("RGB")
        w, h = im.size
        s = 256 / min(w, h)
        im = im.resize((max(256, round(w * s)), max(256, round(h * s))), Image.BILINEAR)
        w, h = im.size
        l, t = (w - 224) // 2, (h - 224) // 2
        a = np.asarray(im.crop((l, t, l + 224, t + 224)), np.float32) / 255.0
        a = (a - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
        out.append(a.transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r.stdout


def main():
    cli = sys.argv[1]
    if not ort_available():
        print("SKIP: node or onnxruntime-node (bench/peers/node_modules) not installed")
        sys.exit(77)
    import onnx
    with tempfile.TemporaryDirectory() as d:
        pth = os.path.join(d, "r18.pth")
        run([sys.executable, os.path.join(HERE, "int8_make_resnet.py"), "resnet18", pth,
             "--seed", "3", "--plain"])
        x = photo_batch(4)
        xf = os.path.join(d, "x.f32")
        x.tofile(xf)
        shape = ",".join(map(str, x.shape))
        env = dict(os.environ)
        ort_js = os.path.join(ROOT, "bench/peers/ort_infer.js")
        for logits in ("int8", "fp32"):
            model = os.path.join(d, f"r18_{logits}.onnx")
            cmd = [cli, "quantize", pth, "--calib", PHOTOS, "--samples", "8", "-o", model]
            if logits == "int8":
                cmd.append("--int8-logits")
            run(cmd)
            onnx.checker.check_model(onnx.load(model), full_check=True)
            ours = os.path.join(d, "ours.f32")
            run([cli, "infer", "--model", model, "--input", xf, "--shape", shape, "--output", ours,
                 "--precision", "int8", "--threads", "1"])
            y = np.fromfile(ours, np.float32).reshape(4, -1)
            res = {}
            for mode in ("disabled", "all"):
                env["ORT_OPT"] = mode
                o = os.path.join(d, f"ort_{mode}.f32")
                run(["node", ort_js, model, xf, shape, o, "--threads", "1"], env)
                res[mode] = np.fromfile(o, np.float32).reshape(4, -1)
            if logits == "fp32":
                for mode, r in res.items():
                    top = (r.argmax(1) == y.argmax(1)).mean()
                    print(f"fp32 logits, ORT {mode}: top-1 agreement {top:.2f}, max |diff| "
                          f"{np.abs(r - y).max():.4f} (logit std {y.std():.2f})")
                    if mode == "disabled" and top < 1.0:
                        sys.exit("FAIL: top-1 differs from ONNX Runtime")
                continue
            levels = np.unique(np.concatenate([y.ravel()] + [r.ravel() for r in res.values()]))
            gaps = np.diff(levels)
            step = gaps[gaps > 1e-6].min()
            for mode, r in res.items():
                steps = np.abs(r - y) / step
                within = (steps <= 1.0 + 1e-3).mean()
                top = (r.argmax(1) == y.argmax(1)).mean()
                print(f"int8 logits (step {step:.4g}), ORT {mode}: {within * 100:.2f}% within 1 "
                      f"step, max {steps.max():.1f} steps, top-1 agreement {top:.2f}")
                if within < 0.999 or top < 1.0:
                    sys.exit("FAIL: fewer than 99.9% of outputs within 1 step of ONNX Runtime")
    print("OK")


if __name__ == "__main__":
    main()
