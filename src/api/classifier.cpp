// Classifier: model resolution, backend choice, the photo -> top-k pipeline, its JSON record,
// and where the shipped data files are found at run time.
#include "scratchcv/classifier.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "scratchcv/cpu.h"
#include "scratchcv/fetch.h"
#include "scratchcv/file_util.h"
#include "scratchcv/int8.h"
#include "scratchcv/model.h"
#include "scratchcv/model_zoo.h"
#include "scratchcv/qsession.h"
#include "scratchcv/session.h"
#include "scratchcv/tflite.h"

#ifndef SCV_VERSION
#define SCV_VERSION "0.0.0"
#endif

namespace fs = std::filesystem;

namespace scv {
namespace {

// A backend around one prepared session S (Session, Int8Session): its input shape, its output
// count, and how Derived is made from it.
template <class Derived, class S>
class SessionOwner : public ClassifierBackend {
 public:
  const Shape& input_shape() const override { return session_->input_shape(); }
  int64_t num_outputs() const override { return outputs_; }

 protected:
  static std::unique_ptr<ClassifierBackend> wrap(std::unique_ptr<S> session) {
    auto b = std::unique_ptr<Derived>(new Derived());
    b->session_ = std::move(session);
    b->outputs_ = shape_numel(b->session_->output_shape());
    return std::unique_ptr<ClassifierBackend>(std::move(b));
  }
  std::unique_ptr<S> session_;
  int64_t outputs_ = 0;
};

// ---- the fp32 backend: a prepared Session for [1, 3, crop, crop] --------------------------------
class SessionBackend final : public SessionOwner<SessionBackend, Session> {
 public:
  static Result<std::unique_ptr<ClassifierBackend>> create(Graph graph, const Shape& input,
                                                           const SessionOptions& so) {
    // The graph is handed over: each weight is freed as soon as it is packed.
    SCV_ASSIGN_OR_RETURN(auto session, Session::create(std::move(graph), input, so));
    return wrap(std::move(session));
  }
  Status run(const float* input, float* output) override { return session_->run(input, output); }
  std::string describe() const override {
    const SessionOptions& o = session_->options();
    return str("fp32 session, ", isa_name(o.isa), ", ", o.threads, " thread",
               o.threads == 1 ? "" : "s");
  }

 private:
  friend SessionOwner;
  SessionBackend() = default;
};

// The plain reference executor on the loaded graph (no preparation; for checking).
class ReferenceBackend final : public ClassifierBackend {
 public:
  static Result<std::unique_ptr<ClassifierBackend>> create(Graph graph, const Shape& input) {
    auto b = std::unique_ptr<ReferenceBackend>(new ReferenceBackend());
    b->graph_ = std::move(graph);
    b->input_ = input;
    SCV_ASSIGN_OR_RETURN(std::vector<Tensor> out, run_reference(b->graph_, {Tensor(input)}));
    if (out.empty()) return error("model has no output");
    b->outputs_ = out[0].numel();
    return std::unique_ptr<ClassifierBackend>(std::move(b));
  }
  const Shape& input_shape() const override { return input_; }
  int64_t num_outputs() const override { return outputs_; }
  Status run(const float* input, float* output) override {
    SCV_ASSIGN_OR_RETURN(std::vector<Tensor> out,
                         run_reference(graph_, {Tensor::from_data(input_, input)}));
    if (out.empty() || out[0].numel() != outputs_) return error("model output changed size");
    std::copy(out[0].data(), out[0].data() + outputs_, output);
    return Status();
  }
  std::string describe() const override { return "reference executor"; }

 private:
  ReferenceBackend() = default;
  Graph graph_;
  Shape input_;
  int64_t outputs_ = 0;
};

// A quantized TFLite model through QSession; photos get TF-slim's pre-processing.
class TfliteBackend final : public ClassifierBackend {
 public:
  static Result<std::unique_ptr<ClassifierBackend>> create(const std::string& path,
                                                           const QSessionOptions& qo) {
    SCV_ASSIGN_OR_RETURN(tflite::Model m, tflite::load_tflite(path));
    auto s = QSession::create(m, qo);
    if (!s.ok()) return s.status().with_context(path);
    auto b = std::unique_ptr<TfliteBackend>(new TfliteBackend());
    b->session_ = std::move(*s);
    const QTensorInfo& in = b->session_->input_info();
    if (in.shape.size() != 4 || in.shape[0] != 1 || in.shape[3] != 3)
      return error(path, ": input of rank ", in.shape.size(), ", expected an image [1, H, W, 3]");
    b->input_ = {1, 3, in.shape[1], in.shape[2]};
    b->outputs_ = int64_t(b->session_->output_float().size());
    b->probabilities_ = tflite_output_is_softmax(m);
    return std::unique_ptr<ClassifierBackend>(std::move(b));
  }
  const Shape& input_shape() const override { return input_; }
  int64_t num_outputs() const override { return outputs_; }
  Status run(const float*, float*) override {
    return error("TFLite models take photos (TF-slim pre-processing, uint8): use classify()");
  }
  bool takes_images() const override { return true; }
  Status run_image(const Image& img, float* output) override {
    SCV_TRY(set_image_input(*session_, img));
    session_->run();
    const std::vector<float> y = session_->output_float();
    std::copy(y.begin(), y.end(), output);
    return Status();
  }
  bool outputs_probabilities() const override { return probabilities_; }
  std::string describe() const override {
    return "quantized TFLite engine, " + session_->describe();
  }

 private:
  TfliteBackend() = default;
  std::unique_ptr<QSession> session_;
  Shape input_;
  int64_t outputs_ = 0;
  bool probabilities_ = false;
};

// The k largest of n probabilities (ties: lower index first).
std::vector<Prediction> top_k_probabilities(const float* p, int n, int k,
                                            const std::vector<std::string>& labels) {
  std::vector<int> idx(size_t(std::max(n, 0)));
  std::iota(idx.begin(), idx.end(), 0);
  k = std::clamp(k, 1, std::max(n, 1));
  if (n <= 0) return {};
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  std::vector<Prediction> r(static_cast<size_t>(k));
  for (int i = 0; i < k; ++i) {
    r[size_t(i)].index = idx[size_t(i)];
    r[size_t(i)].label = idx[size_t(i)] < int(labels.size()) ? labels[size_t(idx[size_t(i)])]
                                                             : "#" + std::to_string(idx[size_t(i)]);
    r[size_t(i)].probability = p[idx[size_t(i)]];
  }
  return r;
}

// opt.model: an existing file, else a known architecture name (its cached official weights),
// else "" (the default, cached resnet50). Fills model (a path) and resize.
Status resolve_model(ClassifierOptions* opt) {
  if (!opt->model.empty() && file_exists(opt->model)) return Status();
  const bool named = opt->model.empty() || find_model_file(opt->model, opt->weights).ok();
  if (opt->model.empty() && !opt->arch.empty())
    SCV_TRY(find_model_file(opt->arch, opt->weights).status());
  if (!named) {
    if (opt->model.find('/') != std::string::npos || opt->model.find('.') != std::string::npos)
      return error(opt->model, ": no such model file");
    std::string names = kBundledModelName;
    for (const std::string& n : resnet_names()) names += ", " + n;
    return error("unknown model '", opt->model, "': expected a .pth/.onnx/.tflite file or one of ",
                 names);
  }
  // No model: the cached weights of `arch` (default resnet50).
  const std::string arch = !opt->model.empty()  ? opt->model
                           : !opt->arch.empty() ? opt->arch
                                                : "resnet50";
  SCV_ASSIGN_OR_RETURN(ModelFile mf, find_model_file(arch, opt->weights));
  if (opt->resize == 0) opt->resize = mf.resize_size;
  opt->model = cached_model_path(arch, opt->weights);
  if (!file_exists(opt->model)) return error(missing_weights_message(arch, opt->weights));
  return Status();
}

Result<std::vector<Prediction>> with_file(const std::string& path,
                                          Result<std::vector<Prediction>> r) {
  if (r.ok()) return r;
  return r.status().with_context(path);
}

// A directory holding shipped data, relative to the binary this code is linked into.
std::string binary_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&data_dir), &info) && info.dli_fname) {
    std::error_code ec;
    fs::path p = fs::canonical(fs::path(info.dli_fname), ec);
    if (!ec) return p.parent_path().string();
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

std::vector<std::string> data_dir_candidates() {
  std::vector<std::string> c;
  if (const char* env = std::getenv("SCV_DATA_DIR"); env && *env) c.push_back(env);
  const std::string dir = binary_dir();
  if (!dir.empty())
    for (const char* rel :
         {"data", "share/scratchcv", "../share/scratchcv", "../../share/scratchcv"})
      c.push_back((fs::path(dir) / rel).lexically_normal().string());
  return c;
}

// What classify and preprocess accept: 1, 3 or 4 channels and a pixel buffer matching the size.
Status check_image(const Image& img) {
  if (img.channels != 1 && img.channels != 3 && img.channels != 4)
    return error("image must have 1, 3 or 4 channels, got ", img.channels);
  if (img.width < 1 || img.height < 1 ||
      img.pixels.size() != size_t(img.width) * img.height * img.channels)
    return error("image is empty or its pixel buffer does not match ", img.width, "x", img.height,
                 "x", img.channels);
  return Status();
}

}  // namespace

// ---- top-k and JSON ----------------------------------------------------------------------------
std::vector<Prediction> top_k(const float* logits, int n, int k,
                              const std::vector<std::string>& labels) {
  if (n <= 0) return {};
  // Softmax (stable: subtract the max), then a partial sort of the indices by probability.
  const float mx = *std::max_element(logits, logits + n);
  std::vector<double> p(n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += p[i] = std::exp(double(logits[i] - mx));
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  k = std::clamp(k, 1, n);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  std::vector<Prediction> r(k);
  for (int i = 0; i < k; ++i) {
    r[i].index = idx[i];
    r[i].label = idx[i] < int(labels.size()) ? labels[idx[i]] : "#" + std::to_string(idx[i]);
    r[i].probability = float(p[idx[i]] / sum);
  }
  return r;
}

std::string classification_json(const std::string& file, const Result<std::vector<Prediction>>& r,
                                double ms) {
  // Numbers are rounded as printf's %.6g / %.2f would print them; nlohmann then writes the
  // shortest text that reads back as that double ("0.421337", not "0.42133700847625732").
  auto rounded = [](const char* fmt, double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, fmt, v);
    return std::strtod(buf, nullptr);
  };
  nlohmann::ordered_json j;
  j["file"] = file;
  if (!r.ok()) {
    j["error"] = r.status().message();
  } else {
    nlohmann::ordered_json top = nlohmann::ordered_json::array();
    for (const Prediction& p : r.value())
      top.push_back({{"index", p.index},
                     {"label", p.label},
                     {"probability", rounded("%.6g", p.probability)}});
    j["top"] = std::move(top);
    if (ms >= 0) j["ms"] = rounded("%.2f", ms);
  }
  // Invalid UTF-8 in a file name is replaced (U+FFFD) rather than throwing.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// An int8 ONNX QDQ model (or a float model quantized at load) through Int8Session.
class Int8Backend final : public SessionOwner<Int8Backend, Int8Session> {
 public:
  static Result<std::unique_ptr<ClassifierBackend>> create(const std::string& qdq,
                                                           const Int8Options& io) {
    SCV_ASSIGN_OR_RETURN(
        auto s, Int8Session::create(reinterpret_cast<const uint8_t*>(qdq.data()), qdq.size(), io));
    return wrap(std::move(s));
  }
  Status run(const float* input, float* output) override {
    session_->run(input, output);
    return Status();
  }
  std::string describe() const override { return "int8 QDQ engine, " + session_->describe(); }

 private:
  friend SessionOwner;
  Int8Backend() = default;
};

// ---- Classifier --------------------------------------------------------------------------------
Result<std::unique_ptr<Classifier>> Classifier::create(const ClassifierOptions& options) {
  ClassifierOptions opt = options;
  if (opt.threads < 0 || opt.threads > 1024)
    return error("threads must be between 1 and 1024 (0 = all CPUs), got ", opt.threads);
  if (opt.crop < 1 || opt.crop > 4096) return error("crop must be in 1..4096, got ", opt.crop);
  if (opt.resize < 0 || opt.resize > 8192)
    return error("resize must be in 1..8192 (0 = default), got ", opt.resize);
  if (opt.precision.empty()) opt.precision = "fp32";
  if (opt.precision == "bf16")
    return error(cpu_features().avx512bf16
                     ? "precision bf16 is not implemented yet (supported: fp32, int8)"
                     : "precision bf16 needs AVX-512 BF16 (vdpbf16ps), which this CPU lacks "
                       "(supported here: fp32, int8)");
  if (opt.precision != "fp32" && opt.precision != "int8")
    return error("precision '", opt.precision, "' is not available (supported: fp32, int8)");
  SessionOptions so;
  // More threads than usable CPUs only fight over cores (the CLI's --threads rule warns; the
  // library clamps quietly).
  so.threads = opt.threads > 0 ? std::min(opt.threads, usable_cpus()) : default_num_threads();
  if (!opt.isa.empty()) {
    if (!parse_isa(opt.isa, &so.isa))
      return error("isa must be ref, avx2 or avx512, got '", opt.isa, "'");
    if (!isa_supported(so.isa)) return error("isa ", opt.isa, ": this CPU does not support it");
  }
  // TFLite: "mobilenet_v2", a .tflite file, or the default when no ResNet50 is cached.
  if (opt.arch.empty() && (opt.model.empty() || is_bundled_model_name(opt.model) ||
                           (file_exists(opt.model) && is_tflite_file(opt.model)))) {
    SCV_ASSIGN_OR_RETURN(ModelChoice choice, scv::resolve_model(opt.model, opt.weights));
    if (choice.tflite) {
      opt.model = choice.path;
      opt.threads = so.threads;
      auto clf = std::unique_ptr<Classifier>(new Classifier());
      SCV_ASSIGN_OR_RETURN(
          clf->backend_,
          TfliteBackend::create(choice.path,
                                QSessionOptions{so.threads, opt.reference ? "ref" : opt.isa}));
      SCV_ASSIGN_OR_RETURN(clf->labels_, labels_for(int(clf->backend_->num_outputs()), opt.labels));
      opt.crop = int(clf->backend_->input_shape()[2]);
      clf->opt_ = std::move(opt);
      return clf;
    }
  }
  SCV_TRY(resolve_model(&opt));
  if (opt.resize == 0) {
    // An official weights file given by path keeps its own transform (V2: resize 232).
    const std::string base = fs::path(opt.model).filename().string();
    for (const ModelFile& f : model_files())
      if (f.file_name == base) opt.resize = f.resize_size;
  }
  if (opt.resize == 0) opt.resize = 256;
  if (opt.resize < opt.crop)
    return error("resize (", opt.resize, ") must be >= crop (", opt.crop, ")");
  opt.threads = so.threads;

  const Shape input = {1, 3, opt.crop, opt.crop};
  // int8: a QDQ .onnx as is (whatever `precision` says), or a float model quantized now with the
  // built-in calibration (a `scratchcv quantize --calib DIR` file is better).
  std::string qdq;
  if (fs::path(opt.model).extension() == ".onnx") {
    SCV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file(opt.model));
    if (is_qdq_onnx(bytes.data(), bytes.size())) {
      qdq.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      opt.precision = "int8";
    }
  }
  if (qdq.empty() && opt.precision == "int8") {
    SCV_ASSIGN_OR_RETURN(Graph g, load_model(opt.model, opt.arch));
    SCV_ASSIGN_OR_RETURN(std::vector<Tensor> calib, builtin_calibration(opt.crop));
    SCV_ASSIGN_OR_RETURN(qdq, quantize_to_qdq(g, calib, QuantizeOptions()));
  }
  if (!qdq.empty()) {
    auto clf = std::unique_ptr<Classifier>(new Classifier());
    Int8Options io;
    io.threads = so.threads;
    io.isa = opt.reference ? "ref" : opt.isa;
    SCV_ASSIGN_OR_RETURN(clf->backend_, Int8Backend::create(qdq, io));
    if (clf->backend_->input_shape() != input)
      return error(opt.model, ": the int8 model takes ", shape_str(clf->backend_->input_shape()),
                   ", not ", shape_str(input));
    SCV_ASSIGN_OR_RETURN(clf->labels_, labels_for(int(clf->backend_->num_outputs()), opt.labels));
    clf->opt_ = std::move(opt);
    return clf;
  }
  SCV_ASSIGN_OR_RETURN(Graph graph, load_model(opt.model, opt.arch));
  auto clf = std::unique_ptr<Classifier>(new Classifier());
  if (opt.reference) {
    SCV_ASSIGN_OR_RETURN(clf->backend_, ReferenceBackend::create(std::move(graph), input));
  } else {
    SCV_ASSIGN_OR_RETURN(clf->backend_, SessionBackend::create(std::move(graph), input, so));
  }
  // ImageNet's names for 1000 outputs, the labels file for other class sets, else "#<index>".
  SCV_ASSIGN_OR_RETURN(clf->labels_, labels_for(int(clf->backend_->num_outputs()), opt.labels));
  clf->opt_ = std::move(opt);
  return clf;
}

Classifier::~Classifier() = default;

Result<Tensor> Classifier::preprocess(const Image& img) const {
  SCV_TRY(check_image(img));
  SCV_ASSIGN_OR_RETURN(Tensor x, imagenet_preprocess(img, opt_.resize, opt_.crop));
  return x.reshaped({1, 3, x.dim(1), x.dim(2)});
}

Status Classifier::logits(const float* input, int64_t n, float* output) {
  const int64_t in = shape_numel(backend_->input_shape()), out = backend_->num_outputs();
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t i = 0; i < n; ++i) SCV_TRY(backend_->run(input + i * in, output + i * out));
  return Status();
}

Result<std::vector<Prediction>> Classifier::classify_image(const Image& img, int k) {
  if (backend_->takes_images()) {
    SCV_TRY(check_image(img));
    std::vector<float> y(size_t(backend_->num_outputs()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      SCV_TRY(backend_->run_image(img, y.data()));
    }
    return backend_->outputs_probabilities()
               ? top_k_probabilities(y.data(), int(y.size()), k, labels_)
               : top_k(y.data(), int(y.size()), k, labels_);
  }
  SCV_ASSIGN_OR_RETURN(Tensor x, preprocess(img));
  std::vector<float> y(size_t(backend_->num_outputs()));
  SCV_TRY(logits(x.data(), 1, y.data()));
  return top_k(y.data(), int(y.size()), k, labels_);
}

Result<std::vector<Prediction>> Classifier::classify_encoded(const uint8_t* data, size_t size,
                                                             int k) {
  SCV_ASSIGN_OR_RETURN(Image img, decode_image(data, size, ColorMode::rgb));
  return classify_image(img, k);
}

Result<std::vector<Prediction>> Classifier::classify(const std::string& path, int k) {
  SCV_ASSIGN_OR_RETURN(Image img, load_image(path, ColorMode::rgb));
  // load_image already names the file in its errors; pre-processing errors get it here.
  auto r = classify_image(img, k);
  return r.ok() ? r : with_file(path, std::move(r));
}

const Shape& Classifier::input_shape() const {
  return backend_->input_shape();
}
int Classifier::num_classes() const {
  return int(backend_->num_outputs());
}
const std::vector<std::string>& Classifier::labels() const {
  return labels_;
}
const ClassifierOptions& Classifier::options() const {
  return opt_;
}
std::string Classifier::describe() const {
  return opt_.model + " (" + backend_->describe() + ")";
}

// ---- many photos
// ---------------------------------------------------------------------------------
bool has_image_extension(const std::string& path) {
  std::string e = fs::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* known : {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
    if (e == known) return true;
  return false;
}

Result<std::vector<std::string>> list_image_files(const std::vector<std::string>& args,
                                                  bool recursive) {
  std::vector<std::string> files;
  for (const std::string& a : args) {
    std::error_code ec;
    if (!fs::is_directory(a, ec)) {
      files.push_back(a);
      continue;
    }
    std::vector<std::string> found;
    auto take = [&](const fs::directory_entry& e) {
      std::error_code ec2;
      if (e.is_regular_file(ec2) && has_image_extension(e.path().string()))
        found.push_back(e.path().string());
    };
    if (recursive) {
      for (auto it = fs::recursive_directory_iterator(a, ec); !ec && it != fs::end(it);
           it.increment(ec))
        take(*it);
    } else {
      for (auto it = fs::directory_iterator(a, ec); !ec && it != fs::end(it); it.increment(ec))
        take(*it);
    }
    if (ec) return error(a, ": cannot list directory: ", ec.message());
    if (found.empty())
      return error(a, ": no image files (.jpg .jpeg .png .bmp .webp .tif .tiff) in this directory",
                   recursive ? " or below it" : " (--recursive also searches subdirectories)");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

Result<std::vector<std::string>> jsonl_done_files(const std::string& path, bool repair) {
  if (!file_exists(path)) return std::vector<std::string>();
  SCV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file(path));
  const std::string text(bytes.begin(), bytes.end());
  std::vector<std::string> done;
  size_t pos = 0, keep = 0;  // keep: bytes of complete records
  for (int line = 1; pos < text.size(); ++line) {
    const size_t nl = text.find('\n', pos);
    const bool last = nl == std::string::npos;
    const std::string s = text.substr(pos, last ? std::string::npos : nl - pos);
    nlohmann::json j = nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false);
    const bool good =
        !j.is_discarded() && j.is_object() && j.contains("file") && j["file"].is_string();
    // Records are written whole with their newline: text after the last newline is what an
    // interrupted writer left (even when it happens to parse), so that photo is done again.
    if (last) break;
    if (!good) {
      if (s.find_first_not_of(" \t\r") == std::string::npos) {  // blank line: skip
        pos = keep = nl + 1;
        continue;
      }
      return error(path, " line ", line,
                   ": not a record of `scratchcv classify --jsonl` (a JSON object with \"file\")");
    }
    done.push_back(j["file"].get<std::string>());
    pos = keep = nl + 1;
  }
  if (repair && keep < text.size()) {
    std::error_code ec;
    fs::resize_file(path, keep, ec);
    if (ec) return error(path, ": cannot remove the torn last line: ", ec.message());
  }
  return done;
}

// ---- data files and version
// ----------------------------------------------------------------------
std::string data_dir() {
  for (const std::string& d : data_dir_candidates())
    if (is_directory(d)) return d;
  return "";
}

Result<std::string> find_data_file(const std::string& name) {
  std::string searched;
  for (const std::string& d : data_dir_candidates()) {
    const std::string p = (fs::path(d) / name).string();
    if (file_exists(p)) return p;
    searched += (searched.empty() ? "" : ", ") + d;
  }
  return error(name, ": data file not found (searched ", searched.empty() ? "nothing" : searched,
               "; set SCV_DATA_DIR to the folder that holds it)");
}

const char* version() {
  return SCV_VERSION;
}

}  // namespace scv
