#!/usr/bin/env python3
"""Writes the small seed corpus of tests/fuzz/corpus/<target>/ (a few KB in all).

Seeds are valid or nearly valid inputs of each reader, made with the reference tools (PyTorch,
ONNX, PIL) and the scratchcv CLI, plus the crafted inputs of fixed fuzzing findings. Re-run only
to change the seeds; files added by fuzzing runs are kept beside these.

usage: make_corpus.py path/to/scratchcv
"""
import gzip
import io
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

import numpy as np

CLI = sys.argv[1]
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(p):
    return open(p, "rb").read()


tmp = tempfile.mkdtemp()
try:
    # images: every format, written by our encoder from a small PIL image
    from PIL import Image
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(f"{tmp}/s.png")
    for ext in ("png", "jpg", "bmp", "webp", "tif"):
        subprocess.run([CLI, "blur", "-k", "1", "--quality", "90", f"{tmp}/s.png",
                        f"{tmp}/o.{ext}"], check=True)
        put("image", "tiny." + ext, read(f"{tmp}/o.{ext}"))
    Image.fromarray(rng.integers(0, 256, (5, 9), dtype=np.uint8)).convert("1").save(f"{tmp}/b.bmp")
    put("image", "bilevel.bmp", read(f"{tmp}/b.bmp"))
    Image.fromarray(rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)).save(f"{tmp}/a.webp",
                                                                        lossless=True)
    put("image", "alpha_lossless.webp", read(f"{tmp}/a.webp"))

    # IDX: images and labels, raw and gzip; the header whose product overflowed
    imgs = b"\0\0\x08\x03" + struct.pack(">III", 3, 4, 4) + bytes(range(48))
    labels = b"\0\0\x08\x01" + struct.pack(">I", 3) + bytes([1, 2, 9])
    put("idx", "images.idx", imgs)
    put("idx", "labels.idx", labels)
    put("idx", "images.idx.gz", gzip.compress(imgs, mtime=0))
    put("idx", "overflow_header.idx", b"\0\0\x08\x03" + struct.pack(">III", 16, 1 << 30, 1 << 30))

    # .pth: a tiny state_dict saved by PyTorch; the empty tensor with huge dims
    import torch
    torch.manual_seed(0)
    sd = {"conv1.weight": torch.randn(2, 1, 3, 3), "fc.weight": torch.randn(3, 2),
          "fc.bias": torch.zeros(3, dtype=torch.float64), "steps": torch.tensor(7)}
    torch.save(sd, f"{tmp}/tiny.pth")
    pth = read(f"{tmp}/tiny.pth")
    put("pth", "tiny.pth", pth)
    put("zip", "tiny.pth", pth)
    put("load_model", "tiny.pth", pth)
    with zipfile.ZipFile(f"{tmp}/tiny.pth") as z:
        pkl = [n for n in z.namelist() if n.endswith("data.pkl")][0]
        put("pickle", "tiny_data.pkl", z.read(pkl))
    import pickle
    put("pickle", "protocol2_dict.pkl", pickle.dumps({"a": [1, 2.5, "x", b"y", (None, True)]}, 2))
    t = torch.empty(0).as_strided((0, 2 ** 40, 2 ** 40), (1, 1, 1))
    torch.save({"w": t}, f"{tmp}/zero.pth")
    put("pth", "zero_dim_huge_strides.pth", read(f"{tmp}/zero.pth"))

    # .pth recipes for the structure-aware target
    random.seed(1)
    for i in range(4):
        put("pth_structured", f"recipe{i}", bytes(random.randrange(256) for _ in range(48)))
    put("pth_structured", "zero_dim", bytes([0, 0, 0, 4, 0, 3, 0, 200, 200, 1, 1, 1]))

    # ONNX: Relu, and a Conv + Gemm with initializers
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])
    relu = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                              [x], [y]),
                             opset_imports=[helper.make_opsetid("", 13)])
    put("onnx", "relu.onnx", relu.SerializeToString())
    put("load_model", "relu.onnx", relu.SerializeToString())
    w = numpy_helper.from_array(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "w")
    fw = numpy_helper.from_array(rng.standard_normal((3, 2)).astype(np.float32), "fw")
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3])
    g = helper.make_graph([
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fw"], ["z"], transB=1)], "g", [x], [z], [w, fw])
    put("onnx", "conv_gemm.onnx",
        helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())

    # training checkpoint: a 170-parameter model trained on 3 tiny images
    data = os.path.join(tmp, "mnist")
    os.makedirs(data)
    im28 = b"\0\0\x08\x03" + struct.pack(">III", 3, 28, 28) + bytes(3 * 784)
    for n in ("train", "t10k"):
        open(f"{data}/{n}-images-idx3-ubyte", "wb").write(im28)
        open(f"{data}/{n}-labels-idx1-ubyte", "wb").write(labels)
    open(f"{tmp}/tiny.cfg", "w").write("input 1 28 28\nmaxpool 7\nflatten\nfc 10\n")
    subprocess.run([CLI, "mnist", "train", "--data", data, "--model", f"{tmp}/tiny.cfg",
                    "--epochs", "1", "--batch", "2", "-q", "--out", f"{tmp}/tiny.scv"],
                   check=True, stdout=subprocess.DEVNULL)
    ck = read(f"{tmp}/tiny.scv")
    put("checkpoint", "tiny.scv", ck)
    put("load_model", "tiny.scv", ck)
    put("load_model", "tiny.png", read(f"{tmp}/o.png"))
finally:
    shutil.rmtree(tmp)
total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(ROOT) for f in fs)
print(f"corpus: {total} bytes")
