#!/usr/bin/python3
"""Golden comparison of `scratchcv gray|yuv|blur|gaussian|canny|otsu` against OpenCV (cv2).

Each photo is decoded once by OpenCV and written as a PNG, so both sides see the same pixels
(JPEG decoders may differ; that is not what is tested here). Then the CLI and cv2 process it
and the outputs are compared. Prints one line per check with exact figures and exits non-zero
if any acceptance bound is missed:
  gray, YUV (both ways): max |diff| <= 1;  blur, Gaussian (ksize 3, 5, 7, 15): max |diff| <= 1;
  Otsu: identical threshold;  Canny (aperture 3, L1 and L2, 3 threshold pairs): IoU >= 0.97.

usage: cv_golden.py SCRATCHCV_BINARY [--quick]
"""
import glob
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

from clitest import read_rgb as read

SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
DARKNET = "/usr/share/darknet/data"
PHOTOS = [f"{SKIMAGE}/{n}" for n in ("astronaut.png", "chelsea.png", "coffee.png", "camera.png",
                                     "motorcycle_left.png")] + \
         [f"{DARKNET}/{n}" for n in ("dog.jpg", "eagle.jpg", "horses.jpg", "person.jpg")]
KSIZES = (3, 5, 7, 15)
CANNY_PAIRS = ((50, 150), (100, 200), (20, 60))

cv2.setNumThreads(1)
CLI = sys.argv[1]
QUICK = "--quick" in sys.argv
failures = []
summary = {}


def run(*args, expect_ok=True):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if expect_ok and r.returncode != 0:
        raise RuntimeError(f"scratchcv {' '.join(map(str, args))} failed: {r.stderr.strip()}")
    return r


def write(path, img):
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(path, img, [cv2.IMWRITE_PNG_COMPRESSION, 1])


def cv_gray(img):
    if img.ndim == 2:
        return img
    return cv2.cvtColor(img, cv2.COLOR_RGBA2GRAY if img.shape[2] == 4 else cv2.COLOR_RGB2GRAY)


def cv_rgb(img):
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return img[:, :, :3].copy()


def record(kind, name, value, ok, detail=""):
    summary.setdefault(kind, []).append(value)
    line = f"{'ok  ' if ok else 'FAIL'} {kind:<22} {name:<28} {detail}"
    print(line)
    if not ok:
        failures.append(line)


def diff_check(kind, name, ours, ref, tol=1):
    assert ours.shape == ref.shape, (kind, name, ours.shape, ref.shape)
    d = np.abs(ours.astype(np.int32) - ref.astype(np.int32))
    mx = int(d.max()) if d.size else 0
    nd = int((d > 0).sum())
    record(kind, name, mx, mx <= tol, f"max|diff| {mx}, differing {nd}/{d.size}")


def iou(a, b):
    ea, eb = a > 0, b > 0
    union = int((ea | eb).sum())
    return 1.0 if union == 0 else int((ea & eb).sum()) / union


def check_image(tmp, name, img, full=True):
    src = os.path.join(tmp, f"{name}.png")
    write(src, img)
    out = os.path.join(tmp, f"{name}_out.png")
    # gray
    run("gray", src, out)
    diff_check("gray", name, read(out), cv_gray(img))
    # yuv forward, planes and inverse
    rgb = cv_rgb(img)
    ref_yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
    run("yuv", src, out)
    ours_yuv = read(out)
    diff_check("yuv", name, ours_yuv, ref_yuv)
    run("yuv", src, os.path.join(tmp, "pl.png"), "--planes")
    planes = np.stack([read(os.path.join(tmp, f"pl_{c}.png")) for c in "yuv"], axis=2)
    diff_check("yuv --planes", name, planes, ref_yuv, tol=0)
    run("yuv", out, os.path.join(tmp, "inv.png"), "--inverse")
    diff_check("yuv --inverse", name, read(os.path.join(tmp, "inv.png")),
               cv2.cvtColor(ours_yuv, cv2.COLOR_YUV2RGB))
    # box and Gaussian
    for k in KSIZES if full else (3, 5):
        run("blur", src, out, "--ksize", k)
        diff_check(f"blur k{k}", name, read(out), cv2.blur(img, (k, k)))
        run("gaussian", src, out, "--ksize", k)
        diff_check(f"gaussian k{k}", name, read(out), cv2.GaussianBlur(img, (k, k), 0))
    if full:
        run("gaussian", src, out, "--ksize", 9, "--sigma", 1.7)
        diff_check("gaussian k9 s1.7", name, read(out), cv2.GaussianBlur(img, (9, 9), 1.7))
    # Otsu on the gray image
    gray = cv_gray(img)
    r = run("otsu", src, out)
    t_ours = int(r.stdout.split("threshold:")[1].split()[0])
    t_ref, ref_bin = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    record("otsu threshold", name, t_ours, t_ours == int(t_ref), f"ours {t_ours}, opencv {int(t_ref)}")
    diff_check("otsu binary", name, read(out), ref_bin, tol=0)
    # Canny, aperture 3, L1 and L2
    for lo, hi in CANNY_PAIRS if full else CANNY_PAIRS[:1]:
        for l2 in (False, True):
            run("canny", src, out, "--low", lo, "--high", hi, *(["--l2"] if l2 else []))
            ours = read(out)
            ref = cv2.Canny(gray, lo, hi, apertureSize=3, L2gradient=l2)
            v = iou(ours, ref)
            kind = f"canny {lo}/{hi} {'L2' if l2 else 'L1'}"
            record(kind, name, v, v >= 0.97,
                   f"IoU {v:.6f}, edges ours {int((ours > 0).sum())} opencv {int((ref > 0).sum())}")


def exhaustive_colour(tmp):
    """All 2^24 RGB triples through gray and YUV, and all 2^24 YUV triples back to RGB."""
    v = np.arange(1 << 24, dtype=np.uint32)
    img = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], axis=1).astype(np.uint8)
    img = img.reshape(4096, 4096, 3)
    src = os.path.join(tmp, "all_colours.png")
    write(src, img)
    out = os.path.join(tmp, "all_out.png")
    run("gray", src, out)
    diff_check("gray", "all 2^24 colours", read(out), cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), tol=1)
    run("yuv", src, out)
    diff_check("yuv", "all 2^24 colours", read(out), cv2.cvtColor(img, cv2.COLOR_RGB2YUV), tol=1)
    run("yuv", src, out, "--inverse")
    diff_check("yuv --inverse", "all 2^24 triples", read(out), cv2.cvtColor(img, cv2.COLOR_YUV2RGB),
               tol=1)


def kernel_check():
    """--show-kernel prints the outer product of cv2.getGaussianKernel."""
    for k, sigma in ((3, 0), (5, 0), (7, 0), (9, 0), (15, 0), (5, 1.2), (11, 2.5)):
        r = run("gaussian", "--ksize", k, "--sigma", sigma, "--show-kernel")
        lines = r.stdout.splitlines()[1:1 + k]
        ours = np.array([[float(v) for v in l.split()] for l in lines])
        g = cv2.getGaussianKernel(k, sigma, ktype=cv2.CV_64F)
        d = float(np.abs(ours - g @ g.T).max())
        record("show-kernel", f"k{k} sigma{sigma}", d, d < 1e-6, f"max|diff| {d:.2e}")


def canny_apertures(tmp):
    """Apertures 5 and 7 (reference path) on two photos: reported, same IoU bound."""
    for path in PHOTOS[:2]:
        img = read(path)
        name = os.path.splitext(os.path.basename(path))[0]
        src = os.path.join(tmp, f"{name}_ap.png")
        write(src, img)
        out = os.path.join(tmp, "ap_out.png")
        gray = cv_gray(img)
        for ap, lo, hi in ((5, 200, 600), (7, 1000, 3000)):
            for l2 in (False, True):
                run("canny", src, out, "--low", lo, "--high", hi, "--aperture", ap,
                    *(["--l2"] if l2 else []))
                ours = read(out)
                ref = cv2.Canny(gray, lo, hi, apertureSize=ap, L2gradient=l2)
                v = iou(ours, ref)
                record(f"canny ap{ap} {'L2' if l2 else 'L1'}", name, v, v >= 0.97,
                       f"IoU {v:.6f}, edges ours {int((ours > 0).sum())} "
                       f"opencv {int((ref > 0).sum())}")


def synthetic():
    rng = np.random.default_rng(4)
    cases = {}
    for (h, w) in ((1, 1), (1, 17), (23, 1), (2, 2), (7, 5), (13, 127), (31, 33)):
        cases[f"noise{h}x{w}c3"] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cases["noise9x11c1"] = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    cases["noise17x19c4"] = rng.integers(0, 256, (17, 19, 4), dtype=np.uint8)
    cases["const0_16x9"] = np.zeros((9, 16, 3), np.uint8)
    cases["const255_5x7"] = np.full((5, 7, 3), 255, np.uint8)
    cases["const77_12x12c1"] = np.full((12, 12), 77, np.uint8)
    y, x = np.mgrid[0:41, 0:37]
    step = np.where(x < 18, 30, 220).astype(np.uint8)
    cases["step41x37"] = np.stack([step, step, step], axis=2)
    ramp = ((x * 7 + y * 3) % 256).astype(np.uint8)
    cases["ramp41x37c1"] = ramp
    disk = np.where((x - 18) ** 2 + (y - 20) ** 2 < 150, 200, 40).astype(np.uint8)
    cases["disk41x37c1"] = disk
    return cases


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for name, img in synthetic().items():
            check_image(tmp, name, img)
        photos = PHOTOS[:3] if QUICK else PHOTOS
        for path in photos:
            img = read(path)
            check_image(tmp, os.path.splitext(os.path.basename(path))[0], img)
        kernel_check()
        if not QUICK:
            canny_apertures(tmp)
            exhaustive_colour(tmp)
    print("\nsummary (worst case over all images):")
    for kind, vals in summary.items():
        if kind.startswith("canny"):
            print(f"  {kind:<22} min IoU {min(vals):.6f} over {len(vals)} images")
        elif kind == "otsu threshold":
            print(f"  {kind:<22} identical on all {len(vals)} images" if not any(
                f.split()[1:3] == ["otsu", "threshold"] for f in failures) else "  otsu: MISMATCH")
        elif kind == "show-kernel":
            print(f"  {kind:<22} max |diff| {max(vals):.2e} over {len(vals)} kernels")
        else:
            print(f"  {kind:<22} max |diff| {max(vals)} over {len(vals)} images")
    if failures:
        print(f"\n{len(failures)} check(s) failed:")
        for f in failures:
            print("  " + f)
        return 1
    print(f"\nall {sum(len(v) for v in summary.values())} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
