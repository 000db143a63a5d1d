"""scratchcv: CNN inference and classic computer vision written from scratch in C++.

    import scratchcv
    clf = scratchcv.Classifier("resnet50.pth", threads=2)
    clf.classify("photo.jpg")            # [(281, 'tabby, tabby cat', 0.42), ...]
    clf.classify(open("photo.jpg", "rb").read())
    clf.classify(rgb_uint8_array)        # H x W x 3
    edges = scratchcv.cv.canny(scratchcv.imread("photo.jpg"), 50, 150)

Heavy calls release the GIL. Errors: TypeError / ValueError for bad arguments,
FileNotFoundError for a missing file, scratchcv.Error for what the library refuses.
"""
from ._scratchcv import Classifier, Error, __version__, data_dir, imread, imwrite
from . import cv

Error.__module__ = "scratchcv"

__all__ = ["Classifier", "Error", "__version__", "data_dir", "imread", "imwrite", "cv"]
