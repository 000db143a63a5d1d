#!/usr/bin/env python3
"""Op-by-op check of scratchcv's quantized TFLite engine against float arithmetic (numpy).

`scratchcv tflite run MODEL --image IMG --dump-dir DIR` writes every tensor; for each operator
this script takes scratchcv's own input tensors, computes the operator in float64 as Arm NN's
CpuRef backend does (dequantize, compute, quantize with round half away from zero, clamp) and
compares with scratchcv's output tensor. Integer requantization (TFLite) and float may differ by
one step where the exact value is within rounding distance of .5; more is an error.

Usage: tflite_float_oracle.py DUMP_DIR [MAX_STEPS]   (prints the largest difference per op)
       tflite_float_oracle.py --run SCRATCHCV MODEL IMAGE  (dumps into a temporary directory)
"""
import subprocess
import tempfile
import json
import os
import sys

import numpy as np

TYPES = {"UINT8": np.uint8, "INT8": np.int8, "INT32": np.int32, "FLOAT32": np.float32, "INT64": np.int64}


def load(d, m, i):
    t = m["tensors"][i]
    a = np.fromfile(os.path.join(d, "t%d.bin" % i), dtype=TYPES[t["type"]])
    return a.reshape(t["shape"]) if t["shape"] else a


def dequantize(t, q):
    """The stored values q of tensor t (its model.json entry) as real values, in float64; per-axis
    scales and zero points apply along t["axis"]."""
    a = q.astype(np.float64)
    if t["type"] == "FLOAT32" or not t["scale"]:
        return a
    s = np.array(t["scale"], dtype=np.float64)
    z = np.array(t["zero_point"], dtype=np.float64)
    if len(s) > 1:
        shp = [1] * a.ndim
        shp[t["axis"]] = len(s)
        s, z = s.reshape(shp), z.reshape(shp)
    return (a - z) * s


def deq(d, m, i):
    return dequantize(m["tensors"][i], load(d, m, i))


def quant(m, i, x, act=0):
    t = m["tensors"][i]
    if t["type"] == "FLOAT32":
        return x.astype(np.float32)
    lo, hi = (0, 255) if t["type"] == "UINT8" else (-128, 127)
    s, z = t["scale"][0], t["zero_point"][0]
    if act == 1:
        x = np.maximum(x, 0)
    elif act == 3:
        x = np.clip(x, 0, 6)
    elif act == 2:
        x = np.clip(x, -1, 1)
    q = np.sign(x / s) * np.floor(np.abs(x / s) + 0.5) + z
    return np.clip(q, lo, hi)


def pads(n, k, s, d, same):
    eff = (k - 1) * d + 1
    out = (n + s - 1) // s if same else (n - eff + s) // s
    return out, max((out - 1) * s + eff - n, 0) // 2


def conv(x, w, b, op, depthwise, dtype=np.float64):
    # x [N,H,W,C] float, w [O,KH,KW,I] or [1,KH,KW,O]; sums tap by tap in dtype
    N, H, W, C = x.shape
    KH, KW = w.shape[1], w.shape[2]
    sh, sw = op["stride"]
    dh, dw = op["dilation"]
    same = op["padding"] == 0
    OH, pt = pads(H, KH, sh, dh, same)
    OW, pl = pads(W, KW, sw, dw, same)
    O = w.shape[3] if depthwise else w.shape[0]
    y = np.zeros((N, OH, OW, O), dtype=dtype)
    xp = np.zeros((N, H + 2 * KH * dh + 2 * pt, W + 2 * KW * dw + 2 * pl, C), dtype=dtype)
    xp[:, pt:pt + H, pl:pl + W, :] = x
    for ky in range(KH):
        for kx in range(KW):
            patch = xp[:, ky * dh: ky * dh + (OH - 1) * sh + 1: sh, kx * dw: kx * dw + (OW - 1) * sw + 1: sw, :]
            if depthwise:
                mult = O // C
                y += np.repeat(patch, mult, axis=3) * w[0, ky, kx, :]
            else:
                y += np.tensordot(patch, w[:, ky, kx, :], axes=([3], [1])).astype(dtype)
    return y + (b if b is not None else 0)


def pool(x, op, average):
    N, H, W, C = x.shape
    KH, KW = op["filter"]
    sh, sw = op["stride"]
    same = op["padding"] == 0
    OH, pt = pads(H, KH, sh, 1, same)
    OW, pl = pads(W, KW, sw, 1, same)
    y = np.zeros((N, OH, OW, C))
    for oy in range(OH):
        for ox in range(OW):
            y0, x0 = oy * sh - pt, ox * sw - pl
            win = x[:, max(y0, 0):min(y0 + KH, H), max(x0, 0):min(x0 + KW, W), :]
            y[:, oy, ox, :] = win.mean(axis=(1, 2)) if average else win.max(axis=(1, 2))
    return y


def run_op(d, m, op):
    ins, out = op["inputs"], op["outputs"][0]
    name = op["op"]
    act = op["activation"]
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        b = deq(d, m, ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
        return quant(m, out, conv(deq(d, m, ins[0]), deq(d, m, ins[1]), b, op, name != "CONV_2D"), act)
    if name == "FULLY_CONNECTED":
        w = deq(d, m, ins[1])
        x = deq(d, m, ins[0]).reshape(-1, w.shape[1])
        y = x @ w.T + (deq(d, m, ins[2]) if len(ins) > 2 and ins[2] >= 0 else 0)
        return quant(m, out, y.reshape(m["tensors"][out]["shape"]), act)
    if name == "ADD":
        return quant(m, out, deq(d, m, ins[0]) + deq(d, m, ins[1]), act)
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return quant(m, out, pool(deq(d, m, ins[0]), op, name == "AVERAGE_POOL_2D"), act)
    if name == "MEAN":
        axes = tuple(int(a) for a in load(d, m, ins[1]).reshape(-1))
        return quant(m, out, deq(d, m, ins[0]).mean(axis=axes).reshape(m["tensors"][out]["shape"]))
    if name in ("RESHAPE", "SQUEEZE"):
        return quant(m, out, deq(d, m, ins[0]).reshape(m["tensors"][out]["shape"]))
    if name == "SOFTMAX":
        x = deq(d, m, ins[0]) * op["beta"]
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return quant(m, out, e / e.sum(axis=-1, keepdims=True))
    if name in ("QUANTIZE", "DEQUANTIZE"):
        return quant(m, out, deq(d, m, ins[0]))
    if name == "CONCATENATION":
        return quant(m, out, np.concatenate([deq(d, m, i) for i in ins], axis=op["axis"]), act)
    if name == "PAD":
        p = load(d, m, ins[1]).reshape(-1, 2)
        t = m["tensors"][ins[0]]
        x = load(d, m, ins[0])
        return np.pad(x, p, constant_values=t["zero_point"][0] if t["zero_point"] else 0)
    raise ValueError("no float oracle for " + name)


def main():
    if sys.argv[1] == "--run":
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([sys.argv[2], "tflite", "run", sys.argv[3], "--image", sys.argv[4],
                            "--dump-dir", d], check=True)
            return check(d, 1)
    return check(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)


def check(d, limit):
    m = json.load(open(os.path.join(d, "model.json")))
    worst = 0
    for k, op in enumerate(m["ops"]):
        want = run_op(d, m, op)
        got = load(d, m, op["outputs"][0]).astype(np.float64)
        diff = np.abs(got - want.reshape(got.shape))
        n1 = int((diff >= 1).sum())
        worst = max(worst, float(diff.max()))
        print("%3d %-18s max|diff| %g  (%d of %d elements off by >= 1)" % (k, op["op"], diff.max(), n1, diff.size))
    print("largest difference: %g steps" % worst)
    return 0 if worst <= limit else 1


if __name__ == "__main__":
    sys.exit(main())
