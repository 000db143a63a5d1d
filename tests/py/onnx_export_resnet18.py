"""Exports torchvision resnet18 (seeded random weights) to ONNX for test_onnx_torch_export.

Usage: onnx_export_resnet18.py OUT_DIR OPSET
Writes OUT_DIR/resnet18.onnx, input.pb (1x3x64x64) and logits.pb (PyTorch's output)
as ONNX TensorProtos. BatchNorm statistics are randomised so that BatchNorm matters.
"""
import os
import sys

import torch
import torchvision
from onnx import numpy_helper

from torch_models import randomise_batchnorm


def main():
    out, opset = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = randomise_batchnorm(torchvision.models.resnet18(num_classes=1000))
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        logits = model(x)
    # Below opset 13 keep BatchNormalization (and Identity) nodes: PRESERVE on an eval-mode model
    # skips the exporter's BN-into-Conv folding. Otherwise the default export (BN folded).
    mode = torch.onnx.TrainingMode.PRESERVE if opset < 13 else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(model, x, os.path.join(out, "resnet18.onnx"), opset_version=opset,
                      training=mode, do_constant_folding=(opset >= 13), input_names=["input"],
                      output_names=["logits"])
    with open(os.path.join(out, "input.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x.numpy(), "input").SerializeToString())
    with open(os.path.join(out, "logits.pb"), "wb") as f:
        f.write(numpy_helper.from_array(logits.numpy(), "logits").SerializeToString())


if __name__ == "__main__":
    main()
