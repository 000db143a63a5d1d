#!/usr/bin/env python3
"""Golden test: `scratchcv explain`'s gradients and maps vs PyTorch hooks + autograd.

For each architecture: torchvision's model with seeded random weights (batch-norm statistics
randomised too, as in resnet_golden.py), a real photo pre-processed by torchvision, and for the
top classes scratchcv reports:
  - the gradient of the class logit at the Grad-CAM layer (a forward hook on that module) and at
    the input pixels (autograd),
  - Grad-CAM: relu(sum_c mean_hw(dA_c) * A_c), and CAM: sum_c fc.weight[k, c] * layer4[c],
must agree to 1e-4 relative: max |ours - torch| <= 1e-4 * max |torch|. Also runs ONNX export
.
Gradients are piecewise linear: where a ReLU input lies within float rounding of zero (or a
max-pool window holds a near-tie), float32 may take the other side of the kink than PyTorch does.
When the plain comparison fails, the test shows that every differing decision is such a tie
(margin <= 1e-5 of the layer's range, measured in float64) and compares again with PyTorch taking
scratchcv's decisions (ReLU masks and max-pool switches from --dump).

A spec "tflite" checks the bundled TFLite MobileNetV2 the same way: scratchcv's float graph of
it (explain --model FILE) against a PyTorch network built here, op by op, from the model's
operators and dequantized weights as `scratchcv tflite run --dump-dir` lists them (depthwise
convolutions, TFLite's bottom/right SAME padding, ReLU6 as clamp, residual adds, the 1x1-conv
classifier), at the gradients of the top classes at the last feature maps and at the pixels.

usage: explain_torch.py CLI ARCH[:LAYER[:onnx]]|tflite...   e.g. resnet18:layer3 tflite
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

from PIL import Image
from torchvision import transforms

from resnet_golden import PHOTOS, randomised_model

TOL = 1e-4
CROP = 128  # a smaller crop than ImageNet's 224 keeps the test short; the maths is the same


def photo_batch():
    tf = transforms.Compose([
        transforms.Resize(146), transforms.CenterCrop(CROP), transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return tf(Image.open(PHOTOS[0]).convert("RGB"))[None]

TIE = 1e-5  # a decision whose margin is below TIE * max|layer| is a tie that float rounding decides


def rel(got, want):
    scale = float(np.abs(want).max())
    return float(np.abs(got - want).max()) / (scale if scale > 0 else 1.0)


class Decisions:
    """Where the ReLUs and the max pool of a torchvision ResNet take their decisions from:
    'off' (PyTorch's own), 'record' (PyTorch's own, kept for inspection) or 'pin' (scratchcv's
    dumped masks and switches, consumed in call order, which is the graph's node order)."""

    def __init__(self, masks, switches):
        self.mode, self.masks, self.switches = "off", masks, switches
        self.relu, self.pool, self.mo, self.so = [], [], 0, 0


class DecidedReLU(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.d = d

    def forward(self, x):
        d = self.d
        if d.mode == "pin":
            n = x.numel()
            m = torch.from_numpy(d.masks[d.mo:d.mo + n].astype(np.float64)).to(x.dtype)
            d.mo += n
            return x * m.reshape(x.shape)
        if d.mode == "record":
            d.relu.append(x.detach().clone())
        return torch.relu(x)


class DecidedMaxPool(torch.nn.Module):
    def __init__(self, d, mp):
        super().__init__()
        self.d, self.mp = d, mp

    def forward(self, x):
        d, mp = self.d, self.mp
        y, idx = torch.nn.functional.max_pool2d(x, mp.kernel_size, mp.stride, mp.padding,
                                                return_indices=True)
        if d.mode == "pin":
            n = idx.numel()
            ours = torch.from_numpy(d.switches[d.so:d.so + n].astype(np.int64))
            d.so += n
            return x.flatten(2).gather(2, ours.reshape(idx.shape).flatten(2)).reshape(y.shape)
        if d.mode == "record":
            d.pool.append((x.detach().clone(), idx))
        return y


def attach_decisions(model, d):
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.ReLU):
                setattr(parent, name, DecidedReLU(d))
            elif isinstance(child, torch.nn.MaxPool2d):
                setattr(parent, name, DecidedMaxPool(d, child))


def torch_maps(model, x, layer, classes):
    """Logits, the layer's activation, and per class the gradients, Grad-CAM and CAM."""
    acts = {}
    hooks = [dict(model.named_modules())[layer].register_forward_hook(
                 lambda m, i, o: acts.__setitem__("layer", o)),
             model.layer4.register_forward_hook(lambda m, i, o: acts.__setitem__("features", o))]
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    for h in hooks:
        h.remove()
    out = {"logits": logits.detach().numpy(), "layer": acts["layer"].detach().numpy()}
    feats = acts["features"].detach()[0]
    for k in classes:
        da, dx = torch.autograd.grad(logits[0, k], [acts["layer"], xg], retain_graph=True)
        out[f"layer_grad_{k}"] = da.numpy()
        out[f"input_grad_{k}"] = dx.numpy()
        a = acts["layer"].detach()[0]
        alpha = da[0].mean(dim=(1, 2))
        out[f"gradcam_{k}"] = torch.relu((alpha[:, None, None] * a).sum(0)).numpy()
        out[f"cam_{k}"] = torch.einsum("c,chw->hw", model.fc.weight.detach()[k], feats).numpy()
    out[f"saliency_{classes[0]}"] = np.abs(out[f"input_grad_{classes[0]}"][0]).max(axis=0)
    return out, [int(i) for i in torch.argsort(-logits[0])[:len(classes)]]


def run_explain(cli, label, dump, *args):
    """Runs `scratchcv explain ARGS --dump DUMP`; returns (manifest, the dumped arrays by name), or
    None after printing a FAIL line."""
    r = subprocess.run([cli, "explain", *args, "--dump", dump], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL {label}: scratchcv explain exited {r.returncode}: {r.stderr}")
        return None
    man = json.load(open(os.path.join(dump, "manifest.json")))
    ours = {name: np.fromfile(os.path.join(dump, name + ".bin"), dtype="<f4").reshape(shape)
            for name, shape in man["arrays"].items()}
    return man, ours


def check(cli, arch, layer, tmp):
    x = photo_batch()
    model = randomised_model(arch, 4321, x).eval()
    pth = os.path.join(tmp, arch + ".pth")
    torch.save(model.state_dict(), pth)
    xin = os.path.join(tmp, "x.bin")
    x.numpy().astype("<f4").tofile(xin)
    dump = os.path.join(tmp, "dump_" + arch)
    got = run_explain(cli, arch, dump, "--tensor", xin, "--crop", str(CROP), "--resize", str(CROP),
                      "--model", pth, "--classes", "3", "--layer", layer, "--layers=",
                      "--threads", "2")
    if got is None:
        return 1
    man, ours = got
    masks = np.fromfile(os.path.join(dump, "relu_masks.u8"), dtype=np.uint8)
    switches = np.fromfile(os.path.join(dump, "maxpool_switches.i32"), dtype="<i4")

    d = Decisions(masks, switches)
    attach_decisions(model, d)
    want, want_top = torch_maps(model, x, layer, man["classes"])
    if man["classes"] != want_top:
        print(f"FAIL {arch}: top classes {man['classes']} vs PyTorch {want_top}")
        return 1
    errors = {name: rel(ours[name], want[name]) for name in want}
    worst = max(errors, key=errors.get)
    if errors[worst] <= TOL:
        for name, e in errors.items():
            print(f"ok   {arch} {name} (layer {layer}): relative error {e:.2e}")
        return 0
    # A gradient is piecewise linear in the input: where a ReLU input or a max-pool margin sits
    # within float rounding of its kink, float32 (ours, or PyTorch's) may take the other side.
    # Then compare at the same decisions, and show that every differing decision is such a tie.
    print(f"note {arch}: {worst} differs by {errors[worst]:.2e} with PyTorch's own decisions; "
          f"comparing at scratchcv's ReLU masks and max-pool switches")
    model64 = randomised_model(arch, 4321, x).eval().double()
    d64 = Decisions(masks, switches)
    attach_decisions(model64, d64)
    d64.mode = "record"
    with torch.no_grad():
        model64(x.double())
    flips, margin, off = 0, 0.0, 0
    for v in d64.relu:
        n = v.numel()
        theirs = (v.flatten() > 0).numpy()
        mine = masks[off:off + n].astype(bool)
        off += n
        diff = theirs != mine
        if diff.any():
            flips += int(diff.sum())
            margin = max(margin, float(v.flatten().abs().numpy()[diff].max() / v.abs().max()))
    off = 0
    for v, idx in d64.pool:
        n = idx.numel()
        mine = torch.from_numpy(switches[off:off + n].astype(np.int64)).reshape(idx.shape)
        off += n
        diff = mine != idx
        if diff.any():
            flat = v.flatten(2)
            gap = (flat.gather(2, idx.flatten(2)) - flat.gather(2, mine.flatten(2))).abs()
            flips += int(diff.sum())
            margin = max(margin, float(gap.max() / v.abs().max()))
    if flips:
        print(f"     {flips} of scratchcv's decisions differ from float64 PyTorch's, all within "
              f"{margin:.1e} x max|layer| of the kink (ties: <= {TIE:g})")
    else:
        print("     every scratchcv decision agrees with float64 PyTorch's: PyTorch's float32 "
              "forward took the other side of a tie")
    d.mode = "pin"
    d.mo = d.so = 0
    pinned, _ = torch_maps(model, x, layer, man["classes"])
    failures = int(margin > TIE)
    for name in pinned:
        e = rel(ours[name], pinned[name])
        ok = e <= TOL
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {arch} {name} (layer {layer}, same decisions): "
              f"relative error {e:.2e}")
    return failures


SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TFLITE_MODEL = os.path.join(SOURCE, "data", "models", "mobilenet_v2_1.0_224_quant.tflite")


class TfliteNet:
    """The dumped TFLite model as a float PyTorch computation (TFLite semantics, written here)."""

    def __init__(self, dump):
        self.m = json.load(open(os.path.join(dump, "model.json")))
        self.dump = dump

    def real(self, i):
        t = self.m["tensors"][i]
        dt = {"UINT8": np.uint8, "INT8": np.int8, "INT32": np.int32}[t["type"]]
        a = np.fromfile(os.path.join(self.dump, "t%d.bin" % i), dtype=dt).astype(np.float64)
        a = a.reshape(t["shape"])
        s, z = np.array(t["scale"]), np.array(t["zero_point"], dtype=np.float64)
        if len(s) > 1:
            shp = [1] * a.ndim
            shp[t["axis"]] = len(s)
            s, z = s.reshape(shp), z.reshape(shp)
        return (a - z) * s

    def input(self):
        return torch.from_numpy(self.real(self.m["inputs"][0]).transpose(0, 3, 1, 2).copy()).float()

    @staticmethod
    def same_pad(n, k, s, d):
        out = (n + s - 1) // s
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
        return total // 2, total - total // 2  # the odd pixel at the bottom / right

    def conv(self, op, x):
        ts = self.m["tensors"]
        w = self.real(op["inputs"][1])
        dw = op["op"] == "DEPTHWISE_CONV_2D"
        w = w.transpose(3, 0, 1, 2) if dw else w.transpose(0, 3, 1, 2)  # -> [O, I/g, kh, kw]
        sw = np.array(ts[op["inputs"][1]]["scale"])
        b = np.fromfile(os.path.join(self.dump, "t%d.bin" % op["inputs"][2]), dtype=np.int32)
        b = b * ts[op["inputs"][0]]["scale"][0] * (sw if len(sw) > 1 else sw[0])
        kh, kw = w.shape[2], w.shape[3]
        if op["padding"] == 0:
            t_, b_ = self.same_pad(x.shape[2], kh, op["stride"][0], op["dilation"][0])
            l_, r_ = self.same_pad(x.shape[3], kw, op["stride"][1], op["dilation"][1])
            x = torch.nn.functional.pad(x, (l_, r_, t_, b_))
        return torch.nn.functional.conv2d(
            x, torch.from_numpy(w).to(x.dtype), torch.from_numpy(b).to(x.dtype), op["stride"], 0,
            op["dilation"], x.shape[1] if dw else 1)

    def forward(self, x, pin=None, record=None):
        """Returns the logits (the softmax input) and the features (the global pool input).
        ReLU6 takes its gradient decisions from `pin` (scratchcv's clip masks, in op order) when
        given; `record` collects each ReLU6 input."""
        v = {self.m["inputs"][0]: x}
        off = 0
        logits = feats = None
        for op in self.m["ops"]:
            a = v.get(op["inputs"][0])
            kind = op["op"]
            if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                y = self.conv(op, a)
            elif kind == "ADD":
                y = a + v[op["inputs"][1]]
            elif kind in ("AVERAGE_POOL_2D", "MEAN"):  # over the whole map in MobileNetV2
                feats = a
                y = a.mean(dim=(2, 3), keepdim=True)
            elif kind in ("RESHAPE", "SQUEEZE"):
                y = a.reshape(a.shape[0], -1)
            elif kind == "SOFTMAX":
                logits = a
                y = torch.softmax(a, dim=1)
            elif kind in ("QUANTIZE", "DEQUANTIZE"):
                y = a
            else:
                raise ValueError("op " + kind)
            act = op["activation"]
            if act == 3:
                if record is not None:
                    record.append(y.detach().clone())
                if pin is not None:
                    n = y.numel()
                    m = torch.from_numpy(pin[off:off + n].astype(bool)).reshape(y.shape)
                    off += n
                    y = torch.where(m, y, torch.clamp(y, 0, 6).detach())
                else:
                    y = torch.clamp(y, 0, 6)
            elif act == 1:
                y = torch.relu(y)
            v[op["outputs"][0]] = y
        return logits, feats

    def classifier_weight(self):
        for i, op in enumerate(self.m["ops"]):
            if op["op"] in ("AVERAGE_POOL_2D", "MEAN"):
                w = self.real(self.m["ops"][i + 1]["inputs"][1])
                return torch.from_numpy(w.reshape(w.shape[0], -1)).float()


def check_tflite(cli, tmp):
    dump_q = os.path.join(tmp, "tflite_dump")
    os.makedirs(dump_q)
    photo = os.path.join(SOURCE, "data", "sample.jpg")
    r = subprocess.run([cli, "tflite", "run", TFLITE_MODEL, "--image", photo, "--dump-dir",
                        dump_q], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL tflite: scratchcv tflite run exited {r.returncode}: {r.stderr}")
        return 1
    net = TfliteNet(dump_q)
    x = net.input()
    xin = os.path.join(tmp, "x_tflite.bin")
    x.numpy().astype("<f4").tofile(xin)
    dump = os.path.join(tmp, "dump_tflite")
    got = run_explain(cli, "tflite", dump, "--tensor", xin, "--model", TFLITE_MODEL,
                      "--classes", "2", "--layers=", "--threads", "2")
    if got is None:
        return 1
    man, ours = got
    want = tflite_maps(net, x, man["classes"])
    if man["classes"] != want["top"]:
        print(f"FAIL tflite: top classes {man['classes']} vs PyTorch {want['top']}")
        return 1
    errors = {name: rel(ours[name], want[name]) for name in want if name != "top"}
    if max(errors.values()) <= TOL:
        for name, e in errors.items():
            print(f"ok   tflite mobilenet_v2 {name}: relative error {e:.2e}")
        return 0
    # As for the ResNets: show that every ReLU6 decision scratchcv took differently from float64
    # PyTorch is a tie (within rounding of 0 or 6), then compare at scratchcv's decisions.
    worst = max(errors, key=errors.get)
    print(f"note tflite: {worst} differs by {errors[worst]:.2e} with PyTorch's own decisions; "
          "comparing at scratchcv's ReLU6 decisions")
    clips = np.fromfile(os.path.join(dump, "clip_masks.u8"), dtype=np.uint8)
    rec = []
    with torch.no_grad():
        net.forward(x.double(), record=rec)
    flips, margin, off = 0, 0.0, 0
    for v in rec:
        n = v.numel()
        flat = v.flatten().numpy()
        theirs = (flat >= 0) & (flat <= 6)
        mine = clips[off:off + n].astype(bool)
        off += n
        diff = theirs != mine
        if diff.any():
            flips += int(diff.sum())
            dist = np.minimum(np.abs(flat[diff]), np.abs(flat[diff] - 6))
            margin = max(margin, float(dist.max() / np.abs(flat).max()))
    print(f"     {flips} of scratchcv's ReLU6 decisions differ from float64 PyTorch's, all "
          f"within {margin:.1e} x max|layer| of 0 or 6 (ties: <= {TIE:g})")
    pinned = tflite_maps(net, x, man["classes"], clips)
    failures = int(margin > TIE)
    for name in errors:
        e = rel(ours[name], pinned[name])
        failures += e > TOL
        print(f"{'ok  ' if e <= TOL else 'FAIL'} tflite mobilenet_v2 {name} (same decisions): "
              f"relative error {e:.2e}")
    return failures


def tflite_maps(net, x, classes, pin=None):
    """Logits, features and per class the gradients, Grad-CAM and CAM of the TFLite network."""
    xg = x.clone().requires_grad_(True)
    logits, feats = net.forward(xg, pin)
    want = {"logits": logits.detach().numpy(), "layer": feats.detach().numpy()}
    want["top"] = top = [int(i) for i in torch.argsort(-logits[0])[:len(classes)]]
    wc = net.classifier_weight()
    for k in classes:
        da, dx = torch.autograd.grad(logits[0, k], [feats, xg], retain_graph=True)
        want[f"layer_grad_{k}"], want[f"input_grad_{k}"] = da.numpy(), dx.numpy()
        alpha = da[0].mean(dim=(1, 2))
        want[f"gradcam_{k}"] = torch.relu((alpha[:, None, None] * feats.detach()[0]).sum(0)).numpy()
        want[f"cam_{k}"] = torch.einsum("c,chw->hw", wc[k], feats.detach()[0]).numpy()
    want[f"saliency_{classes[0]}"] = np.abs(want[f"input_grad_{classes[0]}"][0]).max(axis=0)
    return want


def main():
    cli = sys.argv[1]
    torch.set_num_threads(2)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for spec in sys.argv[2:]:
            if spec == "tflite":
                failures += check_tflite(cli, tmp)
                continue
            arch, _, layer = spec.partition(":")
            failures += check(cli, arch, layer or "layer4", tmp)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
