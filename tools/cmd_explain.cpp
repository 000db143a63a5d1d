// scratchcv explain: where the network looked, what each layer saw.
//
// photo -> the classify pre-processing -> a forward pass that keeps every activation (explain.h)
// -> top-k classes -> per class: CAM (features x classifier weights), Grad-CAM at a layer and
// gradient saliency at the pixels (a real backward pass) -> heatmaps blended over the photo;
// feature maps of chosen layers, the first-layer filters, a per-layer table, optional deconvnet
// projections, and optionally one self-contained HTML page with all of it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <numeric>
#include <sstream>
#include <thread>

#include "cli.h"
#include "runner.h"
#include "scratchcv/explain.h"
#include "scratchcv/fetch.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/model.h"
#include "scratchcv/model_zoo.h"
#include "scratchcv/tflite_float.h"
#include "scratchcv/viz.h"

namespace fs = std::filesystem;

namespace scv::cli {
namespace {

using explain::Trace;

// zlib level for the pictures: with level 2 instead of the default 6 the pictures-and-files
// phase of a resnet50 explain took 0.54 s instead of 1.29 s (14 pictures and the page); level 1
// (run-length matches) took 10% less CPU time than 2 on the bundled model with the same total
// size (1.42 MB page against 1.38 MB).
constexpr int kPngLevel = 1;

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ','))
    if (!part.empty()) out.push_back(part);
  return out;
}

std::string safe_name(const std::string& s) {
  std::string o;
  for (char c : s) o += std::isalnum((unsigned char)c) || c == '.' || c == '-' ? c : '_';
  return o.substr(0, 40);
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// How the network's input maps back to 0..255 pixels: x = (p / 255 - mean) / sd per channel
// (torchvision's normalisation) or x = (p - zero) * scale (a TFLite model's input).
struct PixelMap {
  float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  bool tflite = false;
  float zero = 0, scale = 1;
  float pixel(float x, int c) const {
    return tflite ? x / scale + zero : (x * sd[c] + mean[c]) * 255.0f;
  }
};

// The photo as the network saw it: the input tensor mapped back to 0..255.
Image tensor_to_photo(const Tensor& x, const PixelMap& pm) {
  const int H = int(x.dim(2)), W = int(x.dim(3));
  Image im(W, H, 3);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < H * W; ++i)
      im.pixels[size_t(i) * 3 + c] =
          uint8_t(std::clamp(std::lround(pm.pixel(x[int64_t(c) * H * W + i], c)), 0L, 255L));
  return im;
}

struct Picture {
  std::string file, title, caption;
  Image image;
};

// Writes the raw float32 arrays the golden test compares, with a manifest.
class Dumper {
 public:
  explicit Dumper(std::string dir) : dir_(std::move(dir)) {}
  Status add(const std::string& name, const Tensor& t) {
    SCV_TRY(write_file_atomic(dir_ + "/" + name + ".bin", t.data(), size_t(t.numel()) * 4));
    std::string dims;
    for (int64_t d : t.shape()) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
    entries_ += (entries_.empty() ? "" : ",\n") + std::string("  \"") + name + "\": [" + dims + "]";
    return Status();
  }
  Status finish(const std::string& extra) {
    const std::string j = "{\n" + extra + ",\n  \"arrays\": {\n" + entries_ + "\n  }\n}\n";
    return write_file_atomic(dir_ + "/manifest.json", j.data(), j.size());
  }

 private:
  std::string dir_, entries_;
};

std::string svg_bars(const std::vector<std::pair<std::string, double>>& top) {
  std::ostringstream s;
  const int row = 30, w = 520;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='"
    << row * top.size() + 4 << "'>";
  for (size_t i = 0; i < top.size(); ++i) {
    const int y = int(i) * row;
    const double len = 300.0 * top[i].second;
    s << "<text x='0' y='" << y + 19 << "' font-size='13' font-family='sans-serif'>"
      << viz::html_escape(top[i].first.substr(0, 26)) << "</text>"
      << "<rect x='190' y='" << y + 5 << "' width='" << std::max(1.0, len) << "' height='"
      << row - 10 << "' fill='#1f77b4'/>"
      << "<text x='" << 196 + len << "' y='" << y + 19
      << "' font-size='13' font-family='sans-serif'>" << fmt("%.1f%%", 100.0 * top[i].second)
      << "</text>";
  }
  s << "</svg>";
  return s.str();
}

struct Options {
  std::string model, arch, weights = "V1", out_dir, html,
                           layers_s = "conv1,layer1,layer2,layer3,layer4";
  std::string layer, deconv, tensor_file, dump_dir, image;
  int classes = 3, threads = 0, resize = 0, crop = 224, deconv_top = 6, channels = 64;
  bool no_saliency = false;
  const std::string& input_name() const { return tensor_file.empty() ? image : tensor_file; }
};

void declare_options(ArgParser& ap, Options& o) {
  ap.option("model", &o.model, "NAME|PATH",
            "bundled (the TFLite MobileNetV2, dequantized to float), a .tflite, .pth or .onnx "
            "file; default: the cached torchvision resnet50, else the bundled model")
      .option("arch", &o.arch, "NAME", "ResNet architecture of a .pth (default: recognised)")
      .option("weights", &o.weights, "V1|V2", "which cached official weights (default V1)")
      .option("out", &o.out_dir, "DIR",
              "write the pictures (PNG) and layers.csv here (default: explain_out)")
      .option("html", &o.html, "FILE", "also write one self-contained HTML report")
      .option("classes", &o.classes, "K", "heatmaps for the K most probable classes (default 3)")
      .option("layer", &o.layer, "NAME",
              "Grad-CAM layer (default: the last feature maps, the input of the global pool)")
      .option("layers", &o.layers_s, "A,B,..",
              "feature maps to show (default conv1,layer1,layer2,layer3,layer4; TFLite models: "
              "conv1 and the last block at each resolution; model names work)")
      .option("channels", &o.channels, "N", "channels per feature-map grid (default 64)")
      .option("deconv", &o.deconv, "LAYER[:CH]",
              "deconvnet projections of channel CH (default: the strongest) of LAYER; several "
              "layers separated by commas")
      .option("deconv-top", &o.deconv_top, "N", "strongest activations to project (default 6)")
      .flag("no-saliency", &o.no_saliency, "skip the pixel saliency map (one backward pass less)")
      .option("resize", &o.resize, "N", "shorter side before the crop (default 256; ResNets)")
      .option("crop", &o.crop, "N", "centre crop (default 224; ResNets)")
      .option("tensor", &o.tensor_file, "FILE",
              "use a raw float32 [1,3,crop,crop] tensor instead of a photo (testing aid)")
      .option("dump", &o.dump_dir, "DIR",
              "write logits, gradients and maps as raw float32 + manifest.json (testing aid)")
      .threads(&o.threads)
      .epilog(
          "Heatmap colours: jet, dark blue = low, red = high; CAM is scaled by its min..max,\n"
          "Grad-CAM and saliency by 0..max, then blended 50% over the photo.\n"
          "Layer names: a graph value (conv1 = the conv output) or a module (layer4 = the\n"
          "output of its last block, as a PyTorch hook on model.layer4 sees it). TFLite models\n"
          "(docs/explain.md): conv1 = the first conv, layerK = the K-th block (MobileNetV2:\n"
          "inverted residual), or the model's own tensor names.\n"
          "Example: scratchcv explain data/sample.jpg --html report.html --deconv layer1");
}

// Parses and checks the command line; returns -1 to go on, else the exit code.
int parse_options(ArgParser& ap, const std::vector<std::string>& args, Options& o) {
  std::vector<std::string> pos;
  if (!ap.parse(args, &pos)) return ap.exit_code();
  if (pos.size() > 1)
    return ap.fail("one image at a time (got " + std::to_string(pos.size()) + ")");
  if (pos.empty() == o.tensor_file.empty()) {
    ap.fail("give one image, or --tensor FILE (see --help)");
    return 2;
  }
  if (!pos.empty()) o.image = pos[0];
  if (o.classes < 1 || o.classes > 20) return ap.fail("--classes must be between 1 and 20");
  if (o.deconv_top < 1 || o.deconv_top > 32)
    return ap.fail("--deconv-top must be between 1 and 32");
  if (o.channels < 1 || o.channels > 4096) return ap.fail("--channels must be between 1 and 4096");
  if (o.out_dir.empty() && o.html.empty() && o.dump_dir.empty()) o.out_dir = "explain_out";
  return -1;
}

// What explain runs on: the fp32 graph, its input and the photo as the network saw it.
struct Subject {
  Graph graph;
  Tensor x;
  Image photo;
  std::vector<std::string> stages;  // a TFLite model's default --layers
  bool tflite = false;
};

// The photo (or raw tensor) for a ResNet-style model: torchvision's pre-processing.
Status resnet_input(Options& o, Subject* s) {
  if (o.resize == 0) o.resize = 256;
  if (o.crop < 1 || o.crop > 4096 || o.resize < o.crop)
    return error("--crop must be in 1..4096 and --resize >= --crop");
  if (!o.tensor_file.empty()) {
    SCV_ASSIGN_OR_RETURN(auto bytes, read_file(o.tensor_file));
    if (int64_t(bytes.size()) != int64_t(3) * o.crop * o.crop * 4)
      return error(o.tensor_file, ": ", bytes.size(), " bytes, expected a float32 [1, 3, ", o.crop,
                   ", ", o.crop, "] tensor (", 3 * o.crop * o.crop * 4, " bytes)");
    s->x = Tensor::from_data({1, 3, o.crop, o.crop}, reinterpret_cast<const float*>(bytes.data()));
    s->photo = tensor_to_photo(s->x, PixelMap{});
    return Status();
  }
  SCV_ASSIGN_OR_RETURN(Image img, load_image(o.image, ColorMode::rgb));
  auto t = imagenet_preprocess(img, o.resize, o.crop);
  if (!t.ok()) return t.status().with_context(o.image);
  s->x = t->reshaped({1, 3, o.crop, o.crop});
  s->photo = resize_and_center_crop(img, o.resize, o.crop, o.crop);
  return Status();
}

// A TFLite model: its dequantized float graph, TF-slim pre-processing to its input size.
Status tflite_subject(const std::string& path, Options& o, Subject* s) {
  SCV_ASSIGN_OR_RETURN(TfliteFloat f, load_tflite_float(path));
  const PixelMap pm{{}, {}, true, f.pixel_zero, f.pixel_scale};
  o.crop = f.height;
  if (!o.tensor_file.empty()) {
    SCV_ASSIGN_OR_RETURN(auto bytes, read_file(o.tensor_file));
    const int64_t n = int64_t(3) * f.height * f.width;
    if (int64_t(bytes.size()) != n * 4)
      return error(o.tensor_file, ": ", bytes.size(), " bytes, expected a float32 [1, 3, ",
                   f.height, ", ", f.width, "] tensor (", n * 4, " bytes)");
    s->x =
        Tensor::from_data({1, 3, f.height, f.width}, reinterpret_cast<const float*>(bytes.data()));
  } else {
    SCV_ASSIGN_OR_RETURN(Image img, load_image(o.image, ColorMode::rgb));
    auto x = tflite_float_input(f, img);
    if (!x.ok()) return x.status().with_context(o.image);
    s->x = std::move(*x);
  }
  s->photo = tensor_to_photo(s->x, pm);
  s->graph = std::move(f.graph);
  s->stages = std::move(f.stages);
  s->tflite = true;
  return Status();
}

// Resolves --model (a name, a TFLite / .pth / ONNX file, or the default) and loads it with its
// input. Errors are one line for the user.
Status load_subject(const ArgParser& ap, Options& o, Subject* s) {
  std::string tfl;
  if (is_bundled_model_name(o.model)) {
    SCV_ASSIGN_OR_RETURN(tfl, find_bundled_file(kBundledModelFile));
  } else if (!o.model.empty() && file_exists(o.model) && is_tflite_file(o.model)) {
    tfl = o.model;
  } else if (o.model.empty()) {
    const std::string a = o.arch.empty() ? "resnet50" : o.arch;
    SCV_ASSIGN_OR_RETURN(ModelFile file, find_model_file(a, o.weights));
    const std::string cached = cached_model_path(a, o.weights);
    if (file_exists(cached)) {
      if (o.resize == 0) o.resize = file.resize_size;
      o.model = cached;
    } else if (!o.arch.empty()) {
      return error(missing_weights_message(a, o.weights));
    } else {  // no ResNet50 cached: the bundled model, as classify does
      SCV_ASSIGN_OR_RETURN(tfl, find_bundled_file(kBundledModelFile));
    }
  }
  if (!tfl.empty()) {
    if (!o.arch.empty()) return error("--arch applies to .pth checkpoints, not TFLite models");
    if (ap.given("resize") || ap.given("crop"))
      return error(
          "--resize and --crop apply to ResNets; a TFLite model gets TF-slim's "
          "pre-processing to its own input size");
    o.model = tfl;
    return tflite_subject(tfl, o, s);
  }
  SCV_TRY(resnet_input(o, s));
  SCV_ASSIGN_OR_RETURN(s->graph, load_model(o.model, o.arch));
  return Status();
}

// The forward's results a picture needs: class names, probabilities, the order.
struct Ranking {
  std::vector<std::string> names;
  std::vector<double> prob;
  std::vector<int> order;
};

Ranking rank_classes(const Tensor& logits) {
  Ranking r;
  const int ncls = int(logits.numel());
  if (auto l = labels_for(ncls); l.ok() && int(l->size()) == ncls) r.names = *l;
  if (r.names.empty())
    for (int i = 0; i < ncls; ++i) r.names.push_back("class " + std::to_string(i));
  r.prob.resize(size_t(ncls));
  const float mx = *std::max_element(logits.data(), logits.data() + ncls);
  double sum = 0;
  for (int i = 0; i < ncls; ++i) sum += r.prob[size_t(i)] = std::exp(double(logits[i] - mx));
  for (double& p : r.prob) p /= sum;
  r.order.resize(size_t(ncls));
  std::iota(r.order.begin(), r.order.end(), 0);
  std::stable_sort(r.order.begin(), r.order.end(),
                   [&](int a, int b) { return r.prob[size_t(a)] > r.prob[size_t(b)]; });
  return r;
}

// Everything the picture stages share.
struct Ctx {
  const Options& o;
  const Graph& g;
  const Trace& t;
  ThreadPool& pool;
  const Image& photo;
  const Ranking& rk;
  std::vector<Picture> pics;
};

// [x > 0] of every Relu input (uint8, node order), every max-pool switch (int32) and where each
// Clip passes its gradient: the forward's decisions, so a reference can be run at exactly the
// same kinks.
Status dump_decisions(const Ctx& c, Dumper& dump, int classes, const std::string& gc_name) {
  std::vector<uint8_t> masks;
  std::vector<int32_t> switches;
  int n_relu = 0;
  for (size_t i = 0; i < c.g.nodes.size(); ++i) {
    if (c.g.nodes[i].op == OpType::Relu) {
      const Tensor& in = c.t.values[c.g.nodes[i].inputs[0]];
      for (int64_t j = 0; j < in.numel(); ++j) masks.push_back(in[j] > 0.f);
      ++n_relu;
    }
    switches.insert(switches.end(), c.t.switches[i].begin(), c.t.switches[i].end());
  }
  // [lo <= x <= hi] of every Clip input (uint8, node order): where its gradient passes.
  std::vector<uint8_t> clips;
  for (const Node& n : c.g.nodes) {
    if (n.op != OpType::Clip) continue;
    const Tensor& in = c.t.values[n.inputs[0]];
    const auto bound = [&](size_t k, float def) {
      return k < n.inputs.size() && n.inputs[k] >= 0 ? c.t.values[n.inputs[k]][0] : def;
    };
    const float lo = bound(1, -INFINITY), hi = bound(2, INFINITY);
    for (int64_t j = 0; j < in.numel(); ++j) clips.push_back(in[j] >= lo && in[j] <= hi);
  }
  const std::string& d = c.o.dump_dir;
  SCV_TRY(write_file_atomic(d + "/relu_masks.u8", masks.data(), masks.size()));
  SCV_TRY(write_file_atomic(d + "/clip_masks.u8", clips.data(), clips.size()));
  SCV_TRY(write_file_atomic(d + "/maxpool_switches.i32", switches.data(), switches.size() * 4));
  std::string cls;
  for (int r = 0; r < classes; ++r) cls += (r ? ", " : "") + std::to_string(c.rk.order[r]);
  return dump.finish("  \"classes\": [" + cls + "],\n  \"relu_count\": " + std::to_string(n_relu) +
                     ",\n  \"layer\": \"" + gc_name + "\"");
}

// The Grad-CAM layer: --layer, else the input of the classifier's global pool.
Result<int> gradcam_layer(const Ctx& c, const Result<explain::ClassifierHead>& head) {
  int v = head.ok() ? head->features : -1;
  if (!c.o.layer.empty()) {
    SCV_ASSIGN_OR_RETURN(v, explain::resolve_layer(c.g, c.o.layer));
  }
  if (v < 0) return error(head.status().message(), "; name a Grad-CAM layer with --layer");
  if (c.t.values[v].rank() != 4)
    return error("Grad-CAM needs a layer with [N, C, H, W] output; '", c.g.values[v].name, "' is ",
                 shape_str(c.t.values[v].shape()));
  return v;
}

// CAM, Grad-CAM and saliency for the top classes (printed as it goes), and the dump.
Status heatmaps(Ctx& c, int classes) {
  auto head = explain::find_classifier_head(c.g);
  SCV_ASSIGN_OR_RETURN(const int gc_layer, gradcam_layer(c, head));
  // Long tensor names (TFLite's "MobilenetV2/Conv_1/Relu6;...") are shown by their module.
  std::string gc_name = c.g.values[gc_layer].name;
  if (const int p = c.t.producer[gc_layer]; gc_name.size() > 32 && p >= 0)
    gc_name = c.g.nodes[p].name;
  const Options& o = c.o;
  Dumper dump(o.dump_dir);
  auto dump_add = [&](const std::string& n, const Tensor& v) {
    return o.dump_dir.empty() ? Status() : dump.add(n, v);
  };
  SCV_TRY(dump_add("logits", c.t.values[explain::logits_value(c.g)]));
  SCV_TRY(dump_add("layer", c.t.values[gc_layer]));
  if (head.ok()) SCV_TRY(dump_add("features", c.t.values[head->features]));
  std::printf("%s\n", o.input_name().c_str());
  for (int r = 0; r < classes; ++r) {
    const int k = c.rk.order[r];
    const std::string& name = c.rk.names[size_t(k)];
    const double p = c.rk.prob[size_t(k)];
    std::printf("  %d. %6.2f%%  %s  (#%d)\n", r + 1, 100.0 * p, name.c_str(), k);
    const bool to_input = !o.dump_dir.empty() || (r == 0 && !o.no_saliency);
    SCV_ASSIGN_OR_RETURN(auto gr, explain::class_gradients(c.t, k, gc_layer, to_input, c.pool));
    const std::string tag = std::to_string(r + 1) + "_" + safe_name(name);
    const std::string label = name + " (" + fmt("%.1f%%", 100.0 * p) + ")";
    const std::string ks = std::to_string(k);
    if (head.ok()) {
      const Tensor cam = explain::class_activation_map(c.t.values[head->features], head->weight, k);
      c.pics.push_back({"cam_" + tag + ".png", "CAM: " + label,
                        "last feature maps weighted by the classifier's weights for this class",
                        viz::heatmap_overlay(c.photo, cam, false)});
      SCV_TRY(dump_add("cam_" + ks, cam));
    }
    const Tensor gcam = explain::grad_cam(c.t.values[gc_layer], gr.layer);
    c.pics.push_back({"gradcam_" + tag + ".png", "Grad-CAM at " + gc_name + ": " + label,
                      "channels weighted by the mean gradient of the class score, then ReLU",
                      viz::heatmap_overlay(c.photo, gcam, true)});
    SCV_TRY(dump_add("gradcam_" + ks, gcam));
    SCV_TRY(dump_add("layer_grad_" + ks, gr.layer));
    if (!to_input) continue;
    SCV_TRY(dump_add("input_grad_" + ks, gr.input));
    if (r == 0 && !o.no_saliency) {
      const Tensor sal = explain::saliency_map(gr.input);
      c.pics.push_back({"saliency_" + tag + ".png", "Saliency: " + label,
                        "max over colour channels of |d score / d pixel|",
                        viz::colour_map(sal, true)});
      SCV_TRY(dump_add("saliency_" + ks, sal));
    }
  }
  if (o.dump_dir.empty()) return Status();
  return dump_decisions(c, dump, classes, gc_name);
}

// Feature maps of the chosen layers and the first layer's filters.
Status layer_pictures(Ctx& c, const std::vector<std::string>& layers) {
  for (const std::string& name : layers) {
    SCV_ASSIGN_OR_RETURN(const int v, explain::resolve_layer(c.g, name));
    const Tensor& a = c.t.values[v];
    if (a.rank() != 4) continue;
    const int cell = int(std::clamp<int64_t>(a.dim(2) * 2, 28, 64));
    c.pics.push_back({"features_" + safe_name(name) + ".png",
                      "Feature maps: " + name + " " + shape_str(a.shape()),
                      std::to_string(std::min<int64_t>(a.dim(1), c.o.channels)) +
                          " channels, each scaled to its own min (black) .. max (white)",
                      viz::feature_grid(a, c.o.channels, cell)});
  }
  for (const Node& n : c.g.nodes) {
    if (n.op != OpType::Conv) continue;
    const Tensor& w = c.t.values[n.inputs[1]];
    if (w.rank() == 4 && (w.dim(1) == 3 || w.dim(1) == 1))
      c.pics.push_back({"filters_" + safe_name(n.name) + ".png", "First-layer filters: " + n.name,
                        std::to_string(w.dim(0)) + " filters " + std::to_string(w.dim(2)) + "x" +
                            std::to_string(w.dim(3)) + ", gray = 0",
                        viz::filter_grid(w, 28)});
    break;
  }
  return Status();
}

// Deconvnet projections of one LAYER[:CH]: reconstructions beside the photo patches.
Status deconv_picture(Ctx& c, const std::string& spec) {
  std::string lname = spec;
  int ch = -1;
  if (const size_t colon = spec.rfind(':'); colon != std::string::npos) {
    lname = spec.substr(0, colon);
    ch = std::atoi(spec.c_str() + colon + 1);
  }
  SCV_ASSIGN_OR_RETURN(const int v, explain::resolve_layer(c.g, lname));
  SCV_ASSIGN_OR_RETURN(auto dr, explain::deconvnet(c.t, v, ch, c.o.deconv_top, c.pool));
  std::vector<Image> tiles;
  for (const auto& p : dr.projections) {
    if (p.box[2] <= p.box[0] || p.box[3] <= p.box[1]) continue;  // rectified to nothing
    const Image rec = viz::signed_image(p.image, p.box);
    Image patch(p.box[2] - p.box[0], p.box[3] - p.box[1], 3);
    for (int yy = 0; yy < patch.height; ++yy)
      for (int xx = 0; xx < patch.width; ++xx)
        for (int k = 0; k < 3; ++k)
          patch.at(xx, yy, k) = c.photo.at(p.box[0] + xx, p.box[1] + yy, k);
    const int s = std::max(1, 96 / std::max(1, std::max(rec.width, rec.height)));
    tiles.push_back(viz::resize_nearest(rec, rec.width * s, rec.height * s));
    tiles.push_back(viz::resize_nearest(patch, patch.width * s, patch.height * s));
  }
  if (tiles.empty()) return Status();
  c.pics.push_back({"deconv_" + safe_name(lname) + ".png",
                    "Deconvnet: " + lname + " channel " + std::to_string(dr.channel),
                    "its " + std::to_string(tiles.size() / 2) +
                        " strongest activations projected to pixels (left) beside the photo "
                        "patch they see (right)",
                    viz::tile_images(tiles, 4, 4)});
  return Status();
}

// The per-layer table: printed, as CSV, and as HTML rows.
struct Table {
  std::string text, csv, html;
};

Table table_of(const Trace& t) {
  std::ostringstream csv, tab, html;
  csv << "layer,ops,output_shape,mflops,ms,mean,zero_share\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-12s %-20s %10s %8s %10s %8s\n", "layer", "output", "MFLOPs",
                "ms", "mean", "zeros");
  tab << line;
  for (const auto& r : explain::layer_table(t)) {
    const std::string shp = shape_str(r.shape);
    const std::string zeros = r.zero_share >= 0 ? fmt("%.1f%%", 100 * r.zero_share) : "-";
    csv << r.name << "," << r.ops << ",\"" << shp << "\"," << fmt("%.2f", r.flops / 1e6) << ","
        << fmt("%.3f", r.ms) << "," << fmt("%.5g", r.mean) << ","
        << (r.zero_share >= 0 ? fmt("%.4f", r.zero_share) : "") << "\n";
    std::snprintf(line, sizeof line, "  %-12s %-20s %10.1f %8.2f %10.4g %8s\n", r.name.c_str(),
                  shp.c_str(), r.flops / 1e6, r.ms, r.mean, zeros.c_str());
    tab << line;
    html << "<tr><td>" << viz::html_escape(r.name) << "</td><td>" << r.ops << "</td><td>" << shp
         << "</td><td>" << fmt("%.1f", r.flops / 1e6) << "</td><td>" << fmt("%.2f", r.ms)
         << "</td><td>" << fmt("%.4g", r.mean) << "</td><td>" << zeros << "</td></tr>\n";
  }
  return {tab.str(), csv.str(), html.str()};
}

// The self-contained page; uri(i) is picture i as a data: URI, pictures [1, n_heat) heatmaps.
std::string html_page(const Ctx& c, size_t n_heat, const Table& table,
                      const std::function<std::string(size_t)>& uri) {
  const Ranking& rk = c.rk;
  std::ostringstream h;
  std::vector<std::pair<std::string, double>> top5;
  for (size_t r = 0; r < std::min<size_t>(5, rk.order.size()); ++r)
    top5.push_back({rk.names[size_t(rk.order[r])], rk.prob[size_t(rk.order[r])]});
  h << "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>scratchcv explain: "
    << viz::html_escape(rk.names[size_t(rk.order[0])]) << "</title>\n<style>"
    << "body{font-family:sans-serif;margin:24px;max-width:1200px;color:#222}"
    << "figure{display:inline-block;margin:8px;vertical-align:top;max-width:460px}"
    << "figure.h{width:232px}"
    << "figcaption{font-size:13px;color:#444;overflow-wrap:anywhere}"
    << "h2{border-bottom:1px solid #ccc}"
    << "table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;text-align:right}"
    << "td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#f4f4f4}"
    << "img{image-rendering:pixelated}</style></head><body>\n"
    << "<h1>From pixels to a label</h1>\n<p>Model <code>" << viz::html_escape(c.o.model)
    << "</code>, input <code>" << viz::html_escape(c.o.input_name()) << "</code>.</p>\n"
    << "<h2>1. The photo and the answer</h2>\n<figure><img alt='photo' src='" << uri(0)
    << "' width='224'><figcaption>" << c.pics[0].caption << "</figcaption></figure>\n<figure>"
    << svg_bars(top5)
    << "<figcaption>Top-5 probabilities (softmax of the logits)</figcaption></figure>\n"
    << "<h2>2. Where it looked</h2>\n<p>Colour scale (jet): <img alt='colour scale' src='"
    << viz::png_data_uri(viz::colour_bar(200, 12))
    << "' style='vertical-align:middle'>. CAM is scaled by its min..max, Grad-CAM and saliency "
       "by 0..max.</p>\n";
  for (size_t i = 1; i < n_heat; ++i)
    h << "<figure class='h'><img alt='" << viz::html_escape(c.pics[i].title) << "' src='" << uri(i)
      << "' width='224'><figcaption><b>" << viz::html_escape(c.pics[i].title) << "</b><br>"
      << viz::html_escape(c.pics[i].caption) << "</figcaption></figure>\n";
  h << "<h2>3. What the layers saw</h2>\n";
  for (size_t i = n_heat; i < c.pics.size(); ++i)
    h << "<figure><img alt='" << viz::html_escape(c.pics[i].title) << "' src='" << uri(i)
      << "' style='max-width:440px'><figcaption><b>" << viz::html_escape(c.pics[i].title)
      << "</b><br>" << viz::html_escape(c.pics[i].caption) << "</figcaption></figure>\n";
  h << "<h2>4. Layer by layer</h2>\n<table><tr><th>layer</th><th>ops</th><th>output</th>"
       "<th>MFLOPs</th><th>ms</th><th>mean</th><th>zeros after ReLU</th></tr>\n"
    << table.html
    << "</table>\n<p>Times are explain's own fp32 forward pass (im2col + GEMM), not the "
       "optimised classify path.</p>\n"
       // Marks the body once every picture has decoded (checked by the headless-browser test).
       "<script>window.addEventListener('load',function(){var ok=true;"
       "for(var i=0;i<document.images.length;i++){var m=document.images[i];"
       "ok=ok&&m.complete&&m.naturalWidth>0;}"
       "document.body.setAttribute('data-images',ok?'decoded':'broken');});</script>\n"
       "</body></html>\n";
  return h.str();
}

// Encodes every picture once (in parallel) and writes the files and the page, each atomically.
Status write_outputs(const Ctx& c, size_t n_heat, const Table& table) {
  std::vector<Result<std::vector<uint8_t>>> png(
      c.pics.size(), Result<std::vector<uint8_t>>(std::vector<uint8_t>()));
  c.pool.parallel_for(int64_t(c.pics.size()), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) png[size_t(i)] = encode_png(c.pics[size_t(i)].image, kPngLevel);
  });
  for (size_t i = 0; i < c.pics.size(); ++i)
    if (!png[i].ok()) return png[i].status().with_context(c.pics[i].file);
  const Options& o = c.o;
  // The pictures and the table in one batch (each file atomic, their fsyncs overlapping), on a
  // thread of its own while the page is built; then the page. Every path is checked first.
  std::vector<OutputFile> files;
  if (!o.out_dir.empty()) {
    for (size_t i = 0; i < c.pics.size(); ++i)
      files.push_back({o.out_dir + "/" + c.pics[i].file, png[i]->data(), png[i]->size()});
    files.push_back({o.out_dir + "/layers.csv", table.csv.data(), table.csv.size()});
  }
  for (const OutputFile& f : files) SCV_TRY(check_output(f.path));
  if (!o.html.empty()) SCV_TRY(check_output(o.html));
  Status files_st;
  std::thread writer;
  if (!files.empty()) writer = std::thread([&] { files_st = write_files_atomic(files); });
  std::string page;
  Status page_st;
  if (!o.html.empty()) {
    page = html_page(c, n_heat, table, [&](size_t i) {
      return "data:image/png;base64," + viz::base64(png[i]->data(), png[i]->size());
    });
    page_st = write_file_atomic(o.html, page.data(), page.size());
  }
  if (writer.joinable()) writer.join();
  SCV_TRY(files_st);
  SCV_TRY(page_st);
  if (!o.out_dir.empty())
    std::printf("\nwrote %zu pictures and layers.csv to %s/\n", c.pics.size(), o.out_dir.c_str());
  if (!o.html.empty()) std::printf("wrote %s (%.0f KB)\n", o.html.c_str(), page.size() / 1024.0);
  return Status();
}

int cmd_explain(const std::vector<std::string>& args) {
  Options o;
  ArgParser ap("explain",
               "Show where a classifier looked and what its layers saw: CAM, Grad-CAM and\n"
               "saliency heatmaps for the top classes, feature maps, first-layer filters, a\n"
               "per-layer table, deconvnet projections, and one HTML page with all of it.",
               "IMG");
  declare_options(ap, o);
  if (int rc = parse_options(ap, args, o); rc >= 0) return rc;

  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point a) {
    return std::chrono::duration<double, std::milli>(Clock::now() - a).count();
  };
  const auto t_load = Clock::now();
  Subject subj;
  if (Status s = load_subject(ap, o, &subj); !s.ok()) return ap.fail(s.message());
  for (const std::string& dir : {o.out_dir, o.dump_dir}) {
    std::error_code ec;
    if (!dir.empty() && !fs::create_directories(dir, ec) && ec)
      return ap.fail(str(dir, ": cannot create directory: ", ec.message()));
  }
  const Graph& g = subj.graph;
  // Idle workers sleep after the pure spin: between its passes explain draws pictures and
  // writes files on one thread, and workers spinning through those gaps cost CPU time and,
  // yielding, the core the writer wants (bundled model, 12 runs each: 2 ms of spinning 0.196 s
  // wall / 0.281 s CPU, 50 us 0.158 / 0.223 s).
  ThreadPool pool(o.threads, ThreadPool::kPureSpinMicros);
  const double load_ms = ms_since(t_load);

  const auto t_fwd = Clock::now();
  auto tr = explain::run_trace(g, subj.x, pool);
  if (!tr.ok()) return ap.fail(tr.status().message());
  const Ranking rk = rank_classes(tr->values[explain::logits_value(g)]);
  const int classes = std::min(o.classes, int(rk.order.size()));
  const double fwd_ms = ms_since(t_fwd);

  const auto t_maps = Clock::now();
  Ctx c{o, g, *tr, pool, subj.photo, rk, {}};
  c.pics.push_back(
      {"photo.png", "The photo",
       subj.tflite ? "centre 87.5% resized to the model's input (TF-slim), as the network sees it"
                   : "resized and centre-cropped as the network sees it",
       subj.photo});
  if (Status s = heatmaps(c, classes); !s.ok()) return ap.fail(s.message());
  const size_t n_heat = c.pics.size();
  const double maps_ms = ms_since(t_maps);

  const auto t_pics = Clock::now();
  std::vector<std::string> layers = split_list(o.layers_s);
  if (subj.tflite && !ap.given("layers")) layers = subj.stages;
  if (Status s = layer_pictures(c, layers); !s.ok()) return ap.fail(s.message());
  for (const std::string& spec : split_list(o.deconv))
    if (Status s = deconv_picture(c, spec); !s.ok()) return ap.fail(s.message());
  const Table table = table_of(*tr);
  std::printf("\nper layer (explain's fp32 forward):\n%s", table.text.c_str());
  if (Status s = write_outputs(c, n_heat, table); !s.ok()) return ap.fail(s.message());
  std::printf(
      "time: load %.0f ms, forward %.0f ms, backward and maps %.0f ms, pictures and "
      "files %.0f ms\n",
      load_ms, fwd_ms, maps_ms, ms_since(t_pics));
  return 0;
}

Command reg("explain", "heatmaps, feature maps and a report of what a classifier saw", cmd_explain);

}  // namespace
}  // namespace scv::cli
