#!/usr/bin/env python3
"""Writes the decoder test images and what PIL makes of them (used by tests/test_image.cpp).

Usage: image_make_test_images.py OUT_DIR
For every case NAME it writes NAME.jpg or NAME.png and the expected pixels, computed with PIL as
ImageOps.exif_transpose(Image.open(f)).convert(MODE), as raw files NAME.<mode>.raw holding
"W H C\n" followed by the interleaved bytes. MODE is 'RGB' (.rgb.raw), 'L' (.l.raw) and, for the
keep mode, the decoded mode itself (.keep.raw).
"""
import os
import struct
import sys

import numpy as np
from PIL import Image, ImageOps

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1234)


def smooth_rgb(w, h):
    """A photo-like image: gradients plus a little noise, so JPEG keeps it faithfully."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 127 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    a = np.stack([r, g, b], axis=-1) + rng.normal(0, 4, (h, w, 3))
    return np.clip(a, 0, 255).astype(np.uint8)


def write_raw(path, im):
    a = np.asarray(im, dtype=np.uint8)
    c = 1 if a.ndim == 2 else a.shape[2]
    with open(path, "wb") as f:
        f.write(f"{a.shape[1]} {a.shape[0]} {c}\n".encode())
        f.write(a.tobytes())


def expected(name, path, keep_mode=None):
    with Image.open(path) as im:
        im.load()
        t = ImageOps.exif_transpose(im)
        write_raw(os.path.join(OUT, name + ".rgb.raw"), t.convert("RGB"))
        write_raw(os.path.join(OUT, name + ".l.raw"), t.convert("L"))
        if keep_mode:
            write_raw(os.path.join(OUT, name + ".keep.raw"), t.convert(keep_mode))


def exif_bytes(orientation, big_endian):
    """APP1 payload: Exif header, TIFF header, IFD0 with Make (ASCII, offset) then Orientation."""
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    make = b"scratchcv\0"
    n = 2
    ifd_size = 2 + 12 * n + 4
    make_off = 8 + ifd_size
    ifd = struct.pack(e + "H", n)
    ifd += struct.pack(e + "HHII", 0x010F, 2, len(make), make_off)
    ifd += struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    ifd += struct.pack(e + "I", 0)
    return b"Exif\0\0" + tiff + ifd + make


base = Image.fromarray(smooth_rgb(37, 23))
for o in range(1, 9):
    for be in (False, True):
        name = f"exif{o}_{'mm' if be else 'ii'}"
        path = os.path.join(OUT, name + ".jpg")
        base.save(path, quality=95, exif=exif_bytes(o, be))
        expected(name, path)

# JPEG colour types.
p = os.path.join(OUT, "gray.jpg")
Image.fromarray(smooth_rgb(41, 30)).convert("L").save(p, quality=90)
expected("gray", p, "L")
p = os.path.join(OUT, "rgb444.jpg")
Image.fromarray(smooth_rgb(33, 17)).save(p, quality=90, subsampling=0)
expected("rgb444", p, "RGB")
p = os.path.join(OUT, "progressive.jpg")
Image.fromarray(smooth_rgb(65, 49)).save(p, quality=85, progressive=True)
expected("progressive", p, "RGB")
p = os.path.join(OUT, "cmyk.jpg")
Image.fromarray(smooth_rgb(29, 31)).convert("CMYK").save(p, quality=95)
expected("cmyk", p, "RGB")

# PNG colour types.
rgba = np.concatenate([smooth_rgb(19, 11), rng.integers(0, 256, (11, 19, 1), dtype=np.uint8)], 2)
p = os.path.join(OUT, "rgba.png")
Image.fromarray(rgba, "RGBA").save(p)
expected("rgba", p, "RGBA")
p = os.path.join(OUT, "la.png")
Image.fromarray(rgba, "RGBA").convert("LA").save(p)
expected("la", p, "RGBA")
p = os.path.join(OUT, "gray.png")
Image.fromarray(smooth_rgb(13, 9)).convert("L").save(p)
expected("gray_png", p, "L")
os.replace(p, os.path.join(OUT, "gray_png.png"))
p = os.path.join(OUT, "bilevel.png")
Image.fromarray(smooth_rgb(21, 5)).convert("1").save(p)
expected("bilevel", p, "L")
# Palette with a transparent entry (tRNS): keep -> RGBA, alpha 0 where the index is 0.
pal = Image.fromarray(smooth_rgb(23, 14)).quantize(colors=12)
p = os.path.join(OUT, "palette.png")
pal.save(p, transparency=0, bits=4)
expected("palette", p, "RGBA")
# 16-bit gray: we keep the high byte (PIL clips I;16 to 255 instead, so the expectation is ours).
g16 = (rng.integers(0, 65536, (7, 10))).astype(np.uint16)
p = os.path.join(OUT, "gray16.png")
Image.fromarray(g16, "I;16").save(p)
write_raw(os.path.join(OUT, "gray16.keep.raw"), (g16 >> 8).astype(np.uint8))

# Resampling: PIL's resize(BILINEAR) (with its antialias when shrinking) on awkward sizes,
# every combination of horizontal/vertical pass, up and down. resize_K.src.raw -> .out.raw.
RESIZE = [((7, 13, 3), (3, 29)), ((1, 1, 1), (5, 3)), ((300, 1, 3), (17, 1)),
          ((64, 48, 1), (64, 20)), ((50, 50, 3), (23, 50)), ((13, 7, 3), (200, 100)),
          ((1000, 3, 1), (7, 3)), ((256, 256, 3), (224, 224)), ((127, 61, 3), (128, 31))]
for k, ((w, h, c), (nw, nh)) in enumerate(RESIZE):
    a = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    im = Image.fromarray(a[..., 0] if c == 1 else a, "L" if c == 1 else "RGB")
    write_raw(os.path.join(OUT, f"resize_{k}.src.raw"), im)
    write_raw(os.path.join(OUT, f"resize_{k}.out.raw"), im.resize((nw, nh), Image.BILINEAR))

print("ok")
