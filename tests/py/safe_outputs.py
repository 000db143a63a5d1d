#!/usr/bin/env python3
"""Where every writing command puts its output, and what it never touches.

A table of output targets x every command that writes a file:
  regular file (mode 0640 kept), symlink (the target replaced, the link kept), FIFO (written
  through, still a FIFO), '-' (standard output), a directory that cannot be written (exit 1,
  nothing created), the same file as an input through a hard link and through a symlink (exit
  1, the input unchanged). After each case the directory holds exactly what it should (no
  temporary left over, nothing else changed).
Then 50 writes killed with SIGKILL at random moments: the final name holds the old content or
the complete new output, never a part; and SIGINT/SIGTERM leave no temporary file behind.

usage: safe_outputs.py path/to/scratchcv
"""
import hashlib
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from clitest import exit_on_problems

CLI = os.path.abspath(sys.argv[1])
CLI_ANYONE = CLI
FMNIST = "/usr/share/datasets/fashion-mnist"
problems = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        problems.append(what)


def snapshot(d):
    """name -> (kind, sha256 of content for files / link target for links)."""
    out = {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            out[name] = ("link", os.readlink(p))
        elif stat.S_ISREG(st.st_mode):
            out[name] = ("file", hashlib.sha256(open(p, "rb").read()).hexdigest(),
                         stat.S_IMODE(st.st_mode))
        elif stat.S_ISDIR(st.st_mode):
            out[name] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            out[name] = ("other", stat.S_IFMT(st.st_mode))
    return out


def make_inputs(d):
    import cv2
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    cv2.imwrite(os.path.join(d, "in.png"), img)
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
              os.path.join(d, "relu.onnx"))
    rng.standard_normal(48).astype(np.float32).tofile(os.path.join(d, "x.bin"))


# Each writer: (name, args(out) -> argv, the inputs it reads). Paths are relative to the case
# directory, where the inputs are copied.
WRITERS = [
    ("gray", lambda o: ["gray", "in.png", o], ["in.png"]),
    ("blur", lambda o: ["blur", "-k", "3", "in.png", o], ["in.png"]),
    ("gaussian", lambda o: ["gaussian", "--ksize", "5", "in.png", o], ["in.png"]),
    ("canny", lambda o: ["canny", "--low", "50", "--high", "100", "in.png", o], ["in.png"]),
    ("otsu", lambda o: ["otsu", "in.png", o], ["in.png"]),
    ("yuv", lambda o: ["yuv", "in.png", o], ["in.png"]),
    ("gray --compare", lambda o: ["gray", "--compare", o, "in.png", "main.png"], ["in.png"]),
    ("preprocess", lambda o: ["preprocess", "--resize", "64", "--crop", "32", "in.png", o],
     ["in.png"]),
    ("infer", lambda o: ["infer", "-m", "relu.onnx", "--input", "x.bin", "--shape", "1,3,4,4",
                         "-o", o], ["relu.onnx", "x.bin"]),
    ("mnist dump-step", lambda o: ["mnist", "dump-step", "--batch", "2", "--out", o], []),
]
if os.path.isdir(FMNIST):
    WRITERS.append(("mnist train", lambda o: [
        "mnist", "train", "--data", "fmnist", "--model", "mlp", "--epochs", "1", "--limit", "64",
        "--test-limit", "64", "-q", "--out", o], ["fmnist/train-images-idx3-ubyte.gz"]))


def run(argv, cwd, stdin=None, user=None, cli=None):
    pre = None
    if user is not None:
        def pre():
            os.setgid(user)
            os.setuid(user)
    return subprocess.run([cli or CLI] + argv, cwd=cwd, capture_output=True, timeout=300,
                          preexec_fn=pre, stdin=subprocess.DEVNULL)


def setup_case(root, inputs):
    d = tempfile.mkdtemp(dir=root)
    os.chmod(d, 0o755)
    for f in ("in.png", "relu.onnx", "x.bin"):
        shutil.copy(os.path.join(root, "src", f), d)
    if os.path.isdir(FMNIST):
        os.symlink(FMNIST, os.path.join(d, "fmnist"))
    return d


def table(root):
    for name, argv, inputs in WRITERS:
        # Reference output: a fresh file.
        d = setup_case(root, inputs)
        r = run(argv("ref.out"), d)
        check(r.returncode == 0 and os.path.getsize(os.path.join(d, "ref.out")) > 0,
              f"{name}: writes a new file (exit {r.returncode} {r.stderr[-200:]!r})")
        ref = open(os.path.join(d, "ref.out"), "rb").read()
        deterministic = name not in ("mnist train",)

        def same(p):
            return open(p, "rb").read() == ref if deterministic else os.path.getsize(p) > 0

        # Regular file with mode 0640: replaced, mode kept.
        p = os.path.join(d, "reg.out")
        open(p, "w").write("old")
        os.chmod(p, 0o640)
        before = snapshot(d)
        r = run(argv("reg.out"), d)
        after = snapshot(d)
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        expected = {"reg.out"}
        check(r.returncode == 0 and same(p) and stat.S_IMODE(os.stat(p).st_mode) == 0o640
              and changed == expected,
              f"{name}: regular 0640 file replaced, mode kept, nothing else changed {changed}")
        # Symlink: the target replaced, the link kept.
        os.symlink("target.out", os.path.join(d, "link.out"))
        open(os.path.join(d, "target.out"), "w").write("old")
        r = run(argv("link.out"), d)
        check(r.returncode == 0 and os.path.islink(os.path.join(d, "link.out"))
              and same(os.path.join(d, "target.out")),
              f"{name}: symlink followed, its target replaced, the link kept")
        # FIFO: written through, still a FIFO.
        fifo = os.path.join(d, "fifo.out")
        os.mkfifo(fifo)
        got = []
        t = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
        t.start()
        r = run(argv("fifo.out"), d)
        t.join(30)
        check(r.returncode == 0 and stat.S_ISFIFO(os.lstat(fifo).st_mode) and got
              and (got[0] == ref or not deterministic),
              f"{name}: FIFO written through, not replaced")
        # '-': standard output.
        if name != "gray --compare":
            r = run(argv("-"), d)
            check(r.returncode == 0 and (r.stdout.endswith(ref) if deterministic else r.stdout),
                  f"{name}: '-' writes to standard output")
        # A directory that cannot be written: exit 1, nothing created. Root ignores permission
        # bits, so the command then runs as 'nobody'.
        ro = os.path.join(d, "ro")
        os.mkdir(ro)
        os.chmod(ro, 0o555)
        for f in os.listdir(d):
            os.chmod(os.path.join(d, f), 0o755) if os.path.isdir(os.path.join(d, f)) else None
        r = run(argv("ro/x.out"), d, user=65534 if os.geteuid() == 0 else None, cli=CLI_ANYONE)
        check(r.returncode == 1 and os.listdir(ro) == [] and r.stderr.count(b"\n") == 1,
              f"{name}: unwritable directory -> exit 1, nothing created: {r.stderr.strip()!r}")
        # Same file as an input, through a hard link and a symlink: refused, input unchanged.
        for inp in inputs:
            src = os.path.join(d, inp)
            real = os.path.realpath(src)
            if not os.access(os.path.dirname(real), os.W_OK) or real.startswith("/usr"):
                continue  # system data (read-only): a link to it cannot be tested safely
            digest = hashlib.sha256(open(real, "rb").read()).hexdigest()
            for kind in ("hard", "sym"):
                lk = os.path.join(d, kind + ".out")
                if os.path.lexists(lk):
                    os.remove(lk)
                os.link(src, lk) if kind == "hard" else os.symlink(inp, lk)
                before = snapshot(d)
                r = run(argv(kind + ".out"), d)
                check(r.returncode == 1 and b"input" in r.stderr and snapshot(d) == before
                      and hashlib.sha256(open(real, "rb").read()).hexdigest() == digest,
                      f"{name}: output = input {inp} via {kind} link refused: "
                      f"{r.stderr.strip()[-120:]!r}")
                os.remove(lk)
        leftovers = [f for f in os.listdir(d) if f.startswith(".")]
        check(not leftovers, f"{name}: no temporary files left ({leftovers})")


def kill_test(root):
    """SIGKILL at random moments of 50 writes: never a partial file under the final name."""
    import cv2
    d = tempfile.mkdtemp(dir=root)
    rng = np.random.default_rng(2)
    cv2.imwrite(os.path.join(d, "big.png"),
                rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8))
    argv = ["blur", "-k", "3", "big.png", "out.png"]
    t0 = time.time()
    r = run(argv, d)
    full_time = time.time() - t0
    ref = open(os.path.join(d, "out.png"), "rb").read()
    old = b"old content"
    random.seed(3)
    states = {"old": 0, "new": 0}
    bad = 0
    for i in range(50):
        open(os.path.join(d, "out.png"), "wb").write(old)
        p = subprocess.Popen([CLI] + argv, cwd=d, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0, full_time * 1.1))
        sig = signal.SIGKILL if i % 5 else random.choice([signal.SIGINT, signal.SIGTERM])
        p.send_signal(sig)
        p.wait()
        got = open(os.path.join(d, "out.png"), "rb").read()
        if got == old:
            states["old"] += 1
        elif got == ref:
            states["new"] += 1
        else:
            bad += 1
        temps = [f for f in os.listdir(d) if f.startswith(".")]
        if sig != signal.SIGKILL and temps:
            bad += 1
            print("temporary left after", sig, temps)
        for f in temps:  # SIGKILL cannot clean up: only the temporary may remain
            os.remove(os.path.join(d, f))
    check(bad == 0, f"50 interrupted writes: final name old {states['old']}, complete new "
                    f"{states['new']}, partial/leftover {bad} (full run {full_time:.2f} s)")


def main():
    global CLI_ANYONE
    root = tempfile.mkdtemp(prefix="scv_out_")
    os.chmod(root, 0o755)
    # The runs as 'nobody' use a copy of the CLI that user can reach: the build may sit under a
    # private directory (a checkout in a mkdtemp folder is mode 0700).
    CLI_ANYONE = shutil.copy2(CLI, os.path.join(root, "scratchcv"))
    try:
        os.mkdir(os.path.join(root, "src"))
        make_inputs(os.path.join(root, "src"))
        table(root)
        kill_test(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    exit_on_problems(problems, "every output target handled as documented")


main()
