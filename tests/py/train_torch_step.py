#!/usr/bin/env python3
"""One training step of a scratchcv model against PyTorch.

Runs `scratchcv mnist dump-step`, which writes the model config, a random batch, the initial
weights, our loss, gradients and weights after one optimiser step. Builds the same model in
PyTorch from the config text, loads the same weights, and checks loss, every gradient and every
updated weight to 1e-4 relative (max abs difference / max abs value of the PyTorch tensor).

usage: train_torch_step.py SCRATCHCV_BINARY WORKDIR
"""
import os
import struct
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TOL = 1e-4


def read_dump(path):
    b = open(path, "rb").read()
    assert b[:8] == b"SCVSTEP1", "bad dump magic"
    off = 8
    (n,) = struct.unpack_from("<I", b, off)
    off += 4
    cfg = b[off:off + n].decode()
    off += n
    tensors = {}
    while off < len(b):
        (n,) = struct.unpack_from("<I", b, off)
        off += 4
        name = b[off:off + n].decode()
        off += n
        (rank,) = struct.unpack_from("<I", b, off)
        off += 4
        dims = struct.unpack_from("<%dq" % rank, b, off)
        off += 8 * rank
        count = int(np.prod(dims)) if rank else 1
        tensors[name] = np.frombuffer(b, np.float32, count, off).reshape(dims).copy()
        off += 4 * count
    return cfg, tensors


def build_torch(cfg):
    """The config format of include/scratchcv/train.h, in PyTorch modules."""
    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
            "leaky": lambda: nn.LeakyReLU(0.01)}
    layers, names, shape = [], [], None
    nconv = nfc = 0
    for line in cfg.splitlines():
        tok = line.split("#")[0].split()
        if not tok:
            continue
        kv = dict(t.split("=") for t in tok[1:] if "=" in t)
        pos = [t for t in tok[1:] if "=" not in t]
        if tok[0] == "input":
            shape = [int(v) for v in pos]
            continue
        if tok[0] == "conv":
            out, k = int(pos[0]), int(pos[1])
            s, p = int(kv.get("stride", 1)), int(kv.get("pad", 0))
            layers.append(nn.Conv2d(shape[0], out, k, s, p))
            nconv += 1
            names.append("conv%d" % nconv)
            shape = [out, (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1]
        elif tok[0] == "maxpool":
            k, s = int(pos[0]), int(kv.get("stride", pos[0]))
            layers.append(nn.MaxPool2d(k, s))
            shape = [shape[0], (shape[1] - k) // s + 1, (shape[2] - k) // s + 1]
        elif tok[0] == "flatten":
            layers.append(nn.Flatten())
            shape = [int(np.prod(shape))]
        elif tok[0] == "fc":
            if len(shape) != 1:
                layers.append(nn.Flatten())
                shape = [int(np.prod(shape))]
            layers.append(nn.Linear(shape[0], int(pos[0])))
            nfc += 1
            names.append("fc%d" % nfc)
            shape = [int(pos[0])]
        elif tok[0] == "dropout":
            layers.append(nn.Dropout(float(pos[0])))
        if kv.get("act", "none") != "none":
            layers.append(acts[kv["act"]]())
    model = nn.Sequential(*layers)
    params = []
    it = iter(names)
    for m in model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            n = next(it)
            params += [(n + ".weight", m.weight), (n + ".bias", m.bias)]
    return model, params


def rel(a, ref):
    return float(np.max(np.abs(a - ref)) / max(np.max(np.abs(ref)), 1e-12))


def check(binary, workdir, model, optim, extra):
    out = os.path.join(workdir, "step_%s_%s.bin" % (model, optim))
    subprocess.run([binary, "mnist", "dump-step", "--model", model, "--optim", optim,
                    "--out", out] + extra, check=True)
    cfg, t = read_dump(out)
    torch.manual_seed(0)
    net, params = build_torch(cfg)
    with torch.no_grad():
        for name, p in params:
            p.copy_(torch.from_numpy(t[name]))
    lr = float(extra[extra.index("--lr") + 1])
    wd = float(extra[extra.index("--wd") + 1])
    opt = (torch.optim.Adam([p for _, p in params], lr=lr, weight_decay=wd) if optim == "adam"
           else torch.optim.SGD([p for _, p in params], lr=lr, momentum=0.9, weight_decay=wd))
    x = torch.from_numpy(t["x"])
    y = torch.from_numpy(t["y"]).long()
    net.train()
    logits = net(x)
    loss = F.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    worst = []
    worst.append(("logits", rel(t["logits"], logits.detach().numpy())))
    worst.append(("loss", abs(float(t["loss"][0]) - loss.item()) / abs(loss.item())))
    for name, p in params:
        worst.append(("grad." + name, rel(t["grad." + name], p.grad.numpy())))
    # The optimiser is checked on our gradients (already compared above): Adam's first step is
    # lr * g / (|g| + eps), which would amplify float rounding where g + wd * w is near 1e-8.
    with torch.no_grad():
        for name, p in params:
            p.grad.copy_(torch.from_numpy(t["grad." + name]))
    opt.step()
    for name, p in params:
        worst.append(("step." + name, rel(t["step." + name], p.detach().numpy())))
    ok = True
    for name, e in worst:
        flag = "ok" if e <= TOL else "FAIL"
        ok &= e <= TOL
        print("%-6s %-5s %-22s rel err %.2e %s" % (model, optim, name, e, flag))
    return ok


def main():
    binary, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    torch.set_num_threads(1)
    ok = check(binary, workdir, "lenet", "adam",
               ["--batch", "8", "--seed", "3", "--threads", "2", "--lr", "1e-3", "--wd", "0"])
    ok &= check(binary, workdir, "lenet", "sgd",
                ["--batch", "5", "--seed", "4", "--threads", "1", "--lr", "0.05", "--wd", "1e-3"])
    ok &= check(binary, workdir, "mlp", "adam",
                ["--batch", "7", "--seed", "5", "--threads", "2", "--lr", "1e-3", "--wd", "1e-4"])
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
