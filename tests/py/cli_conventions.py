#!/usr/bin/env python3
"""One command-line convention for every scratchcv command, checked from the outside.

For every command listed by `scratchcv --help` (and every `mnist` subcommand):
  --help exits 0 with a usage line; --version exits 0 and prints the version;
  an unknown option exits 2 and names it; every value option given without a value, or followed
  by another option instead of a value, exits 2 and names that option; a short option (-t, -k,
  ...) shown in --help is accepted in place of the long one; the examples at the end of --help
  name the command and only options it lists.
Then a table of bad values per command: each must exit 2 and name the option, without loading
a model or reading an input first. Runtime failures (a missing file) exit 1.

usage: cli_conventions.py path/to/scratchcv
"""
import re
import subprocess
import sys
import tempfile

from clitest import exit_on_problems

CLI = sys.argv[1]
problems = []


def run(args, stdin=None):
    return subprocess.run([CLI] + args, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL if stdin is None else stdin)


def expect(args, code, must_name=None, what=""):
    r = run(args)
    err = r.stderr.strip()
    ok = r.returncode == code
    if must_name and must_name not in err:
        ok = False
    if code != 0 and len(err.splitlines()) != 1:
        ok = False  # one line, no stack of messages
    status = "ok  " if ok else "FAIL"
    print(f"{status} exit {r.returncode} (want {code}) scratchcv {' '.join(args)} :: {err[:110]}")
    if not ok:
        problems.append(f"{args}: exit {r.returncode}, stderr {err!r} {what}")
    return r


top = run(["--help"])
assert top.returncode == 0, top
commands = re.findall(r"^  ([a-z][a-z0-9-]+)\s", top.stdout.split("commands:")[1], re.M)
assert len(commands) >= 10, commands
expanded = []
for c in commands:
    if c == "mnist":
        expanded += [["mnist", s] for s in ("train", "test", "predict", "dump-step")]
    else:
        expanded.append([c])

r = run(["--version"])
if r.returncode != 0 or not re.match(r"scratchcv \d+\.\d+", r.stdout):
    problems.append(f"--version: {r.returncode} {r.stdout!r}")
expect(["no-such-command"], 2, "no-such-command")

for cmd in expanded:
    h = run(cmd + ["--help"])
    if h.returncode != 0 or not h.stdout.startswith("usage: scratchcv " + " ".join(cmd)):
        problems.append(f"{cmd} --help: exit {h.returncode}: {h.stdout[:80]!r}")
        continue
    # The examples at the end of --help name this command and only options it lists.
    names = set(re.findall(r"^  (?:-\w, )?\s*--([a-z0-9-]+)", h.stdout, re.M))
    block = re.search(r"^examples?:\n((?:  scratchcv .*\n)+)", h.stdout, re.M)
    for ex in (block.group(1).splitlines() if block else []):
        words = ex.split()
        if words[1:1 + len(cmd)] != cmd:
            problems.append(f"{cmd} --help: example for another command: {ex.strip()!r}")
        for w in words:
            if w.startswith("--") and w[2:] not in names:
                problems.append(f"{cmd} --help: example uses unknown option {w}: {ex.strip()!r}")
    v = run(cmd + ["--version"])
    if v.returncode != 0 or not v.stdout.startswith("scratchcv "):
        problems.append(f"{cmd} --version: exit {v.returncode}")
    expect(cmd + ["--no-such-option"], 2, "--no-such-option")
    expect(cmd + ["-Z"], 2, "-Z")
    # Options with a value: "  -k, --topk K   help" or "      --isa ISA   help".
    for short, name, meta in re.findall(r"^  (?:-(\w), )?\s*--([a-z0-9-]+) ([A-Z][^ ]*)",
                                        h.stdout, re.M):
        if name in ("help", "version"):
            continue
        expect(cmd + ["--" + name], 2, "--" + name, "(no value)")
        expect(cmd + ["--" + name, "--no-such-option"], 2, "--" + name, "(option as value)")
        if short:
            expect(cmd + ["-" + short], 2, "-" + short, "(short, no value)")

# Bad values: exit 2, the message names the option; nothing is loaded first (the model and
# inputs named here do not exist, so reaching them would exit 1 instead).
with tempfile.TemporaryDirectory() as d:
    m = d + "/missing.pth"
    img = d + "/missing.png"
    table = [
        (["classify", "--model", m, "--topk", "0", img], "--topk"),
        (["classify", "--model", m, "-k", "x", img], "--topk"),
        (["classify", "--model", m, "--topk", "1001", img], "--topk"),
        (["classify", "--model", m, "--crop", "0", img], "--crop"),
        (["classify", "--model", m, "--isa", "avx512", "--resize", "99999", img], "--resize"),
        (["classify", "--model", "--topk", "3", img], "--model"),
        (["classify", "--threads", "x", img], "--threads"),
        (["classify"], "image"),
        (["infer", "--model", m, "--input", img, "--output", d + "/o", "--shape", "1,2"],
         "--shape"),
        (["infer", "--model", m], "--input"),
        (["bench", "--batch", "0"], "--batch"),
        (["bench", "--iters", "-1"], "--iters"),
        (["bench", "--size", "abc"], "--size"),
        (["bench", "--isa", "sse9"], "--isa"),
        (["bench", "stray"], "stray"),
        (["gray", "--threads", "-1", img, d + "/o.png"], "--threads"),
        (["gray", img], "IN and OUT"),
        (["blur", img, d + "/o.png"], "--ksize"),
        (["blur", "-k", "4", img, d + "/o.png"], "--ksize"),
        (["gaussian", "--ksize", "3", "--sigma", "-1", img, d + "/o.png"], "--sigma"),
        (["canny", "--low", "5", "--high", "1", img, d + "/o.png"], "--low"),
        (["canny", "--low", "1", "--high", "5", "--aperture", "4", img, d + "/o.png"],
         "--aperture"),
        (["otsu", "--isa", "nope", img, d + "/o.png"], "--isa"),
        (["gray", "--bench", "x", img, d + "/o.png"], "--bench"),
        (["preprocess", "--crop", "0", img, d + "/o.bin"], "--crop"),
        (["fetch", "--timeout", "0", "resnet50"], "--timeout"),
        (["fetch", "--list", "resnet50"], "--list"),
        (["fetch"], "ARCH"),
        (["pth-info"], "FILE"),
        (["quantize", m, "--method", "kl", "-o", d + "/q.onnx"], "--method"),
        (["quantize", m, "--samples", "0", "-o", d + "/q.onnx"], "--samples"),
        (["quantize", m], "-o"),
        (["classify", "--model", m, "--precision", "fp16", img], "--precision"),
        (["bench", "--precision", "int4"], "--precision"),
        (["mnist", "train", "--data", d, "--limit", "0"], "--limit"),
        (["mnist", "train", "--data", d, "--lr", "-1"], "--lr"),
        (["mnist", "train", "--data", d, "--epochs", "0"], "--epochs"),
        (["mnist", "train", "--data", d, "--batch", "0"], "--batch"),
        (["mnist", "train", "--data", d, "--optim", "rms"], "--optim"),
        (["mnist", "train"], "--data"),
        (["mnist", "test", "--data", d, "--model", m, "--limit", "-3"], "--limit"),
        (["mnist", "predict", "--model", m], "IMAGE"),
        (["mnist", "nope"], "nope"),
    ]
    for args, name in table:
        expect(args, 2, name)
    # `--` ends the options: "-x.png" is then a file name (missing: a runtime failure, 1).
    expect(["gray", "--", d + "/-x.png", d + "/o.png"], 1, "-x.png")
    expect(["classify", "--model", m, "-k", "2", img], 1, "missing.pth")
    expect(["pth-info", m], 1, "missing.pth")

exit_on_problems(problems, "every command follows the convention")
