# Image area: torchvision ImageNet pre-processing golden test (real photos, PIL as reference).
scv_script_test(image_preprocess_golden image_preprocess_golden.py 300)
# BMP/WebP/TIFF reading and writing by extension against OpenCV and PIL; tiny files claiming
# huge images refused from the header.
scv_script_test(image.formats image_formats.py 120)
