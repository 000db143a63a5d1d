#!/usr/bin/env python3
"""Generates the torch.save checkpoints used by tests/test_pth*.cpp.

usage: pth_make.py OUTDIR

For each checkpoint <name>.pth that should load, writes the expected tensors beside it:
  <name>.txt  one line per tensor, in checkpoint order: "<name> <rank> <dim0> <dim1> ..."
  <name>.bin  the tensors' values as float32 little-endian, contiguous, concatenated
(names are those after unwrapping {'state_dict': ...} and stripping 'module.').
Also writes inputs that must fail: legacy.pth, deflated.pth, text.pth, fullmodel.pth,
script.pt, expanded.pth. Deterministic (fixed seeds).
"""
import io
import math
import os
import sys
import zipfile
from collections import OrderedDict

import torch
import torchvision


def dump(sd, base):
    with open(base + ".txt", "w") as txt, open(base + ".bin", "wb") as binf:
        for name, t in sd.items():
            name = name[len("module."):] if name.startswith("module.") else name
            t = t.detach()
            txt.write(" ".join([name, str(t.dim())] + [str(d) for d in t.shape]) + "\n")
            binf.write(t.float().contiguous().numpy().tobytes())


def small_model():
    torch.manual_seed(3)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                            torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        m[1].running_mean.normal_()
        m[1].running_var.uniform_(0.5, 2.0)
        m[1].num_batches_tracked.fill_(12345)
    return m


def resnet18(out):
    torch.manual_seed(0)
    m = torchvision.models.resnet18()
    with torch.no_grad():
        for name, t in m.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.randn_like(t))
            else:
                t.fill_(1000 + len(name))
    sd = m.state_dict()
    torch.save(sd, os.path.join(out, "resnet18.pth"))
    dump(sd, os.path.join(out, "resnet18"))


def special():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(4, 6, generator=g)
    shared = torch.arange(30, dtype=torch.float32) * 0.5
    nan, inf = float("nan"), float("inf")
    sd = OrderedDict()
    sd["transposed"] = base.t()                                    # stride (1, 6)
    sd["permuted"] = torch.randn(2, 3, 4, 5, generator=g).permute(0, 2, 3, 1)
    sd["sliced"] = base[1:, ::2]                                   # offset 6, stride (6, 2)
    sd["shared_a"] = shared[3:9]                                   # offset 3
    sd["shared_b"] = shared[10:30].view(4, 5)                      # offset 10, same storage
    sd["shared_c"] = shared.view(5, 6)[1:4, 2:5].t()               # offset + non-contiguous
    sd["f64"] = torch.randn(3, 5, dtype=torch.float64, generator=g)
    sd["f64_t"] = torch.randn(3, 4, dtype=torch.float64, generator=g).t()
    sd["f16"] = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6e-8, -3e-6, 1e-5, 0.1, inf, -inf,
                              nan], dtype=torch.float16)
    sd["bf16"] = torch.randn(7, generator=g).bfloat16()
    sd["i64"] = torch.tensor([0, -1, 5, 2**40 + 12345, -(2**53) - 3, 2**62 + 999],
                             dtype=torch.int64)
    sd["i32"] = torch.tensor([[1, -2, 3], [2**31 - 1, -(2**31), 7]], dtype=torch.int32)
    sd["i16"] = torch.tensor([-32768, 32767, 5], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127, -1], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 255, 17], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["size1"] = torch.randn(1, 5, generator=g).t()               # (5, 1) stride (1, 5)
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))
    return sd


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    resnet18(out)

    sd = special()
    torch.save(sd, os.path.join(out, "special.pth"))   # top folder "special/"
    dump(sd, os.path.join(out, "special"))
    buf = io.BytesIO()
    torch.save(sd, buf)                                 # top folder "archive/"
    with open(os.path.join(out, "special_archive.pth"), "wb") as f:
        f.write(buf.getvalue())
    assert math.isnan(sd["f16"][-1].item())

    m = small_model()
    small = m.state_dict()
    torch.save(small, os.path.join(out, "small.pth"))
    dump(small, os.path.join(out, "small"))
    wrapped = {"epoch": 7,
               "state_dict": OrderedDict(("module." + k, v) for k, v in small.items()),
               "optimizer": {"lr": 0.1, "momentum": 0.9}}
    torch.save(wrapped, os.path.join(out, "wrapped_sd.pth"))
    torch.save({"model": small, "epoch": 1}, os.path.join(out, "wrapped_model.pth"))
    # Re-zipped by Python's zipfile, still stored: classic EOCD (no ZIP64), local headers
    # carrying CRC and sizes (no data descriptor).
    with zipfile.ZipFile(os.path.join(out, "small.pth")) as zin, \
            zipfile.ZipFile(os.path.join(out, "rezipped.pth"), "w", zipfile.ZIP_STORED) as zs, \
            zipfile.ZipFile(os.path.join(out, "deflated.pth"), "w", zipfile.ZIP_DEFLATED) as zd:
        for info in zin.infolist():
            zs.writestr(info.filename, zin.read(info.filename))
            zd.writestr(info.filename, zin.read(info.filename))

    torch.save(small, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(m, os.path.join(out, "fullmodel.pth"))
    torch.jit.script(m).save(os.path.join(out, "script.pt"))
    torch.save({"expanded": torch.ones(1).expand(1000)}, os.path.join(out, "expanded.pth"))
    with open(os.path.join(out, "text.pth"), "w") as f:
        f.write("this is not a checkpoint\n" * 10)


if __name__ == "__main__":
    main()
