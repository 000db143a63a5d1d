// The Python extension module scratchcv._scratchcv: scv::Classifier and the classic CV functions
// on numpy arrays. The package python/scratchcv re-exports it (scratchcv.Classifier, scratchcv.cv).
//
// Conventions:
//  - Images are numpy uint8 arrays H x W (gray) or H x W x C, C in {1, 3, 4} (RGB(A) order, as
//    PIL gives them; OpenCV's BGR must be flipped first: img[..., ::-1]). Any strides are
//    accepted (a non-contiguous view is copied once).
//  - Every C++ call that computes runs with the GIL released, so Python threads (and Dask's
//    threaded workers) run classifiers in parallel.
//  - Errors: a wrong dtype is a TypeError, a wrong shape or value a ValueError, a missing file a
//    FileNotFoundError, anything the library refuses (corrupt image, bad model) scratchcv.Error
//    (a RuntimeError) with the library's one-line message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "scratchcv/classifier.h"
#include "scratchcv/cv.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"

namespace py = pybind11;

namespace {

// scratchcv.Error, created at module init.
PyObject* g_error = nullptr;

[[noreturn]] void raise_status(const scv::Status& st) {
  PyErr_SetString(g_error, st.message().c_str());
  throw py::error_already_set();
}

template <typename T>
T take(scv::Result<T>&& r) {
  if (!r.ok()) raise_status(r.status());
  return std::move(r).value();
}

void check(const scv::Status& st) {
  if (!st.ok()) raise_status(st);
}

// numpy uint8 H x W [x C] -> scv::Image (one copy; any strides).
scv::Image to_image(const py::array& a, const char* what = "image") {
  if (!py::isinstance<py::array_t<uint8_t>>(a) || a.dtype().kind() != 'u' || a.itemsize() != 1)
    throw py::type_error(std::string(what) +
                         " must be a uint8 array (H x W or H x W x C), got dtype " +
                         py::str(a.dtype()).cast<std::string>());
  if (a.ndim() != 2 && a.ndim() != 3)
    throw py::value_error(std::string(what) + " must have shape H x W or H x W x C, got " +
                          std::to_string(a.ndim()) + " dimensions");
  const int64_t h = a.shape(0), w = a.shape(1), c = a.ndim() == 3 ? a.shape(2) : 1;
  if (c != 1 && c != 3 && c != 4)
    throw py::value_error(std::string(what) + " must have 1, 3 or 4 channels, got " +
                          std::to_string(c));
  if (h < 1 || w < 1 || h * w > scv::kMaxImagePixels)
    throw py::value_error(std::string(what) + " must be at least 1x1 and at most " +
                          std::to_string(scv::kMaxImagePixels) + " pixels, got " +
                          std::to_string(w) + "x" + std::to_string(h));
  auto contiguous = py::array_t<uint8_t, py::array::c_style>::ensure(a);
  scv::Image img{int(w), int(h), int(c)};
  std::memcpy(img.pixels.data(), contiguous.data(), img.pixels.size());
  return img;
}

py::array_t<uint8_t> to_numpy(scv::Image&& img) {
  auto* owned = new std::vector<uint8_t>(std::move(img.pixels));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<uint8_t>*>(p); });
  std::vector<py::ssize_t> shape = {img.height, img.width};
  if (img.channels != 1) shape.push_back(img.channels);
  return py::array_t<uint8_t>(shape, owned->data(), free_when_done);
}

using Top = std::vector<std::tuple<int, std::string, float>>;
Top to_tuples(const std::vector<scv::Prediction>& ps) {
  Top t;
  for (const auto& p : ps) t.emplace_back(p.index, p.label, p.probability);
  return t;
}

bool is_pathlike(const py::handle& x) {
  return py::isinstance<py::str>(x) || py::hasattr(x, "__fspath__");
}
std::string fspath(const py::handle& x) {
  py::object p = py::module_::import("os").attr("fspath")(x);
  if (!py::isinstance<py::str>(p))
    throw py::type_error("bytes paths are not supported; pass a str");
  return p.cast<std::string>();
}
void check_exists(const std::string& path) {
  if (!scv::file_exists(path)) {
    PyErr_SetObject(PyExc_FileNotFoundError, py::make_tuple(2, "No such file", path).ptr());
    throw py::error_already_set();
  }
}

// One input of classify(): a path, encoded bytes, or a decoded image.
struct Input {
  std::string path;
  std::string bytes;
  std::optional<scv::Image> image;
  int kind = 0;  // 0 path, 1 bytes, 2 image
};
Input to_input(const py::handle& x) {
  Input in;
  if (is_pathlike(x)) {
    in.path = fspath(x);
    in.kind = 0;
  } else if (py::isinstance<py::bytes>(x) || py::isinstance<py::bytearray>(x) ||
             py::isinstance<py::memoryview>(x)) {
    in.bytes = py::bytes(py::reinterpret_borrow<py::object>(x)).cast<std::string>();
    in.kind = 1;
  } else if (py::isinstance<py::array>(x)) {
    in.image = to_image(py::reinterpret_borrow<py::array>(x));
    in.kind = 2;
  } else {
    throw py::type_error(
        "expected a path (str or os.PathLike), encoded bytes, or a uint8 numpy "
        "array H x W x 3; got " +
        py::str(py::type::of(x).attr("__name__")).cast<std::string>());
  }
  return in;
}

scv::Result<std::vector<scv::Prediction>> run_input(scv::Classifier& c, const Input& in, int k) {
  switch (in.kind) {
    case 0:
      return c.classify(in.path, k);
    case 1:
      return c.classify_encoded(reinterpret_cast<const uint8_t*>(in.bytes.data()), in.bytes.size(),
                                k);
    default:
      return c.classify_image(*in.image, k);
  }
}

void check_k(int k) {
  if (k < 1) throw py::value_error("k must be >= 1, got " + std::to_string(k));
}

// JSON records, exactly as `scratchcv classify --jsonl` prints them (timing included).
// names[i] (default: paths[i]) is the "file" of the record of paths[i].
std::vector<std::string> json_records(scv::Classifier& c, const std::vector<std::string>& paths,
                                      const std::vector<std::string>& names, int k) {
  std::vector<std::string> out;
  out.reserve(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.classify(paths[i], k);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    out.push_back(scv::classification_json(names.empty() ? paths[i] : names[i], r, ms));
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_scratchcv, m) {
  m.doc() = "scratchcv: CNN inference and classic computer vision written from scratch in C++";
  m.attr("__version__") = scv::version();
  static py::exception<std::runtime_error> err(m, "Error", PyExc_RuntimeError);
  g_error = err.ptr();

  py::class_<scv::Classifier>(m, "Classifier", R"doc(
An ImageNet classifier: load a model once, then classify photos.

Classifier(model=None, threads=None, precision="fp32", *, arch=None, weights=None, isa=None,
           resize=None, crop=224)

model: a .pth (torchvision state_dict) or .onnx file, or an architecture name ("resnet50")
whose official weights were fetched (`scratchcv fetch resnet50`); None = the default model.
threads: worker threads of this classifier (None = all CPUs). precision: "fp32".
)doc")
      .def(py::init([](py::object model, std::optional<int> threads, std::string precision,
                       std::optional<std::string> arch, std::optional<std::string> weights,
                       std::optional<std::string> isa, std::optional<int> resize, int crop) {
             scv::ClassifierOptions o;
             if (!model.is_none()) {
               o.model = fspath(model);
               if (o.model.empty()) throw py::value_error("model must not be empty");
               // A path (not an architecture name) that does not exist.
               if (o.model.find('/') != std::string::npos || o.model.find('.') != std::string::npos)
                 check_exists(o.model);
             }
             if (precision != "fp32")
               throw py::value_error("precision '" + precision +
                                     "' is not available (supported: 'fp32')");
             if (threads) {
               if (*threads < 1)
                 throw py::value_error("threads must be >= 1 (or None for all CPUs)");
               o.threads = *threads;
             }
             o.precision = precision;
             if (arch) o.arch = *arch;
             if (weights) o.weights = *weights;
             if (isa) o.isa = *isa;
             if (resize) o.resize = *resize;
             o.crop = crop;
             scv::Result<std::unique_ptr<scv::Classifier>> r = scv::Status();
             {
               py::gil_scoped_release nogil;
               r = scv::Classifier::create(o);
             }
             return take(std::move(r));
           }),
           py::arg("model") = py::none(), py::arg("threads") = py::none(),
           py::arg("precision") = "fp32", py::kw_only(), py::arg("arch") = py::none(),
           py::arg("weights") = py::none(), py::arg("isa") = py::none(),
           py::arg("resize") = py::none(), py::arg("crop") = 224)
      .def(
          "classify",
          [](scv::Classifier& c, py::handle x, int k) {
            check_k(k);
            Input in = to_input(x);
            if (in.kind == 0) check_exists(in.path);
            scv::Result<std::vector<scv::Prediction>> r = scv::Status();
            {
              py::gil_scoped_release nogil;
              r = run_input(c, in, k);
            }
            return to_tuples(take(std::move(r)));
          },
          py::arg("image"), py::arg("k") = 5,
          "Top-k of one photo: a path, encoded JPEG/PNG bytes, or a uint8 numpy array H x W x 3 "
          "(RGB). Returns [(index, label, probability), ...], most probable first.")
      .def(
          "classify_batch",
          [](scv::Classifier& c, py::iterable items, int k) {
            check_k(k);
            std::vector<Input> ins;
            for (py::handle x : items) {
              ins.push_back(to_input(x));
              if (ins.back().kind == 0) check_exists(ins.back().path);
            }
            std::vector<scv::Result<std::vector<scv::Prediction>>> rs;
            {
              py::gil_scoped_release nogil;
              for (const Input& in : ins) rs.push_back(run_input(c, in, k));
            }
            std::vector<Top> out;
            for (size_t i = 0; i < rs.size(); ++i) {
              if (!rs[i].ok()) raise_status(scv::error("item ", i, ": ", rs[i].status().message()));
              out.push_back(to_tuples(*rs[i]));
            }
            return out;
          },
          py::arg("images"), py::arg("k") = 5,
          "classify() of each item (paths, bytes or arrays); the first failure raises, naming the "
          "item.")
      .def(
          "logits",
          [](scv::Classifier& c, py::array x) {
            if (x.dtype().kind() != 'f' || x.itemsize() != 4)
              throw py::type_error("logits() needs a float32 array N x 3 x H x W, got dtype " +
                                   py::str(x.dtype()).cast<std::string>());
            const scv::Shape& s = c.input_shape();
            if (x.ndim() != 4 || x.shape(1) != s[1] || x.shape(2) != s[2] || x.shape(3) != s[3])
              throw py::value_error("logits() needs shape N x " + std::to_string(s[1]) + " x " +
                                    std::to_string(s[2]) + " x " + std::to_string(s[3]) +
                                    " (NCHW, normalised), got " +
                                    py::str(py::getattr(x, "shape")).cast<std::string>());
            // Zero-copy when the array is already C-contiguous float32; else one copy.
            auto in = py::array_t<float, py::array::c_style>::ensure(x);
            const int64_t n = in.shape(0);
            py::array_t<float> out(std::vector<py::ssize_t>{n, c.num_classes()});
            const float* src = in.data();
            float* dst = out.mutable_data();
            scv::Status st;
            {
              py::gil_scoped_release nogil;
              st = c.logits(src, n, dst);
            }
            check(st);
            return out;
          },
          py::arg("x"),
          "Raw logits (N x classes, float32) of pre-processed images N x 3 x crop x crop.")
      .def(
          "preprocess",
          [](const scv::Classifier& c, py::array img) {
            scv::Image im = to_image(img);
            scv::Result<scv::Tensor> r = scv::Status();
            {
              py::gil_scoped_release nogil;
              r = c.preprocess(im);
            }
            scv::Tensor t = take(std::move(r));
            py::array_t<float> out(std::vector<py::ssize_t>(t.shape().begin(), t.shape().end()));
            std::memcpy(out.mutable_data(), t.data(), size_t(t.numel()) * 4);
            return out;
          },
          py::arg("image"), "The network input (1 x 3 x crop x crop float32) of a uint8 image.")
      .def(
          "json_records",
          [](scv::Classifier& c, const std::vector<std::string>& paths, int k,
             std::optional<std::vector<std::string>> names) {
            check_k(k);
            if (names && names->size() != paths.size())
              throw py::value_error("names must have one entry per path");
            std::vector<std::string> out;
            {
              py::gil_scoped_release nogil;
              out = json_records(c, paths, names ? *names : std::vector<std::string>(), k);
            }
            return out;
          },
          py::arg("paths"), py::arg("k") = 5, py::arg("names") = py::none(),
          "One JSON line per path, exactly as `scratchcv classify --jsonl` prints it (an "
          "unreadable file gives an {\"file\", \"error\"} record instead of raising). "
          "names: the \"file\" written for each path (default: the path).")
      .def_property_readonly("labels", &scv::Classifier::labels)
      .def_property_readonly("num_classes", &scv::Classifier::num_classes)
      .def_property_readonly(
          "input_shape",
          [](const scv::Classifier& c) { return py::tuple(py::cast(c.input_shape())); })
      .def_property_readonly("threads",
                             [](const scv::Classifier& c) { return c.options().threads; })
      .def_property_readonly("model", [](const scv::Classifier& c) { return c.options().model; })
      .def_property_readonly("precision",
                             [](const scv::Classifier& c) { return c.options().precision; })
      .def("__repr__",
           [](const scv::Classifier& c) { return "<scratchcv.Classifier " + c.describe() + ">"; });

  m.def(
      "list_image_files",
      [](const std::vector<std::string>& args, bool recursive) {
        scv::Result<std::vector<std::string>> r = scv::Status();
        {
          py::gil_scoped_release nogil;
          r = scv::list_image_files(args, recursive);
        }
        return take(std::move(r));
      },
      py::arg("paths"), py::arg("recursive") = true,
      "The photos `scratchcv classify [--recursive] PATH...` would classify, in its order.");
  m.def(
      "jsonl_done_files",
      [](const std::string& path, bool repair) {
        return take(scv::jsonl_done_files(path, repair));
      },
      py::arg("path"), py::arg("repair") = false,
      "The \"file\" of each complete record of a --jsonl output (what --resume skips); with "
      "repair, a torn last line is cut off the file.");
  m.def("data_dir", &scv::data_dir,
        "Folder of the data files shipped with scratchcv (labels, bundled models), found at run "
        "time beside the module (or $SCV_DATA_DIR); '' when there is none.");
  m.def(
      "imread",
      [](const std::string& path, const std::string& mode) {
        scv::ColorMode cm;
        if (mode == "keep")
          cm = scv::ColorMode::keep;
        else if (mode == "rgb")
          cm = scv::ColorMode::rgb;
        else if (mode == "gray")
          cm = scv::ColorMode::gray;
        else
          throw py::value_error("mode must be 'keep', 'rgb' or 'gray', got '" + mode + "'");
        check_exists(path);
        scv::Result<scv::Image> r = scv::Status();
        {
          py::gil_scoped_release nogil;
          r = scv::load_image(path, cm);
        }
        return to_numpy(take(std::move(r)));
      },
      py::arg("path"), py::arg("mode") = "keep",
      "Decodes a JPEG/PNG (EXIF orientation applied) into a uint8 array H x W [x C], RGB(A).");
  m.def(
      "imwrite",
      [](const std::string& path, py::array img) {
        scv::Image im = to_image(img);
        scv::Status st;
        {
          py::gil_scoped_release nogil;
          st = scv::save_png(path, im);
        }
        check(st);
      },
      py::arg("path"), py::arg("image"), "Writes a uint8 image as PNG (atomically).");

  // ---- scratchcv.cv: the classic CV commands, bit-exact with `scratchcv gray|yuv|...` ----------
  py::module_ cv = m.def_submodule("cv", "classic computer vision on uint8 numpy images");
  auto unary = [](scv::Image (*fn)(const scv::Image&)) {
    return [fn](py::array img) {
      scv::Image in = to_image(img), out;
      {
        py::gil_scoped_release nogil;
        out = fn(in);
      }
      return to_numpy(std::move(out));
    };
  };
  cv.def("gray", unary([](const scv::Image& i) { return scv::rgb_to_gray(i); }), py::arg("image"),
         "BT.601 luma, as cv2.cvtColor(RGB2GRAY) and `scratchcv gray`. Returns H x W.");
  cv.def(
      "yuv",
      [](py::array img, bool inverse) {
        scv::Image in = to_image(img), out;
        if (inverse && in.channels != 3)
          throw py::value_error("yuv(inverse=True) needs a 3-channel YUV image, got " +
                                std::to_string(in.channels) + " channels");
        {
          py::gil_scoped_release nogil;
          if (in.channels == 1) in = scv::convert_channels(in, 3);
          out = inverse ? scv::yuv_to_rgb(in) : scv::rgb_to_yuv(in);
        }
        return to_numpy(std::move(out));
      },
      py::arg("image"), py::arg("inverse") = false,
      "RGB -> BT.601 YUV (or back with inverse=True), as `scratchcv yuv`.");
  cv.def(
      "blur",
      [](py::array img, int ksize) {
        scv::Image in = to_image(img);
        scv::Result<scv::Image> r = scv::Status();
        {
          py::gil_scoped_release nogil;
          r = scv::box_blur(in, ksize);
        }
        return to_numpy(take(std::move(r)));
      },
      py::arg("image"), py::arg("ksize"), "Mean filter, as cv2.blur and `scratchcv blur`.");
  cv.def(
      "gaussian",
      [](py::array img, int ksize, double sigma) {
        scv::Image in = to_image(img);
        scv::Result<scv::Image> r = scv::Status();
        {
          py::gil_scoped_release nogil;
          r = scv::gaussian_blur(in, ksize, sigma);
        }
        return to_numpy(take(std::move(r)));
      },
      py::arg("image"), py::arg("ksize"), py::arg("sigma") = 0.0,
      "Gaussian blur, as cv2.GaussianBlur and `scratchcv gaussian`.");
  cv.def(
      "canny",
      [](py::array img, double low, double high, int aperture, bool l2) {
        scv::Image in = to_image(img);
        if (low < 0 || high < 0 || low > high)
          throw py::value_error("need 0 <= low <= high, got low " + std::to_string(low) +
                                ", high " + std::to_string(high));
        if (aperture != 3 && aperture != 5 && aperture != 7)
          throw py::value_error("aperture must be 3, 5 or 7, got " + std::to_string(aperture));
        scv::CannyParams p;
        p.low = low, p.high = high, p.aperture = aperture, p.l2 = l2;
        scv::Result<scv::Image> r = scv::Status();
        {
          py::gil_scoped_release nogil;
          r = scv::canny(scv::rgb_to_gray(in), p);
        }
        return to_numpy(take(std::move(r)));
      },
      py::arg("image"), py::arg("low"), py::arg("high"), py::arg("aperture") = 3,
      py::arg("l2") = false,
      "Canny edges of the image's gray version, as cv2.Canny and `scratchcv canny`.");
  cv.def(
      "otsu",
      [](py::array img) {
        scv::Image in = to_image(img), out;
        int t = 0;
        {
          py::gil_scoped_release nogil;
          const scv::Image gray = scv::rgb_to_gray(in);
          t = scv::otsu_threshold(gray);
          out = scv::threshold_binary(gray, t);
        }
        return py::make_tuple(t, to_numpy(std::move(out)));
      },
      py::arg("image"),
      "Otsu's threshold of the gray image and the binary image, as `scratchcv otsu`: (t, binary).");
}
