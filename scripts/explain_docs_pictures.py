#!/usr/bin/env python3
"""Regenerates the pictures of docs/explain.md from the bundled (real, trained) MobileNetV2.

Runs `scratchcv explain data/sample.jpg --model bundled` (the TFLite model's dequantized float
graph) and composes its outputs into the documentation pictures, 256-colour PNGs:
  docs/img/explain_heatmaps.png  photo, CAM, Grad-CAM, saliency of the top class
  docs/img/explain_features.png  conv1's filters; feature maps of conv1, layer1, layer6, layer17
  docs/img/explain_deconv.png    deconvnet projections of conv1, layer1 and layer6 beside their
                                 photo patches
  docs/img/explain_report.png    the HTML report in headless Chromium (when installed)

usage: scripts/explain_docs_pictures.py BUILD/scratchcv   (from the repository root)
"""
import os
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMG = os.path.join(ROOT, "docs", "img")
GAP = 8


def row(images, height=None, bg=(255, 255, 255)):
    if height:
        images = [im.resize((max(1, im.width * height // im.height), height), Image.NEAREST)
                  for im in images]
    w = sum(im.width for im in images) + GAP * (len(images) - 1)
    h = max(im.height for im in images)
    out = Image.new("RGB", (w, h), bg)
    x = 0
    for im in images:
        out.paste(im.convert("RGB"), (x, 0))
        x += im.width + GAP
    return out


def save(im, name, colors=256):
    path = os.path.join(IMG, name)
    im.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path}: {im.width}x{im.height}, {os.path.getsize(path) // 1024} KB")


def main():
    cli = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        html = os.path.join(tmp, "report.html")
        cmd = [cli, "explain", os.path.join(ROOT, "data", "sample.jpg"), "--model", "bundled",
               "--out", out, "--html", html, "--deconv", "conv1,layer1,layer6", "--channels", "16",
               "--layers", "conv1,layer1,layer6,layer17", "--threads", "2"]
        print(" ".join(["scratchcv"] + cmd[1:]))
        subprocess.run(cmd, check=True)
        files = sorted(os.listdir(out))
        pick = lambda prefix: Image.open(os.path.join(out, next(f for f in files
                                                                 if f.startswith(prefix))))
        save(row([pick("photo"), pick("cam_1_"), pick("gradcam_1_"), pick("saliency_1_")]),
             "explain_heatmaps.png")
        save(row([pick("filters_conv1"), pick("features_conv1"), pick("features_layer1"),
                  pick("features_layer6"), pick("features_layer17")], height=232),
             "explain_features.png")
        save(row([pick("deconv_conv1"), pick("deconv_layer1"), pick("deconv_layer6")], height=240),
             "explain_deconv.png")
        exe = shutil.which("chromium")
        if exe:
            shot = os.path.join(tmp, "shot.png")
            subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--no-first-run",
                            f"--user-data-dir={os.path.join(tmp, 'profile')}", "--hide-scrollbars",
                            f"--screenshot={shot}", "--window-size=1200,1400",
                            "--virtual-time-budget=5000", "file://" + html],
                           check=True, capture_output=True, timeout=180)
            save(Image.open(shot), "explain_report.png", colors=64)
        else:
            print("chromium is not installed: explain_report.png kept as it is")


if __name__ == "__main__":
    main()
