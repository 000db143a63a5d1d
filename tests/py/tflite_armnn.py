#!/usr/bin/env python3
"""scratchcv's quantized TFLite engine against Arm NN (Debian python3-pyarmnn, CpuRef backend).

For each shipped model and each photo: scratchcv pre-processes the photo and saves the exact
uint8 input tensor; Arm NN's TfLiteParser + CpuRef runs that same tensor; scratchcv runs it with
the reference kernels and with the best fast kernels (1 and 2 threads), which must give the
reference kernels' bytes exactly. It also checks the bundled model's top-1 on each photo against
what a person sees (a cat photo -> a cat class).

Agreement with Arm NN (numbers and the investigation: docs/tflite.md, "Agreement with Arm NN";
tool: tflite_armnn_layers.py). CpuRef computes every layer in float32 and rounds each output
once; scratchcv computes TFLite's integer arithmetic with single rounding, which equals the
exactly rounded real result almost everywhere. Given the same layer input the two agree within
one step on every element of every layer, and exactly on all but ~37 of 6.9 million elements
(float32 rounding near .5 in CpuRef); but a one-step difference at a layer's input moves its
output by up to |w| * s_in / s_out steps, so those few differences grow along the 65 layers (to
~70 steps in late layers, 2-3 steps at the logits). No requantization mode removes that: the
exactly rounded float64 network differs from Arm NN as much, TFLite's double rounding more.
What is checked:
  - per layer (the live run of the bundled model on the sample photo, in Arm NN's debug mode,
    every layer's output; tflite_armnn_layers.py does the same for any model):
    each operator recomputed with scratchcv's arithmetic from Arm NN's own input tensors is
    within one step of Arm NN's output on every element, and differs on at most 1e-5 of them;
  - end to end (6 photos, both models): top-1 and top-5 identical up to ties (one runtime's
    top-k is also a top-k of the other's output: eagle.jpg gives kite and bald eagle the same
    0.359 in the uint8 model), outputs within 16 steps everywhere and 0.1 steps on average
    (measured: at most 12 and 0.03).

Arm NN's CpuRef takes ~10 s per image, so its outputs for all photos are stored in
tests/data/tflite_armnn/ (1001 bytes each, with the SHA-256 of the input tensor they were made
from) and regenerated with --regen; every run still runs Arm NN live on the sample photo for each
model, to show the stored outputs are Arm NN's.

Usage: tflite_armnn.py SCRATCHCV_BINARY MODELS_DIR BUNDLED_MODELS_DIR [--regen]
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SK = "/usr/lib/python3/dist-packages/skimage/data"
DK = "/usr/share/darknet/data"
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Photo -> the top-1 (1001-class index, background at 0) a person agrees with.
PHOTOS = [
    (os.path.join(SOURCE, "data", "sample.jpg"), {282, 283, 284, 285, 286}),  # a cat
    (os.path.join(SK, "chelsea.png"), {282, 283, 284, 285, 286, 287, 288}),  # tabby/tiger/Persian/Siamese/Egyptian cat
    (os.path.join(SK, "coffee.png"), {968, 969}),  # cup, espresso
    (os.path.join(DK, "dog.jpg"), set(range(152, 270))),  # a dog breed
    (os.path.join(DK, "eagle.jpg"), {22, 23}),  # kite, bald eagle (tied at 0.359 in uint8)
    (os.path.join(SK, "astronaut.png"), None),
]


def armnn_run(model, raw):
    import pyarmnn as ann
    parser = ann.ITfLiteParser()
    net = parser.CreateNetworkFromBinaryFile(model)
    inp = parser.GetSubgraphInputTensorNames(0)[0]
    out = parser.GetSubgraphOutputTensorNames(0)[0]
    ib = parser.GetNetworkInputBindingInfo(0, inp)
    ob = parser.GetNetworkOutputBindingInfo(0, out)
    rt = ann.IRuntime(ann.CreationOptions())
    opt, _ = ann.Optimize(net, [ann.BackendId("CpuRef")], rt.GetDeviceSpec(), ann.OptimizerOptions())
    nid, _ = rt.LoadNetwork(opt)
    x = np.frombuffer(raw, dtype=np.uint8).reshape(1, 224, 224, 3)
    inputs = ann.make_input_tensors([ib], [x])
    outputs = ann.make_output_tensors([ob])
    rt.EnqueueWorkload(nid, inputs, outputs)
    return ann.workload_tensors_to_ndarray(outputs)[0].reshape(-1)


def check_layers(model, raw_in, dump, failures):
    """The live Arm NN run, in debug mode: every layer's output. Each operator recomputed with
    scratchcv's arithmetic (TFLite integer, single rounding) from Arm NN's own input tensors must
    give Arm NN's output within one step on every element. Returns Arm NN's network output."""
    import tflite_armnn_layers as layers_mod
    txt = os.path.join(os.path.dirname(dump), "armnn_debug.txt")
    layers = layers_mod.armnn_layers(model, raw_in, txt)
    net = layers_mod.Net(dump)
    x = np.fromfile(raw_in, dtype=np.int8 if net.t(net.m["inputs"][0])["type"] == "INT8" else np.uint8)
    arm = layers_mod.armnn_tensors(net, layers, x.reshape(net.t(net.m["inputs"][0])["shape"]))
    n_layers = n_exact = off = total = 0
    for k, op, _, ((mx, n0, n1, n),) in layers_mod.per_layer(net, arm, ["int1"]):
        n_layers += 1
        n_exact += mx == 0
        off += n0
        total += n
        if mx > 1:
            failures.append("%s operator %d (%s): %d elements off by > 1 step from Arm NN on Arm NN's "
                            "own inputs (max %d)" % (os.path.basename(model), k, op["op"], n1, mx))
    print("%s: per layer on Arm NN's inputs: %d of %d layers identical, the rest within 1 step "
          "(%d of %d elements off by one)" % (os.path.basename(model), n_exact, n_layers, off, total))
    if off > 1e-5 * total:
        failures.append("%s: %d of %d elements differ from Arm NN on Arm NN's inputs" % (
            model, off, total))
    if n_layers < len(net.m["ops"]) - 2:
        failures.append("%s: only %d layers matched to Arm NN's debug output" % (model, n_layers))
    os.remove(txt)
    out = np.fromfile(txt + ".out", dtype=np.uint8)
    return out.astype(np.int32)


def is_top(classes, y):
    """True if `classes` are a top-len(classes) of y with ties broken some way: none of them is
    below a class left out."""
    rest = np.delete(y, list(classes))
    return min(y[c] for c in classes) >= (rest.max() if rest.size else -1)


def same_top(ours, theirs, k):
    # Identical top-k up to ties: one runtime's top-k is also a top-k of the other's output.
    return is_top(top5(ours)[:k], theirs) or is_top(top5(theirs)[:k], ours)


def top5(y):
    # Highest first; equal values ordered by index so that ties do not reorder.
    return [int(i) for i in sorted(range(len(y)), key=lambda i: (-int(y[i]), i))[:5]]


GOLDEN = os.path.join(SOURCE, "tests", "data", "tflite_armnn")


def main():
    cli, models_dir, bundled_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    regen = "--regen" in sys.argv[4:]
    models = [os.path.join(bundled_dir, "mobilenet_v2_1.0_224_quant.tflite"),
              os.path.join(models_dir, "tf2_mobilenet_v2_1.0_224_ptq.tflite")]
    failures = []
    tmp = tempfile.mkdtemp()
    for model in models:
        if not os.path.exists(model):
            print("SKIP (missing):", model)
            continue
        for k, (photo, expected) in enumerate(PHOTOS):
            raw_in = os.path.join(tmp, "in.u8")
            outs = {}
            for tag, extra in [("ref", ["--isa", "ref"]), ("fast1", ["--threads", "1"]),
                               ("fast2", ["--threads", "2"])]:
                o = os.path.join(tmp, tag + ".u8")
                cmd = [cli, "tflite", "run", model, "--image", photo, "--output", o] + extra
                if tag == "ref":
                    cmd += ["--save-input", raw_in]
                    if k == 0:
                        os.makedirs(os.path.join(tmp, "dump"), exist_ok=True)
                        cmd += ["--dump-dir", os.path.join(tmp, "dump")]
                subprocess.run(cmd, check=True)
                outs[tag] = np.fromfile(o, dtype=np.uint8)
            ours = outs["ref"]
            for tag in ("fast1", "fast2"):
                if not np.array_equal(outs[tag], ours):
                    failures.append("%s %s: %s kernels differ from the reference in %d elements" % (
                        os.path.basename(model), os.path.basename(photo), tag,
                        int((outs[tag] != ours).sum())))
            raw = open(raw_in, "rb").read()
            digest = hashlib.sha256(raw).hexdigest()
            stem = os.path.join(GOLDEN, "%s.%s" % (os.path.basename(model).split(".tflite")[0],
                                                    os.path.splitext(os.path.basename(photo))[0]))
            if regen:
                os.makedirs(GOLDEN, exist_ok=True)
                armnn_run(model, raw).astype(np.uint8).tofile(stem + ".u8")
                open(stem + ".sha256", "w").write(digest + "\n")
            if open(stem + ".sha256").read().strip() != digest:
                failures.append("%s: the input tensor changed since the Arm NN output was stored "
                                "(pre-processing changed?); rerun with --regen" % stem)
                continue
            theirs = np.fromfile(stem + ".u8", dtype=np.uint8).astype(np.int32)
            if k == 0 and not regen:
                # Per layer on the bundled model (the debug run costs ~1 CPU-minute more).
                if model.startswith(bundled_dir):
                    live = check_layers(model, raw_in, os.path.join(tmp, "dump"), failures)
                else:
                    live = armnn_run(model, raw).astype(np.int32)
                if not np.array_equal(live, theirs):
                    failures.append("%s: Arm NN now gives other output than stored" % stem)
            diff = int(np.abs(ours.astype(np.int32) - theirs).max())
            t_ours, t_theirs = top5(ours), top5(theirs)
            print("%-40s %-16s max|diff| %d  top5 %s  armnn %s" % (
                os.path.basename(model), os.path.basename(photo), diff, t_ours, t_theirs))
            mean = float(np.abs(ours.astype(np.int32) - theirs).mean())
            if diff > 16 or mean > 0.1:
                failures.append("%s %s: max difference %d steps, mean %.3f" % (model, photo, diff, mean))
            for k_top in (1, 5):
                if not same_top(ours.astype(np.int32), theirs, k_top):
                    failures.append("%s %s: top-%d %s vs Arm NN %s differ beyond ties" % (
                        model, photo, k_top, t_ours[:k_top], t_theirs[:k_top]))
            if expected is not None and t_ours[0] not in expected:
                failures.append("%s %s: top-1 %d not in %s" % (model, photo, t_ours[0], sorted(expected)))
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
