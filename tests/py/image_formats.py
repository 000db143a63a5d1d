#!/usr/bin/env python3
"""Image formats read and written by scratchcv, against OpenCV and PIL.

`blur -k 1` copies its input, so `scratchcv blur -k 1 IN OUT` is a decode + encode round trip:
  - read: BMP (8-bit palette, 1-bit, 24, 32), WebP (lossless, with alpha), TIFF (gray, RGB, RGBA,
    LZW/deflate/none) written by OpenCV/PIL decode to the same pixels as OpenCV/PIL read;
  - write by extension: .png/.bmp/.tif/.tiff/.webp (quality 100 = lossless) read back by OpenCV
    equal the input; .jpg at --quality 95 is close (PSNR > 35 dB) and --quality 50 is smaller;
  - a tiny file claiming a huge image is refused from its header, fast.

usage: image_formats.py path/to/scratchcv
"""
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import cv2
import numpy as np
from PIL import Image

from clitest import read_rgb

CLI = sys.argv[1]
problems = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        problems.append(what)


def scv(*args):
    return subprocess.run([CLI] + list(args), capture_output=True, text=True, timeout=120)


def roundtrip(src, d):
    out = os.path.join(d, "rt.png")
    r = scv("blur", "-k", "1", src, out)
    return (read_rgb(out) if r.returncode == 0 else None), r


with tempfile.TemporaryDirectory() as d:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    gray = rng.integers(0, 256, (37, 53), dtype=np.uint8)

    # ---- reading files written by OpenCV and PIL
    cases = []
    for name, arr in (("rgb", rgb), ("gray", gray), ("rgba", rgba)):
        bgr = arr if arr.ndim == 2 else cv2.cvtColor(
            arr, cv2.COLOR_RGB2BGR if arr.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
        for ext, params in ((".bmp", []), (".tiff", []), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),
                            (".png", [])):
            p = os.path.join(d, f"cv_{name}{ext}")
            cv2.imwrite(p, bgr, params)
            cases.append((p, read_rgb(p)))
    for mode, arr in (("P", rgb), ("1", gray), ("L", gray)):
        im = Image.fromarray(arr)
        im = im.convert(mode) if mode != "P" else im.quantize(64)
        p = os.path.join(d, f"pil_{mode}.bmp")
        im.save(p)
        ref = np.asarray(im.convert("RGB"))
        if mode in ("L", "1"):
            ref = ref[:, :, 0]
        cases.append((p, ref))
    for comp in ("tiff_deflate", "tiff_lzw", "raw"):
        p = os.path.join(d, f"pil_{comp}.tif")
        Image.fromarray(rgb).save(p, compression=comp)
        cases.append((p, rgb))
    for p, ref in cases:
        got, r = roundtrip(p, d)
        if got is not None and got.shape != ref.shape and got.ndim == 3 and ref.ndim == 3:
            # 32-bit BMP without an alpha mask reads as RGB (as browsers show it)
            n = min(got.shape[2], ref.shape[2])
            got, ref = got[:, :, :n], ref[:, :, :n]
        if got is not None and got.ndim == 3 and ref.ndim == 2:  # WebP has no gray
            ref = np.stack([ref] * 3, axis=2)
        check(got is not None and got.shape == ref.shape and np.array_equal(got, ref),
              f"read {os.path.basename(p)}: same pixels as OpenCV/PIL {r.stderr.strip()}")

    # ---- writing by extension, read back by OpenCV
    src = os.path.join(d, "src.png")
    for name, arr in (("rgb", rgb), ("gray", gray), ("rgba", rgba)):
        Image.fromarray(arr).save(src)
        for ext in (".png", ".bmp", ".tif", ".tiff", ".webp", ".PNG"):
            out = os.path.join(d, "w_" + name + ext)
            r = scv("blur", "-k", "1", "--quality", "100", src, out)
            got = None
            if r.returncode == 0:  # OpenCV premultiplies TIFF alpha: PIL reads RGBA exactly
                got = np.asarray(Image.open(out)) if name == "rgba" else read_rgb(out)
            ref = arr if not (ext == ".webp" and name == "gray") else np.stack([arr] * 3, 2)
            check(got is not None and np.array_equal(got, ref),
                  f"write {name} {ext}: OpenCV reads back the same pixels {r.stderr.strip()}")
    Image.fromarray(rgb).save(src)
    big = cv2.resize(rgb, (400, 300), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(big).save(src)
    sizes = {}
    for q in (95, 50):
        out = os.path.join(d, f"q{q}.jpg")
        r = scv("blur", "-k", "1", "--quality", str(q), src, out)
        sizes[q] = os.path.getsize(out) if r.returncode == 0 else 0
        got = read_rgb(out) if r.returncode == 0 else None
        psnr = cv2.PSNR(got, big) if got is not None else 0
        check(got is not None and open(out, "rb").read(3) == b"\xff\xd8\xff" and
              psnr > (35 if q == 95 else 25), f"write .jpg --quality {q}: JPEG, PSNR {psnr:.1f} dB")
    check(0 < sizes[50] < sizes[95], f"--quality 50 smaller than 95 ({sizes[50]} < {sizes[95]})")

    # ---- tiny files claiming huge images: refused from the header, fast
    def png_claiming(w, h):
        def chunk(t, b):
            return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    bmp = bytearray(b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack(
        "<IiiHHIIiiII", 40, 16000, 16000, 1, 24, 0, 0, 0, 0, 0, 0)) + b"\0" * 64
    for name, data in (("69-byte PNG claiming 16000x16000", png_claiming(16000, 16000)),
                       ("BMP claiming 16000x16000", bytes(bmp))):
        p = os.path.join(d, "huge.img")
        open(p, "wb").write(data)
        t0 = time.time()
        r = scv("gray", p, os.path.join(d, "huge_out.png"))
        dt = time.time() - t0
        check(r.returncode == 1 and dt < 1.0 and len(r.stderr.strip().splitlines()) == 1 and
              not os.path.exists(os.path.join(d, "huge_out.png")),
              f"{name}: refused in {dt:.2f} s: {r.stderr.strip()}")

if problems:
    print(f"\n{len(problems)} problem(s)")
    sys.exit(1)
print("\nall formats agree with OpenCV/PIL")
