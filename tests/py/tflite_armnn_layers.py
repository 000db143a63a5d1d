#!/usr/bin/env python3
"""Where and why scratchcv's quantized engine and Arm NN (CpuRef) differ, layer by layer.

For one model and one photo:
  1. Arm NN 22 (python3-pyarmnn, CpuRef) runs the input with OptimizerOptions.m_Debug, which
     prints every layer's output tensor; scratchcv runs it with --dump-dir (every tensor).
  2. End to end, per layer: how far scratchcv's tensor is from Arm NN's.
  3. Same input, per layer: each operator recomputed from *Arm NN's* input tensors in several
     arithmetics and compared with Arm NN's output:
       int1  TFLite integer arithmetic, single rounding (scratchcv's default, bit for bit)
       int2  TFLite integer arithmetic, double rounding (TFLite's default build)
       f64   dequantize, float64, quantize rounding half away from zero (the exact real result)
       f32   the same in float32 (what CpuRef does, up to summation order)
  4. End to end per arithmetic: the whole network chained in each arithmetic from the input,
     compared with Arm NN's output (and int1 with scratchcv's, as a check of the simulation).

Usage: tflite_armnn_layers.py SCRATCHCV MODEL IMAGE [--keep DIR]
(tests/py/tflite_armnn.py uses per_layer() on its live Arm NN run.)
Needs /usr/bin/python3 with numpy and pyarmnn. Arm NN's debug print of MobileNetV2 is ~50 MB
of text and CpuRef takes ~1-2 minutes here.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite_float_oracle as oracle  # noqa: E402  (conv, pool, pads, dequantize)

CHILD = r'''
import sys, numpy as np, pyarmnn as ann
model, raw = sys.argv[1], open(sys.argv[2], "rb").read()
p = ann.ITfLiteParser()
net = p.CreateNetworkFromBinaryFile(model)
ib = p.GetNetworkInputBindingInfo(0, p.GetSubgraphInputTensorNames(0)[0])
ob = p.GetNetworkOutputBindingInfo(0, p.GetSubgraphOutputTensorNames(0)[0])
rt = ann.IRuntime(ann.CreationOptions())
oo = ann.OptimizerOptions()
oo.m_Debug = True
opt, _ = ann.Optimize(net, [ann.BackendId("CpuRef")], rt.GetDeviceSpec(), oo)
nid, _ = rt.LoadNetwork(opt)
dt = np.int8 if ib[1].GetDataType() == ann.DataType_QAsymmS8 else np.uint8
x = np.frombuffer(raw, dtype=dt).reshape([ib[1].GetShape()[i] for i in range(4)])
outs = ann.make_output_tensors([ob])
rt.EnqueueWorkload(nid, ann.make_input_tensors([ib], [x]), outs)
y = ann.workload_tensors_to_ndarray(outs)[0].reshape(-1)
y.astype(np.int8 if y.dtype == np.int8 else np.uint8).tofile(sys.argv[3])
'''


def armnn_layers(model, raw_path, out_txt):
    """Runs Arm NN in debug mode: {layer name: output tensor}; the network output goes to
    out_txt + ".out" (raw bytes)."""
    with open(out_txt, "w") as f:
        subprocess.run(["/usr/bin/python3", "-c", CHILD, model, raw_path, out_txt + ".out"],
                       stdout=f, stderr=subprocess.DEVNULL, check=True)
    text = open(out_txt).read()
    layers = {}
    for chunk in text.split('{ "layerGuid"')[1:]:
        obj = json.loads('{ "layerGuid"' + chunk[:chunk.rfind("}") + 1])
        layers[obj["layerName"]] = np.array(obj["data"])
    return layers


def quantize_multiplier(m):
    if m == 0:
        return 0, 0
    frac, shift = np.frexp(m)
    q = int(round(frac * (1 << 31)))
    if q == 1 << 31:
        q //= 2
        shift += 1
    return q, int(shift)


def mul_single(acc, q, shift):
    total = 31 - shift
    return (acc * q + (1 << (total - 1))) >> total


def mul_double(acc, q, shift):
    left, right = max(shift, 0), max(-shift, 0)
    x = (acc << left).astype(np.int64)
    x = ((x + (1 << 31)) % (1 << 32) - (1 << 31))  # int32 wrap as TFLite
    ab = x * q
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    hi = ab + nudge
    hi = np.where(hi >= 0, hi >> 31, -((-hi) >> 31))  # C truncating division by 2^31
    if right == 0:
        return hi
    mask = (1 << right) - 1
    rem = hi & mask
    thr = (mask >> 1) + (hi < 0)
    return (hi >> right) + (rem > thr)


class Net:
    """The model's tensors and operators from scratchcv's model.json, with constants from the
    dump directory."""

    def __init__(self, dump):
        self.d = dump
        self.m = json.load(open(os.path.join(dump, "model.json")))
        for t in self.m["tensors"]:  # the exact float32 values (printed with 9 digits)
            t["scale"] = [float(np.float32(v)) for v in t["scale"]]

    def t(self, i):
        return self.m["tensors"][i]

    def const(self, i):
        return oracle.load(self.d, self.m, i)

    def qrange(self, i, act):
        t = self.t(i)
        lo, hi = (0, 255) if t["type"] == "UINT8" else (-128, 127)
        s, z = t["scale"][0], t["zero_point"][0]
        qz = lambda f: z + int(round(f / s))
        if act in (1, 3):
            lo = max(lo, qz(0.0))
        if act == 3:
            hi = min(hi, qz(6.0))
        if act == 2:
            lo, hi = max(lo, qz(-1.0)), min(hi, qz(1.0))
        return lo, hi


def deq(net, i, q):
    return oracle.dequantize(net.t(i), q)


def quant_round(net, i, real, act, dtype=np.float64):
    t = net.t(i)
    s, z = dtype(t["scale"][0]), t["zero_point"][0]
    v = (real.astype(dtype) / s).astype(np.float64)
    q = np.sign(v) * np.floor(np.abs(v) + 0.5) + z
    lo, hi = net.qrange(i, act)
    return np.clip(q, lo, hi)


def run_op(net, op, get, mode):
    """Output of `op` (integer array) from the input tensors given by get(i), in `mode`."""
    ins, out, name, act = op["inputs"], op["outputs"][0], op["op"], op["activation"]
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and mode.startswith("int"):
        x, w = get(ins[0]), net.const(ins[1])
        tx, tw, ty = net.t(ins[0]), net.t(ins[1]), net.t(out)
        b = net.const(ins[2]).astype(np.float64) if len(ins) > 2 and ins[2] >= 0 else 0
        zw = np.array(tw["zero_point"], dtype=np.float64)
        sw = np.array(tw["scale"], dtype=np.float64)
        xi = x.astype(np.float64) - tx["zero_point"][0]
        if name == "FULLY_CONNECTED":
            wi = w.astype(np.float64) - (zw.reshape(-1, 1) if len(zw) > 1 else zw[0])
            acc = xi.reshape(-1, w.shape[1]) @ wi.T + b
            acc = acc.reshape(ty["shape"])
        else:
            dw = name == "DEPTHWISE_CONV_2D"
            axis = 3 if dw else 0
            shp = [1, 1, 1, 1]
            shp[axis] = -1
            wi = w.astype(np.float64) - (zw.reshape(shp) if len(zw) > 1 else zw[0])
            acc = oracle.conv(xi, wi, b, op, dw)  # exact: integers below 2^53
        acc = acc.astype(np.int64)
        oc = acc.shape[-1]
        sws = sw if len(sw) > 1 else np.full(oc, sw[0])
        y = np.empty_like(acc)
        for o in range(oc):
            qm, sh = quantize_multiplier(tx["scale"][0] * sws[o] / ty["scale"][0])
            f = mul_single if mode == "int1" else mul_double
            y[..., o] = f(acc[..., o], qm, sh)
        lo, hi = net.qrange(out, act)
        return np.clip(y + ty["zero_point"][0], lo, hi)
    if name == "ADD" and mode.startswith("int"):
        ta, tb, ty = net.t(ins[0]), net.t(ins[1]), net.t(out)
        f = mul_single if mode == "int1" else mul_double
        twice = 2.0 * max(ta["scale"][0], tb["scale"][0])
        m1, m2 = quantize_multiplier(ta["scale"][0] / twice), quantize_multiplier(tb["scale"][0] / twice)
        mo = quantize_multiplier(twice / ((1 << 20) * ty["scale"][0]))
        a = (get(ins[0]).astype(np.int64) - ta["zero_point"][0]) << 20
        c = (get(ins[1]).astype(np.int64) - tb["zero_point"][0]) << 20
        y = f(f(a, *m1) + f(c, *m2), *mo) + ty["zero_point"][0]
        return np.clip(y, *net.qrange(out, act))
    if name == "MEAN" and mode.startswith("int"):
        tx, ty = net.t(ins[0]), net.t(out)
        f = mul_single if mode == "int1" else mul_double
        x = get(ins[0]).astype(np.int64)
        hw = x.shape[1] * x.shape[2]
        if tx["type"] == "INT8":  # reference_integer_ops::Mean
            acc = f((x - tx["zero_point"][0]).sum(axis=(1, 2)), *quantize_multiplier(
                tx["scale"][0] / ty["scale"][0]))
            acc = np.where(acc > 0, (acc + hw // 2) // hw, -((-acc + hw // 2) // hw))
            y = acc + ty["zero_point"][0]
        else:  # reference_ops::Mean (uint8)
            temp = np.float32(tx["zero_point"][0]) * np.float32(tx["scale"][0]) / np.float32(ty["scale"][0])
            bias = ty["zero_point"][0] - int(temp + 0.5 if temp > 0 else temp - 0.5)
            real = np.float32(tx["scale"][0]) / (np.float32(hw) * np.float32(ty["scale"][0]))
            y = f(x.sum(axis=(1, 2)), *quantize_multiplier(float(real))) + bias
        return np.clip(y, *net.qrange(out, 0)).reshape(ty["shape"])
    if name == "AVERAGE_POOL_2D" and mode.startswith("int"):
        x = get(ins[0]).astype(np.int64)  # TFLite: (sum + count / 2) / count, in-bounds taps
        N, H, W, C = x.shape
        KH, KW = op["filter"]
        sh, sw = op["stride"]
        OH, pt = oracle.pads(H, KH, sh, 1, op["padding"] == 0)
        OW, pl = oracle.pads(W, KW, sw, 1, op["padding"] == 0)
        tot = np.zeros((N, OH, OW, C), dtype=np.int64)
        cnt = np.ones((N, OH, OW, 1), dtype=np.int64)
        signed = net.t(ins[0])["type"] == "INT8"
        for oy in range(OH):
            for ox in range(OW):
                y0, x0 = oy * sh - pt, ox * sw - pl
                win = x[:, max(y0, 0):min(y0 + KH, H), max(x0, 0):min(x0 + KW, W), :]
                tot[:, oy, ox, :] = win.sum(axis=(1, 2))
                cnt[:, oy, ox, :] = win.shape[1] * win.shape[2]
        if signed:
            y = np.where(tot > 0, (tot + cnt // 2) // cnt, -((-tot + cnt // 2) // cnt))
        else:
            y = (tot + cnt // 2) // cnt
        return np.clip(y, *net.qrange(out, act))
    if name in ("RESHAPE", "SQUEEZE"):
        return get(ins[0]).reshape(net.t(out)["shape"])
    if name == "PAD":
        p = net.const(ins[1]).reshape(-1, 2)
        return np.pad(get(ins[0]), p, constant_values=net.t(ins[0])["zero_point"][0])
    # Everything else (and every op in f64 / f32): dequantize, compute, round half away.
    dt = np.float32 if mode == "f32" else np.float64
    X = lambda i: deq(net, i, get(i)).astype(dt)
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        w = deq(net, ins[1], net.const(ins[1])).astype(dt)
        b = deq(net, ins[2], net.const(ins[2])).astype(dt) if len(ins) > 2 and ins[2] >= 0 else None
        y = oracle.conv(X(ins[0]), w, b, op, name != "CONV_2D", dt)  # float32: CpuRef-like
        return quant_round(net, out, y, act, dt)
    if name == "FULLY_CONNECTED":
        w = deq(net, ins[1], net.const(ins[1])).astype(dt)
        b = deq(net, ins[2], net.const(ins[2])).astype(dt) if len(ins) > 2 and ins[2] >= 0 else 0
        y = X(ins[0]).reshape(-1, w.shape[1]) @ w.T + b
        return quant_round(net, out, y.reshape(net.t(out)["shape"]), act, dt)
    if name == "ADD":
        return quant_round(net, out, X(ins[0]) + X(ins[1]), act, dt)
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return quant_round(net, out, oracle.pool(X(ins[0]), op, name == "AVERAGE_POOL_2D"), act, dt)
    if name == "MEAN":
        axes = tuple(int(a) for a in net.const(ins[1]).reshape(-1))
        return quant_round(net, out, X(ins[0]).mean(axis=axes).reshape(net.t(out)["shape"]), 0, dt)
    if name == "SOFTMAX":
        x = X(ins[0]) * op["beta"]
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return quant_round(net, out, e / e.sum(axis=-1, keepdims=True), 0, dt)
    if name in ("QUANTIZE", "DEQUANTIZE", "CONCATENATION"):
        v = np.concatenate([X(i) for i in ins], axis=op["axis"]) if name == "CONCATENATION" else X(ins[0])
        return quant_round(net, out, v, act, dt)
    raise ValueError(name)


def arm_output_of(layers, k):
    # TfLiteParser names layers "<Type>:0:<operator index>", a fused activation "...:RELU6".
    names = [n for n in layers if re.search(r":0:%d(:[A-Z0-9_]+)?$" % k, n)]
    if not names:
        return None
    names.sort(key=len)
    return layers[names[-1]]


def per_layer(net, arm, modes):
    """For every operator whose activation inputs and output Arm NN printed: the operator
    recomputed from Arm NN's inputs in each mode, against Arm NN's output. Yields (index, op,
    Arm NN's output, [stats per mode])."""
    produced = {p["outputs"][0] for p in net.m["ops"]} | set(net.m["inputs"])
    const = lambda i: oracle.load(net.d, net.m, i)
    for k, op in enumerate(net.m["ops"]):
        o = op["outputs"][0]
        acts = [i for i in op["inputs"] if i in produced]
        if o not in arm or any(i not in arm for i in acts):
            continue
        get = lambda i: arm[i] if i in arm else const(i)
        yield k, op, arm[o], [stats(run_op(net, op, get, m), arm[o]) for m in modes]


def armnn_tensors(net, layers, x):
    """Arm NN's layer outputs by TFLite tensor id (the model input: x)."""
    arm = {net.m["inputs"][0]: x}
    for k, op in enumerate(net.m["ops"]):
        a = arm_output_of(layers, k)
        if a is not None:
            arm[op["outputs"][0]] = a.reshape(net.t(op["outputs"][0])["shape"])
    return arm


def stats(a, b):
    d = np.abs(a.astype(np.int64).reshape(-1) - b.astype(np.int64).reshape(-1))
    return int(d.max()), int((d > 0).sum()), int((d > 1).sum()), d.size


def main():
    cli, model, image = sys.argv[1:4]
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    tmp = keep or tempfile.mkdtemp()
    dump = os.path.join(tmp, "dump")
    os.makedirs(dump, exist_ok=True)
    raw = os.path.join(tmp, "in.raw")
    subprocess.run([cli, "tflite", "run", model, "--image", image, "--dump-dir", dump,
                    "--save-input", raw, "--isa", "ref"], check=True, stdout=subprocess.DEVNULL)
    net = Net(dump)
    layers = armnn_layers(model, raw, os.path.join(tmp, "armnn_debug.txt"))
    ours = lambda i: oracle.load(dump, net.m, i)
    x_in = net.m["inputs"][0]
    arm = armnn_tensors(net, layers, ours(x_in))

    modes = ["int1", "int2", "f64", "f32"]
    print("%-3s %-18s %-22s | same input as Arm NN: max|diff| (elements off by >1) per arithmetic" % (
        "op", "", "end to end vs Arm NN"))
    print("%-3s %-18s %-22s | %s" % ("", "", "max  n>0  n>1", "  ".join("%-12s" % m for m in modes)))
    for k, op, arm_out, cells in per_layer(net, arm, modes):
        e2e = stats(ours(op["outputs"][0]), arm_out)
        print("%-3d %-18s %-3d %6d %5d    | %s" % (k, op["op"], e2e[0], e2e[1], e2e[2],
                                                  " ".join("%-3d (%5d)   " % (c[0], c[2]) for c in cells)))

    print("\nwhole network chained in each arithmetic from the same input:")
    final = net.m["outputs"][0]
    soft = [op for op in net.m["ops"] if op["op"] == "SOFTMAX"]
    logits = soft[-1]["inputs"][0] if soft else final
    for mode in modes:
        vals = {x_in: ours(x_in)}
        for op in net.m["ops"]:
            vals[op["outputs"][0]] = run_op(net, op, lambda i: vals[i] if i in vals else ours(i), mode)
        y = vals[final]
        mx, n0, n1, n = stats(y, arm[final])
        self_mx = stats(y, ours(final))[0]
        top = lambda v: list(np.argsort(-v.reshape(-1).astype(np.int64), kind="stable")[:5])
        lg = stats(vals[logits], arm[logits]) if logits in arm else (-1, -1, -1, 0)
        worst = max(stats(vals[o], arm[o])[0] for o in vals if o in arm)
        print("  %-5s vs Arm NN: output max %2d steps (%4d of %d differ, %3d by >1), logits max %d "
              "(%d by >1), any layer max %d; top-5 %s (Arm NN %s); vs scratchcv output max %d" % (
                  mode, mx, n0, n, n1, lg[0], lg[2], worst, top(y), top(arm[final]), self_mx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
