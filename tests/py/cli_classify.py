#!/usr/bin/env python3
"""End-to-end tests of `scratchcv classify` / `infer` as a user runs them.

* a directory of 20 photos: progress on stderr, 20 results, `--json` parses with json.tool;
* bad input of every kind: a clear one-line error and exit status 1 or 2, never a crash
  (a signal) and never a Python-style traceback.

usage: cli_classify.py CLI
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
import torchvision

CLI = sys.argv[1]
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    failures += not cond


def run(*args, **kw):
    return subprocess.run([CLI, *args], capture_output=True, text=True, **kw)


def photos():
    found = sorted(glob.glob("/usr/share/darknet/data/*.jpg"))
    sk = "/usr/lib/python3/dist-packages/skimage/data"
    for name in ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                 "hubble_deep_field.jpg", "retina.jpg", "color.png"]:
        if os.path.exists(os.path.join(sk, name)):
            found.append(os.path.join(sk, name))
    return found


with tempfile.TemporaryDirectory() as tmp:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    pth = os.path.join(tmp, "resnet18.pth")
    torch.save(model.state_dict(), pth)

    # --- a directory of 20 photos -------------------------------------------------------------
    d = os.path.join(tmp, "photos")
    os.mkdir(d)
    src = photos()
    check(len(src) >= 5, f"found {len(src)} real photos")
    for i in range(20):
        s = src[i % len(src)]
        shutil.copy(s, os.path.join(d, f"{i:02d}_{os.path.basename(s)}"))
    open(os.path.join(d, "notes.txt"), "w").write("not an image, must be ignored\n")
    r = run("classify", d, "--model", pth)
    check(r.returncode == 0, f"classify DIR exits 0 (got {r.returncode}; {r.stderr[-300:]})")
    results = [l for l in r.stdout.splitlines() if l and not l.startswith(" ")]
    check(len(results) == 20, f"20 results printed (got {len(results)})")
    check("20/20" in r.stderr, "progress reaches 20/20 on stderr")
    r = run("classify", d, "--model", pth, "--json", "--topk", "3")
    check(r.returncode == 0, "classify --json exits 0")
    jt = subprocess.run([sys.executable, "-m", "json.tool"], input=r.stdout, capture_output=True,
                        text=True)
    check(jt.returncode == 0, "--json output parses with python3 -m json.tool")
    try:
        objs = json.loads(r.stdout)
        check(len(objs) == 20, f"--json has 20 objects (got {len(objs)})")
        o = objs[0]
        check(set(o) == {"file", "top", "ms"} and len(o["top"]) == 3 and
              set(o["top"][0]) == {"index", "label", "probability"},
              "--json objects follow the documented schema")
        p = [t["probability"] for t in o["top"]]
        check(p == sorted(p, reverse=True) and 0 < p[0] <= 1, "probabilities sorted, in (0, 1]")
    except ValueError as e:
        check(False, f"--json parses: {e}")

    # --- bad input ------------------------------------------------------------------------------
    def bad(desc, *args):
        r = run(*args)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        ok = r.returncode in (1, 2) and lines and "scratchcv" in lines[-1]
        check(ok, f"{desc}: exit {r.returncode}, stderr: {lines[-1] if lines else '(none)'}")

    empty = os.path.join(tmp, "empty.pth")
    open(empty, "wb").close()
    text_jpg = os.path.join(tmp, "hello.jpg")
    open(text_jpg, "w").write("hello, I am a text file\n")
    raw = open(pth, "rb").read()
    trunc = os.path.join(tmp, "trunc.pth")
    open(trunc, "wb").write(raw[: len(raw) // 3])
    flipped = bytearray(raw)
    for i in range(0, len(flipped), 4099):
        flipped[i] ^= 0x5A
    flip = os.path.join(tmp, "flip.pth")
    open(flip, "wb").write(bytes(flipped))
    photo = src[0]
    bad("missing image", "classify", os.path.join(tmp, "nope.jpg"), "--model", pth)
    bad("text file named .jpg", "classify", text_jpg, "--model", pth)
    bad("empty .pth", "classify", photo, "--model", empty)
    bad("truncated .pth", "classify", photo, "--model", trunc)
    bad("bit-flipped .pth", "classify", photo, "--model", flip)
    bad("missing model", "classify", photo, "--model", os.path.join(tmp, "none.pth"))
    bad("wrong --arch", "classify", photo, "--model", pth, "--arch", "resnet50")
    bad("unknown --arch", "classify", photo, "--model", pth, "--arch", "vgg16")
    bad("bad --topk", "classify", photo, "--model", pth, "--topk", "0")
    bad("bad --threads", "classify", photo, "--model", pth, "--threads", "x")
    bad("unknown option", "classify", photo, "--model", pth, "--frobnicate")
    bad("no image", "classify", "--model", pth)
    empty_dir = os.path.join(tmp, "emptydir")
    os.mkdir(empty_dir)
    bad("directory without images", "classify", empty_dir, "--model", pth)

    # a state_dict of another architecture, with --arch forcing resnet18
    r34 = os.path.join(tmp, "resnet34.pth")
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), r34)
    bad("checkpoint of another architecture", "classify", photo, "--model", r34, "--arch",
        "resnet18")
    sd = model.state_dict()
    del sd["layer3.1.bn2.running_var"]
    miss = os.path.join(tmp, "missing.pth")
    torch.save(sd, miss)
    bad("missing tensor", "classify", photo, "--model", miss)
    sd = model.state_dict()
    sd["fc.weight"] = torch.zeros(1000, 256)
    wrong = os.path.join(tmp, "wrong.pth")
    torch.save(sd, wrong)
    bad("wrong tensor shape", "classify", photo, "--model", wrong)

    # one bad photo among good ones: the good ones are still classified, exit status 1
    mixed = os.path.join(tmp, "mixed")
    os.mkdir(mixed)
    shutil.copy(src[0], os.path.join(mixed, "a.jpg"))
    shutil.copy(text_jpg, os.path.join(mixed, "b.jpg"))
    r = run("classify", mixed, "--model", pth, "--json")
    objs = json.loads(r.stdout) if r.stdout.strip() else []
    check(r.returncode == 1 and len(objs) == 2 and "top" in objs[0] and "error" in objs[1],
          "a bad photo among good ones: reported in JSON, others classified, exit 1")

    # an empty directory: the error on stderr, exit 1, and still one valid JSON document
    empty = os.path.join(tmp, "empty")
    os.mkdir(empty)
    r = run("classify", empty, "--model", pth, "--json")
    check(r.returncode == 1 and r.stdout.strip() == "[]" and "no image files" in r.stderr,
          "an empty directory with --json: [] on stdout, the reason on stderr, exit 1")

    r = run("classify", "--help")
    check(r.returncode == 0 and "--json" in r.stdout and "--topk" in r.stdout, "classify --help")
    r = run("--help")
    check(r.returncode == 0 and "classify" in r.stdout, "scratchcv --help lists commands")

sys.exit(1 if failures else 0)
