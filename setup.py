"""Builds the extension scratchcv._scratchcv with the project's CMake (so the SIMD flags, the
sources and the dependencies are declared once, in CMakeLists.txt) and ships the data files
(labels, bundled models) inside the package, where the library finds them at run time.

Environment:
  SCRATCHCV_CMAKE_BUILD_DIR  reuse an existing CMake build tree of this source (only the
                             extension target is built there) instead of a fresh one
  SCRATCHCV_CMAKE_ARGS       extra arguments for the CMake configure step
  SCRATCHCV_JOBS             parallel build jobs (default: the CPU count)
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
VERSION = re.search(r"project\(scratchcv VERSION ([0-9.]+)",
                    (ROOT / "CMakeLists.txt").read_text())[1]


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = os.environ.get("SCRATCHCV_CMAKE_BUILD_DIR")
        if not build_dir:
            build_dir = str(Path(self.build_temp).resolve() / "cmake")
            args = ["-S", str(ROOT), "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                    "-DSCV_BUILD_TESTS=OFF", "-DSCV_BUILD_BENCH=OFF", "-DSCV_BUILD_PYTHON=ON",
                    f"-DPython_EXECUTABLE={sys.executable}"]
            if shutil.which("ccache"):
                args += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
                         "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
            args += shlex.split(os.environ.get("SCRATCHCV_CMAKE_ARGS", ""))
            subprocess.run(["cmake", *args], check=True)
        jobs = os.environ.get("SCRATCHCV_JOBS", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "--build", build_dir, "--target", "_scratchcv", "-j", jobs],
                       check=True)
        built = sorted((Path(build_dir) / "python" / "scratchcv").glob("_scratchcv*.so"))
        if not built:
            raise RuntimeError(f"the CMake build in {build_dir} produced no _scratchcv*.so")
        dest = Path(self.get_ext_fullpath(ext.name))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[-1], dest)


class BuildPyWithData(build_py):
    """Copies data/ (class names, bundled models) into the package as scratchcv/data."""

    def run(self):
        super().run()
        dest = Path(self.build_lib) / "scratchcv" / "data"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(ROOT / "data", dest)


(ROOT / "build-python").mkdir(exist_ok=True)
setup(
    version=VERSION,
    ext_modules=[Extension("scratchcv._scratchcv", sources=[])],
    cmdclass={"build_ext": CMakeBuild, "build_py": BuildPyWithData},
    # setuptools' own build/ would land in the CMake build tree of the same name.
    options={"build": {"build_base": "build-python"}, "egg_info": {"egg_base": "build-python"}},
    zip_safe=False,
)
