"""The Python API against the CLI: same logits (infer), same top-k (classify), same CV images
bit for bit; clear exceptions; threads honoured; the GIL released during inference."""
import os
import re
import threading
import time

import numpy as np
import pytest
from PIL import Image

import scratchcv
from conftest import SAMPLE, SOURCE, run_cli

CROP = 96  # small network input keeps the suite fast; the pipeline is the same at 224


@pytest.fixture(scope="module")
def clf(model):
    return scratchcv.Classifier(model, threads=1, resize=110, crop=CROP)


def test_version_matches_the_project():
    text = open(os.path.join(SOURCE, "CMakeLists.txt")).read()
    assert scratchcv.__version__ == re.search(r"project\(scratchcv VERSION ([0-9.]+)", text)[1]


# ---- inference ----------------------------------------------------------------------------------
def test_logits_equal_cli_infer(cli, model, clf, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, CROP, CROP), dtype=np.float32)
    ours = clf.logits(x)
    assert ours.shape == (2, 1000) and ours.dtype == np.float32
    for i in range(2):
        (tmp_path / "x.bin").write_bytes(x[i:i + 1].tobytes())
        run_cli(cli, "infer", "--model", model, "--input", tmp_path / "x.bin", "--output",
                tmp_path / "y.bin", "--shape", f"1,3,{CROP},{CROP}", "--threads", 1)
        ref = np.fromfile(tmp_path / "y.bin", dtype=np.float32)
        np.testing.assert_allclose(ours[i], ref, rtol=0, atol=1e-6)


def test_logits_accept_non_contiguous_input(clf):
    rng = np.random.default_rng(2)
    big = rng.standard_normal((CROP, CROP, 3, 2), dtype=np.float32)
    x = big.transpose(3, 2, 0, 1)  # N C H W view with odd strides
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(clf.logits(x), clf.logits(np.ascontiguousarray(x)))


def test_classify_equals_cli_top5(cli, model, clf, photos):
    import json
    r = run_cli(cli, "classify", *photos, "--model", model, "--threads", 1, "--resize", 110,
                "--crop", CROP, "--json")
    for rec in json.loads(r.stdout):
        ours = clf.classify(rec["file"])
        assert [t[0] for t in ours] == [t["index"] for t in rec["top"]]
        assert [t[1] for t in ours] == [t["label"] for t in rec["top"]]
        np.testing.assert_allclose([t[2] for t in ours], [t["probability"] for t in rec["top"]],
                                   rtol=1e-5)
        # The JSON record is the CLI's, byte for byte, but for the timing.
        line = clf.json_records([rec["file"]])[0]
        assert json.loads(line)["top"] == rec["top"]


def test_path_bytes_array_agree(clf):
    by_path = clf.classify(SAMPLE, k=3)
    assert clf.classify(open(SAMPLE, "rb").read(), k=3) == by_path
    assert clf.classify(scratchcv.imread(SAMPLE), k=3) == by_path
    import pathlib
    assert clf.classify(pathlib.Path(SAMPLE), k=3) == by_path
    assert clf.classify_batch([SAMPLE, scratchcv.imread(SAMPLE)], k=3) == [by_path, by_path]
    idx, label, p = by_path[0]
    assert isinstance(idx, int) and label == clf.labels[idx] and 0 < p <= 1


def test_non_contiguous_image_handled(clf):
    img = scratchcv.imread(SAMPLE)
    view = img[::-1, ::2]  # negative and doubled strides
    assert not view.flags.c_contiguous
    assert clf.classify(view) == clf.classify(np.ascontiguousarray(view))


def test_gray_and_rgba_arrays(clf):
    img = scratchcv.imread(SAMPLE)
    gray = scratchcv.cv.gray(img)
    assert gray.ndim == 2
    assert clf.classify(gray) == clf.classify(np.repeat(gray[..., None], 3, axis=2))
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 7, np.uint8)], axis=2)
    assert clf.classify(rgba) == clf.classify(img)


# ---- errors -------------------------------------------------------------------------------------
def test_bad_files_raise_clear_errors(clf, tmp_path):
    with pytest.raises(FileNotFoundError):
        clf.classify(str(tmp_path / "missing.jpg"))
    (tmp_path / "text.jpg").write_text("hello, not a photo")
    with pytest.raises(scratchcv.Error, match="not a JPEG, PNG, BMP, WebP or TIFF"):
        clf.classify(str(tmp_path / "text.jpg"))
    data = open(SAMPLE, "rb").read()
    (tmp_path / "cut.jpg").write_bytes(data[:len(data) // 3])
    with pytest.raises(scratchcv.Error, match="cut.jpg"):
        clf.classify(str(tmp_path / "cut.jpg"))
    with pytest.raises(scratchcv.Error):
        clf.classify(b"")
    with pytest.raises(scratchcv.Error, match="item 1"):
        clf.classify_batch([SAMPLE, str(tmp_path / "text.jpg")])
    # json_records reports instead of raising, as `classify --jsonl` does.
    import json
    rec = json.loads(clf.json_records([str(tmp_path / "text.jpg")])[0])
    assert set(rec) == {"file", "error"} and "not a JPEG, PNG, BMP, WebP or TIFF" in rec["error"]


def test_bad_arrays_raise_clear_errors(clf):
    img = scratchcv.imread(SAMPLE)
    with pytest.raises(TypeError, match="uint8"):
        clf.classify(img.astype(np.float32))
    with pytest.raises(ValueError, match="channels"):
        clf.classify(img[..., :2])
    with pytest.raises(ValueError, match="H x W"):
        clf.classify(img[None])
    with pytest.raises(ValueError):
        clf.classify(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(TypeError):
        clf.classify(12)
    with pytest.raises(TypeError, match="float32"):
        clf.logits(np.zeros((1, 3, CROP, CROP)))  # float64
    with pytest.raises(ValueError, match="shape"):
        clf.logits(np.zeros((1, 3, CROP + 1, CROP), np.float32))
    with pytest.raises(ValueError):
        clf.classify(SAMPLE, k=0)
    with pytest.raises(TypeError, match="uint8"):
        scratchcv.cv.canny(img.astype(np.int16), 10, 20)
    with pytest.raises(ValueError, match="low"):
        scratchcv.cv.canny(img, 30, 10)
    with pytest.raises(scratchcv.Error, match="odd"):
        scratchcv.cv.blur(img, 4)


def test_bad_models_raise_clear_errors(model, tmp_path):
    with pytest.raises(FileNotFoundError):
        scratchcv.Classifier(str(tmp_path / "missing.pth"))
    (tmp_path / "junk.pth").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(scratchcv.Error, match="junk.pth"):
        scratchcv.Classifier(str(tmp_path / "junk.pth"))
    with pytest.raises(scratchcv.Error, match="unknown model"):
        scratchcv.Classifier("no_such_arch")
    with pytest.raises(ValueError, match="precision"):
        scratchcv.Classifier(model, precision="int3")
    with pytest.raises(ValueError, match="threads"):
        scratchcv.Classifier(model, threads=0)


# ---- threads and the GIL ------------------------------------------------------------------------
def os_threads():
    return len(os.listdir("/proc/self/task"))


def test_threads_honoured(model):
    # The library clamps threads to the usable CPUs, so ask for exactly that many.
    n = len(os.sched_getaffinity(0))
    if n < 2:
        pytest.skip("needs 2 CPUs")
    before = os_threads()
    cn = scratchcv.Classifier(model, threads=n, crop=CROP, resize=110)
    # A pool of N threads is the caller plus N - 1 workers.
    assert cn.threads == n and f"{n} threads" in repr(cn)
    assert os_threads() - before == n - 1
    c1 = scratchcv.Classifier(model, threads=1, crop=CROP, resize=110)
    assert c1.threads == 1 and os_threads() - before == n - 1
    x = np.random.default_rng(3).standard_normal((1, 3, CROP, CROP), dtype=np.float32)
    np.testing.assert_allclose(cn.logits(x), c1.logits(x), rtol=0, atol=1e-4)
    del cn, c1


def test_gil_released_during_inference(clf):
    """While one Python thread is inside classify_batch, another keeps running Python code."""
    imgs = [scratchcv.imread(SAMPLE)] * 6
    ticks, stop = [], threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.01)
    t0 = time.perf_counter()
    clf.classify_batch(imgs)
    t1 = time.perf_counter()
    stop.set()
    t.join()
    inside = [x for x in ticks if t0 + 0.1 * (t1 - t0) < x < t1 - 0.1 * (t1 - t0)]
    assert len(inside) >= 5, f"{len(inside)} ticks of the other thread during {t1 - t0:.3f} s"


def test_two_python_threads_run_in_parallel(model):
    """Two threads, each with a 1-thread classifier, finish sooner together than one after the
    other (best of three rounds, so another process's burst does not decide it)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs")
    clfs = [scratchcv.Classifier(model, threads=1, crop=128, resize=146) for _ in range(2)]
    img = scratchcv.imread(SAMPLE)
    work = lambda c: c.classify_batch([img] * 6)  # noqa: E731
    for c in clfs:
        work(c)  # warm up
    ratios = []
    for _ in range(4):
        t0 = time.perf_counter()
        for c in clfs:
            work(c)
        seq = time.perf_counter() - t0
        ths = [threading.Thread(target=work, args=(c,)) for c in clfs]
        t0 = time.perf_counter()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        par = time.perf_counter() - t0
        ratios.append(par / seq)
        print(f"sequential {seq:.3f} s, two threads {par:.3f} s, ratio {par / seq:.2f}")
        if par / seq < 0.8:
            return
    # Other processes may hold every CPU; then a wall-clock race proves nothing either way (the
    # deterministic test above still shows the GIL is released).
    load = os.getloadavg()[0]
    if load > len(os.sched_getaffinity(0)) - 0.5:
        pytest.skip(f"machine busy (load {load:.1f}): ratios {[round(r, 2) for r in ratios]}")
    assert min(ratios) < 0.8, f"concurrent / sequential time ratios {ratios}"


# ---- classic CV: bit-exact with the CLI ---------------------------------------------------------
CV_CASES = [
    ("gray", [], lambda img: scratchcv.cv.gray(img)),
    ("yuv", [], lambda img: scratchcv.cv.yuv(img)),
    ("blur", ["--ksize", 5], lambda img: scratchcv.cv.blur(img, 5)),
    ("gaussian", ["--ksize", 7, "--sigma", 1.5], lambda img: scratchcv.cv.gaussian(img, 7, 1.5)),
    ("gaussian", ["--ksize", 5], lambda img: scratchcv.cv.gaussian(img, 5)),
    ("canny", ["--low", 50, "--high", 150], lambda img: scratchcv.cv.canny(img, 50, 150)),
    ("canny", ["--low", 100, "--high", 300, "--aperture", 5, "--l2"],
     lambda img: scratchcv.cv.canny(img, 100, 300, aperture=5, l2=True)),
    ("otsu", [], lambda img: scratchcv.cv.otsu(img)[1]),
]


@pytest.mark.parametrize("case", range(len(CV_CASES)))
def test_cv_bit_exact_with_cli(cli, photos, tmp_path, case):
    name, args, fn = CV_CASES[case]
    for photo in photos:
        out = tmp_path / "out.png"
        run_cli(cli, name, photo, out, *args)
        want = np.asarray(Image.open(out))  # PIL decodes the CLI's PNG
        got = fn(scratchcv.imread(photo))
        if want.ndim == 3 and want.shape[2] == 1:
            want = want[..., 0]
        assert got.dtype == np.uint8 and got.shape == want.shape, (photo, got.shape, want.shape)
        assert np.array_equal(got, want), f"{name} {args} differs on {photo}"


def test_otsu_threshold_and_yuv_inverse_match_cli(cli, tmp_path):
    r = run_cli(cli, "otsu", SAMPLE, tmp_path / "o.png")
    t, _ = scratchcv.cv.otsu(scratchcv.imread(SAMPLE))
    assert f"threshold: {t}" in r.stdout
    run_cli(cli, "yuv", SAMPLE, tmp_path / "yuv.png")
    run_cli(cli, "yuv", "--inverse", tmp_path / "yuv.png", tmp_path / "rgb.png")
    yuv = scratchcv.cv.yuv(scratchcv.imread(SAMPLE))
    assert np.array_equal(scratchcv.cv.yuv(yuv, inverse=True),
                          np.asarray(Image.open(tmp_path / "rgb.png")))


def test_imread_imwrite_roundtrip(tmp_path):
    img = scratchcv.imread(SAMPLE)
    assert img.shape[2] == 3 and img.dtype == np.uint8
    scratchcv.imwrite(str(tmp_path / "a.png"), img)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), img)
    assert scratchcv.imread(SAMPLE, "gray").ndim == 2
