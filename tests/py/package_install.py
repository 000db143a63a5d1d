#!/usr/bin/env python3
"""The installed C++ package as a user meets it.

Installs the build into a temporary prefix, checks that no installed file mentions the source or
build directory, builds examples/classify.cpp against the installed package twice (CMake
find_package(scratchcv), and a plain g++ line from pkg-config), and checks that both print the
same top-5 as `scratchcv classify --json` on data/sample.jpg.

usage: package_install.py SOURCE_DIR BUILD_DIR CLI
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
import torchvision

SRC, BUILD, CLI = sys.argv[1:4]
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    failures += not cond


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print(f"$ {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def example_top5(out):
    """Lines '  INDEX  PROB  LABEL' of examples/classify -> [(index, prob string)]."""
    rows = [l.split(None, 2) for l in out.splitlines() if l.startswith("  ")]
    return [(int(r[0]), r[1]) for r in rows]


with tempfile.TemporaryDirectory() as tmp:
    prefix = os.path.join(tmp, "prefix")
    r = run(["cmake", "--install", BUILD, "--prefix", prefix])
    check(r.returncode == 0, "cmake --install into a temporary prefix")
    for f in ["include/scratchcv/classifier.h", "lib/libscratchcv.a",
              "lib/cmake/scratchcv/scratchcvConfig.cmake",
              "lib/cmake/scratchcv/scratchcvConfigVersion.cmake", "lib/pkgconfig/scratchcv.pc",
              "share/scratchcv/imagenet_classes.txt", "bin/scratchcv"]:
        check(os.path.exists(os.path.join(prefix, f)), f"installed {f}")
    leaks = []
    for root, _, names in os.walk(prefix):
        for n in names:
            data = open(os.path.join(root, n), "rb").read()
            for d in {os.path.realpath(SRC), os.path.realpath(BUILD), SRC, BUILD}:
                if d.encode() in data:
                    leaks.append(f"{os.path.relpath(os.path.join(root, n), prefix)} has {d}")
    check(not leaks, "no installed file names the source or build directory " + "; ".join(leaks))

    torch.manual_seed(0)
    pth = os.path.join(tmp, "resnet18.pth")
    torch.save(torchvision.models.resnet18(weights=None).eval().state_dict(), pth)
    photo = os.path.join(SRC, "data", "sample.jpg")

    r = run([CLI, "classify", photo, "--model", pth, "--threads", "1", "--json"])
    cli = [(t["index"], t["probability"]) for t in json.loads(r.stdout)[0]["top"]]
    check(r.returncode == 0 and len(cli) == 5, "CLI top-5 of data/sample.jpg")

    # 1. find_package(scratchcv) from the prefix.
    exb = os.path.join(tmp, "example-cmake")
    env = dict(os.environ, CMAKE_PREFIX_PATH=prefix)
    r = run(["cmake", "-S", os.path.join(SRC, "examples"), "-B", exb, "-DCMAKE_BUILD_TYPE=Release"],
            env=env)
    check(r.returncode == 0, "examples/ configures with find_package(scratchcv)")
    r = run(["cmake", "--build", exb], env=env)
    check(r.returncode == 0 and "warning" not in r.stdout + r.stderr,
          "examples/ builds (CMake, no warnings)")
    # 2. pkg-config only.
    pc = run(["pkg-config", "--cflags", "--libs", "scratchcv"],
             env=dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig")))
    check(pc.returncode == 0 and f"-I" in pc.stdout, f"pkg-config scratchcv: {pc.stdout.strip()}")
    exe_pc = os.path.join(tmp, "classify-pc")
    r = run(["g++", "-O2", os.path.join(SRC, "examples", "classify.cpp"), "-o", exe_pc,
             *pc.stdout.split()])
    check(r.returncode == 0, "examples/classify.cpp builds with g++ $(pkg-config ...)")

    for name, exe in [("cmake", os.path.join(exb, "classify")), ("pkg-config", exe_pc)]:
        # Run from another directory: the example needs nothing from the source or build tree.
        r = run([exe, "--model", pth, "--threads", "1", photo], cwd=tmp)
        top = example_top5(r.stdout) if r.returncode == 0 else []
        same = len(top) == 5 and all(i == ci and abs(float(p) - cp) <= 1e-6 * max(1, cp)
                                     for (i, p), (ci, cp) in zip(top, cli))
        check(same, f"example built with {name}: same top-5 as the CLI ({top} vs {cli})")
    r = run([os.path.join(exb, "classify"), "--model", os.path.join(tmp, "missing.pth"), photo])
    check(r.returncode == 1 and "missing.pth" in r.stderr and r.stderr.count("\n") == 1,
          f"example: a missing model is one clear line ({r.stderr.strip()})")

print("FAILED" if failures else "all ok")
sys.exit(1 if failures else 0)
