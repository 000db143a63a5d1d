"""Shared fixtures: the CLI to compare against (SCV_CLI), a random-weight ResNet-18 checkpoint
written by PyTorch, and test photos (the repository's sample, darknet's and skimage's)."""
import os
import shutil
import subprocess

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
SAMPLE = os.path.join(SOURCE, "data", "sample.jpg")
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
DARKNET = "/usr/share/darknet/data"


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("SCV_CLI") or shutil.which("scratchcv")
    if not path:
        pytest.skip("set SCV_CLI to the scratchcv binary")
    return path


def run_cli(cli, *args, check=True):
    r = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"scratchcv {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    import torch
    import torchvision
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).eval().state_dict(), path)
    return str(path)


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """Photo files: JPEG, RGB PNG, RGBA PNG, gray PNG."""
    from PIL import Image
    d = tmp_path_factory.mktemp("photos")
    out = [SAMPLE, f"{DARKNET}/dog.jpg", f"{SKIMAGE}/chelsea.png"]
    rgba = np.asarray(Image.open(f"{SKIMAGE}/astronaut.png").convert("RGBA")).copy()
    rgba[..., 3] = np.arange(rgba.shape[1], dtype=np.uint8)[None, :]
    Image.fromarray(rgba[::3, ::3]).save(d / "rgba.png")
    out.append(str(d / "rgba.png"))
    out.append(f"{SKIMAGE}/camera.png")  # gray
    return [p for p in out if os.path.exists(p)]
