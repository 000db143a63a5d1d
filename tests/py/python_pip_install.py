#!/usr/bin/env python3
"""`pip install --no-build-isolation --no-index .` works offline with Debian's setuptools,
wheel and pybind11: installs into a throw-away venv (--system-site-packages, for numpy), then
imports the installed package from elsewhere and classifies a photo with it.

The extension is taken from this build tree (SCRATCHCV_CMAKE_BUILD_DIR) so the test does not
compile the library a second time; without that variable setup.py configures and builds its own
CMake tree (same code path after the configure step).

usage: python_pip_install.py SOURCE_DIR BUILD_DIR
"""
import os
import subprocess
import sys
import tempfile

SRC, BUILD = sys.argv[1:3]
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    failures += not cond


with tempfile.TemporaryDirectory() as tmp:
    venv = os.path.join(tmp, "venv")
    r = subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"venv created {r.stderr[-500:]}")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(SCRATCHCV_CMAKE_BUILD_DIR=BUILD, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    r = subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--no-build-isolation",
                        "--no-index", "--no-deps", "--no-cache-dir", SRC],
                       capture_output=True, text=True, env=env)
    check(r.returncode == 0 and "Successfully installed scratchcv" in r.stdout,
          "pip install --no-build-isolation --no-index . (offline) " + r.stderr[-1500:])
    code = (
        "import os, scratchcv\n"
        "print(scratchcv.__file__)\n"
        "print(scratchcv.data_dir())\n"
        "img = scratchcv.imread(os.environ['PHOTO'])\n"
        "print(scratchcv.__version__, img.shape, scratchcv.cv.canny(img, 50, 150).sum() > 0)\n")
    r = subprocess.run([os.path.join(venv, "bin", "python"), "-c", code], cwd=tmp,
                       capture_output=True, text=True,
                       env=dict(env, PHOTO=os.path.join(SRC, "data", "sample.jpg")))
    out = r.stdout.splitlines()
    check(r.returncode == 0 and len(out) == 3, f"the installed package imports {r.stderr[-800:]}")
    if len(out) == 3:
        pkg = os.path.dirname(out[0])
        check(pkg.startswith(venv), f"imported from the venv ({pkg})")
        check(out[1] == os.path.join(pkg, "data") and
              os.path.exists(os.path.join(out[1], "imagenet_classes.txt")),
              f"data files found beside the module ({out[1]})")
        check(out[2].endswith("True"), f"it works: {out[2]}")

print("FAILED" if failures else "all ok")
sys.exit(1 if failures else 0)
