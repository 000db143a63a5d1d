"""Classic computer vision on uint8 numpy images, bit-exact with `scratchcv gray|yuv|blur|
gaussian|canny|otsu` (and with OpenCV where docs/cv.md says so).

Images are H x W or H x W x C uint8 arrays, RGB(A) channel order.
"""
from ._scratchcv import cv as _cv

gray = _cv.gray
yuv = _cv.yuv
blur = _cv.blur
gaussian = _cv.gaussian
canny = _cv.canny
otsu = _cv.otsu

__all__ = ["gray", "yuv", "blur", "gaussian", "canny", "otsu"]
