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
#include <iostream>
#include <numeric>
#include <sstream>

#include "cli.h"
#include "runner.h"
#include "scratchcv/explain.h"
#include "scratchcv/fetch.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/model.h"
#include "scratchcv/viz.h"

namespace fs = std::filesystem;

namespace scv::cli {
namespace {

using explain::Trace;

// zlib level for the pictures: with level 2 instead of the default 6 the pictures-and-files
// phase of a resnet50 explain took 0.54 s instead of 1.29 s (14 pictures and the page).
constexpr int kPngLevel = 2;

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

// The photo as the network saw it: the normalised tensor mapped back to 0..255.
Image tensor_to_photo(const Tensor& x) {
  static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  const int H = int(x.dim(2)), W = int(x.dim(3));
  Image im(W, H, 3);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < H * W; ++i)
      im.pixels[size_t(i) * 3 + c] = uint8_t(
          std::clamp(std::lround((x[int64_t(c) * H * W + i] * sd[c] + mean[c]) * 255.0), 0L, 255L));
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

int cmd_explain(const std::vector<std::string>& args) {
  std::string model, arch, weights = "V1", out_dir, html,
                           layers_s = "conv1,layer1,layer2,layer3,layer4";
  std::string layer, deconv, tensor_file, dump_dir;
  int classes = 3, threads = 0, resize = 0, crop = 224, deconv_top = 6, channels = 64;
  std::string threads_s;
  bool no_saliency = false;
  ArgParser ap("explain",
               "Show where a classifier looked and what its layers saw: CAM, Grad-CAM and\n"
               "saliency heatmaps for the top classes, feature maps, first-layer filters, a\n"
               "per-layer table, deconvnet projections, and one HTML page with all of it.",
               "IMG");
  ap.option("model", &model, "PATH",
            "model file (.pth or .onnx); default: the cached torchvision resnet50")
      .option("arch", &arch, "NAME", "ResNet architecture of a .pth (default: recognised)")
      .option("weights", &weights, "V1|V2", "which cached official weights (default V1)")
      .option("out", &out_dir, "DIR",
              "write the pictures (PNG) and layers.csv here (default: explain_out)")
      .option("html", &html, "FILE", "also write one self-contained HTML report")
      .option("classes", &classes, "K", "heatmaps for the K most probable classes (default 3)")
      .option("layer", &layer, "NAME",
              "Grad-CAM layer (default: the last feature maps, the input of the global pool)")
      .option("layers", &layers_s, "A,B,..",
              "feature maps to show (default conv1,layer1,layer2,layer3,layer4; model names work)")
      .option("channels", &channels, "N", "channels per feature-map grid (default 64)")
      .option("deconv", &deconv, "LAYER[:CH]",
              "deconvnet projections of channel CH (default: the strongest) of LAYER")
      .option("deconv-top", &deconv_top, "N", "strongest activations to project (default 6)")
      .flag("no-saliency", &no_saliency, "skip the pixel saliency map (one backward pass less)")
      .option("resize", &resize, "N", "shorter side before the crop (default 256)")
      .option("crop", &crop, "N", "centre crop (default 224)")
      .option("tensor", &tensor_file, "FILE",
              "use a raw float32 [1,3,crop,crop] tensor instead of a photo (testing aid)")
      .option("dump", &dump_dir, "DIR",
              "write logits, gradients and maps as raw float32 + manifest.json (testing aid)")
      .option("threads", &threads_s, "N", "worker threads (default: the usable CPUs)")
      .epilog(
          "Heatmap colours: jet, dark blue = low, red = high; CAM is scaled by its min..max,\n"
          "Grad-CAM and saliency by 0..max, then blended 50% over the photo.\n"
          "Layer names: a graph value (conv1 = the conv output) or a module (layer4 = the\n"
          "output of its last block, as a PyTorch hook on model.layer4 sees it).\n"
          "Example: scratchcv explain data/sample.jpg --html report.html --deconv layer1");
  std::vector<std::string> pos;
  if (!ap.parse(args, &pos)) return ap.exit_code();
  if (int rc = resolve_threads_option(ap, threads_s, &threads)) return rc;
  if (pos.size() > 1)
    return ap.fail("one image at a time (got " + std::to_string(pos.size()) + ")");
  if (pos.empty() == tensor_file.empty()) {
    ap.fail("give one image, or --tensor FILE (see --help)");
    return 2;
  }
  if (classes < 1 || classes > 20) return ap.fail("--classes must be between 1 and 20");
  if (deconv_top < 1 || deconv_top > 32) return ap.fail("--deconv-top must be between 1 and 32");
  if (channels < 1 || channels > 4096) return ap.fail("--channels must be between 1 and 4096");
  if (out_dir.empty() && html.empty() && dump_dir.empty()) out_dir = "explain_out";

  if (model.empty()) {
    const std::string a = arch.empty() ? "resnet50" : arch;
    auto file = find_model_file(a, weights);
    if (!file.ok()) return ap.fail(file.status().message());
    if (resize == 0) resize = file->resize_size;
    model = cached_model_path(a, weights);
    if (!file_exists(model)) return ap.fail(missing_weights_message(a, weights));
  }
  if (resize == 0) resize = 256;
  if (crop < 1 || crop > 4096 || resize < crop)
    return ap.fail("--crop must be in 1..4096 and --resize >= --crop");

  // ---- input
  Tensor x;
  Image photo;
  if (!tensor_file.empty()) {
    auto bytes = read_file(tensor_file);
    if (!bytes.ok()) return ap.fail(bytes.status().message());
    if (int64_t(bytes->size()) != int64_t(3) * crop * crop * 4)
      return ap.fail(str(tensor_file, ": ", bytes->size(), " bytes, expected a float32 [1, 3, ",
                         crop, ", ", crop, "] tensor (", 3 * crop * crop * 4, " bytes)"));
    x = Tensor::from_data({1, 3, crop, crop}, reinterpret_cast<const float*>(bytes->data()));
    photo = tensor_to_photo(x);
  } else {
    auto img = load_image(pos[0], ColorMode::rgb);
    if (!img.ok()) return ap.fail(img.status().message());
    auto t = imagenet_preprocess(*img, resize, crop);
    if (!t.ok()) return ap.fail(str(pos[0], ": ", t.status().message()));
    x = t->reshaped({1, 3, crop, crop});
    photo = center_crop(resize_shorter_side(*img, resize), crop, crop);
  }
  for (const std::string& dir : {out_dir, dump_dir}) {
    std::error_code ec;
    if (!dir.empty() && !fs::create_directories(dir, ec) && ec)
      return ap.fail(str(dir, ": cannot create directory: ", ec.message()));
  }

  // ---- forward
  using Clock = std::chrono::steady_clock;
  const auto t_load = Clock::now();
  auto ms_since = [](Clock::time_point a) {
    return std::chrono::duration<double, std::milli>(Clock::now() - a).count();
  };
  auto graph = load_model(model, arch);
  if (!graph.ok()) return ap.fail(graph.status().message());
  const Graph& g = *graph;
  ThreadPool pool(threads);
  const double load_ms = ms_since(t_load);
  const auto t_fwd = Clock::now();
  auto tr = explain::run_trace(g, x, pool);
  if (!tr.ok()) return ap.fail(tr.status().message());
  const Trace& t = *tr;
  const Tensor& logits = t.values[explain::logits_value(g)];
  const int ncls = int(logits.numel());
  std::vector<std::string> names;
  if (ncls == 1000) {
    auto l = imagenet_labels();
    if (l.ok()) names = *l;
  }
  if (names.empty())
    for (int i = 0; i < ncls; ++i) names.push_back("class " + std::to_string(i));
  std::vector<double> prob(ncls);
  const float mx = *std::max_element(logits.data(), logits.data() + ncls);
  double sum = 0;
  for (int i = 0; i < ncls; ++i) sum += prob[i] = std::exp(double(logits[i] - mx));
  for (double& p : prob) p /= sum;
  std::vector<int> order(ncls);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return prob[a] > prob[b]; });
  classes = std::min(classes, ncls);

  // ---- maps
  const double fwd_ms = ms_since(t_fwd);
  const auto t_maps = Clock::now();
  auto head = explain::find_classifier_head(g);
  int gc_layer = head.ok() ? head->features : -1;
  if (!layer.empty()) {
    auto v = explain::resolve_layer(g, layer);
    if (!v.ok()) return ap.fail(v.status().message());
    gc_layer = *v;
  }
  if (gc_layer < 0)
    return ap.fail(str(head.status().message(), "; name a Grad-CAM layer with --layer"));
  if (t.values[gc_layer].rank() != 4)
    return ap.fail(str("Grad-CAM needs a layer with [N, C, H, W] output; '",
                       g.values[gc_layer].name, "' is ", shape_str(t.values[gc_layer].shape())));
  const std::string gc_name = g.values[gc_layer].name;
  std::vector<Picture> pics;
  pics.push_back(
      {"photo.png", "The photo", "resized and centre-cropped as the network sees it", photo});
  Dumper dump(dump_dir);
  auto dump_add = [&](const std::string& n, const Tensor& v) {
    return dump_dir.empty() ? Status() : dump.add(n, v);
  };
  Status st;
  st = dump_add("logits", logits);
  if (st.ok()) st = dump_add("layer", t.values[gc_layer]);
  if (st.ok() && head.ok()) st = dump_add("features", t.values[head->features]);
  if (!st.ok()) return ap.fail(st.message());
  std::printf("%s\n", pos.empty() ? tensor_file.c_str() : pos[0].c_str());
  for (int r = 0; r < classes; ++r) {
    const int k = order[r];
    std::printf("  %d. %6.2f%%  %s  (#%d)\n", r + 1, 100.0 * prob[k], names[k].c_str(), k);
    const bool to_input = !dump_dir.empty() || (r == 0 && !no_saliency);
    auto gr = explain::class_gradients(t, k, gc_layer, to_input, pool);
    if (!gr.ok()) return ap.fail(gr.status().message());
    const std::string tag = std::to_string(r + 1) + "_" + safe_name(names[k]);
    const std::string label = names[k] + " (" + fmt("%.1f%%", 100.0 * prob[k]) + ")";
    if (head.ok()) {
      const Tensor cam = explain::class_activation_map(t.values[head->features], head->weight, k);
      pics.push_back({"cam_" + tag + ".png", "CAM: " + label,
                      "last feature maps weighted by the classifier's weights for this class",
                      viz::heatmap_overlay(photo, cam, false)});
      st = dump_add("cam_" + std::to_string(k), cam);
    }
    const Tensor gcam = explain::grad_cam(t.values[gc_layer], gr->layer);
    pics.push_back({"gradcam_" + tag + ".png", "Grad-CAM at " + gc_name + ": " + label,
                    "channels weighted by the mean gradient of the class score, then ReLU",
                    viz::heatmap_overlay(photo, gcam, true)});
    if (st.ok()) st = dump_add("gradcam_" + std::to_string(k), gcam);
    if (st.ok()) st = dump_add("layer_grad_" + std::to_string(k), gr->layer);
    if (to_input) {
      if (st.ok()) st = dump_add("input_grad_" + std::to_string(k), gr->input);
      if (r == 0 && !no_saliency) {
        const Tensor sal = explain::saliency_map(gr->input);
        pics.push_back({"saliency_" + tag + ".png", "Saliency: " + label,
                        "max over colour channels of |d score / d pixel|",
                        viz::colour_map(sal, true)});
        if (st.ok()) st = dump_add("saliency_" + std::to_string(k), sal);
      }
    }
    if (!st.ok()) return ap.fail(st.message());
  }
  if (!dump_dir.empty()) {
    // The forward's decisions, so a reference can be run at exactly the same ReLU masks and
    // max-pool switches: [x > 0] of every Relu input (uint8, node order), every switch (int32).
    std::vector<uint8_t> masks;
    std::vector<int32_t> switches;
    int n_relu = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (g.nodes[i].op == OpType::Relu) {
        const Tensor& in = t.values[g.nodes[i].inputs[0]];
        for (int64_t j = 0; j < in.numel(); ++j) masks.push_back(in[j] > 0.f);
        ++n_relu;
      }
      switches.insert(switches.end(), t.switches[i].begin(), t.switches[i].end());
    }
    st = write_file_atomic(dump_dir + "/relu_masks.u8", masks.data(), masks.size());
    if (st.ok())
      st = write_file_atomic(dump_dir + "/maxpool_switches.i32", switches.data(),
                             switches.size() * 4);
    if (!st.ok()) return ap.fail(st.message());
    std::string cls;
    for (int r = 0; r < classes; ++r) cls += (r ? ", " : "") + std::to_string(order[r]);
    st = dump.finish("  \"classes\": [" + cls + "],\n  \"relu_count\": " + std::to_string(n_relu) +
                     ",\n  \"layer\": \"" + gc_name + "\"");
    if (!st.ok()) return ap.fail(st.message());
  }
  const size_t n_heat = pics.size();

  const double maps_ms = ms_since(t_maps);
  // ---- feature maps, filters, deconvnet
  const auto t_pics = Clock::now();
  for (const std::string& name : split_list(layers_s)) {
    auto v = explain::resolve_layer(g, name);
    if (!v.ok()) return ap.fail(v.status().message());
    const Tensor& a = t.values[*v];
    if (a.rank() != 4) continue;
    const int cell = int(std::clamp<int64_t>(a.dim(2) * 2, 28, 64));
    pics.push_back({"features_" + safe_name(name) + ".png",
                    "Feature maps: " + name + " " + shape_str(a.shape()),
                    std::to_string(std::min<int64_t>(a.dim(1), channels)) +
                        " channels, each scaled to its own min (black) .. max (white)",
                    viz::feature_grid(a, channels, cell)});
  }
  for (const Node& n : g.nodes) {
    if (n.op != OpType::Conv) continue;
    const Tensor& w = t.values[n.inputs[1]];
    if (w.rank() == 4 && (w.dim(1) == 3 || w.dim(1) == 1))
      pics.push_back({"filters_" + safe_name(n.name) + ".png", "First-layer filters: " + n.name,
                      std::to_string(w.dim(0)) + " filters " + std::to_string(w.dim(2)) + "x" +
                          std::to_string(w.dim(3)) + ", gray = 0",
                      viz::filter_grid(w, 28)});
    break;
  }
  if (!deconv.empty()) {
    std::string lname = deconv;
    int ch = -1;
    if (const size_t c = deconv.rfind(':'); c != std::string::npos) {
      lname = deconv.substr(0, c);
      ch = std::atoi(deconv.c_str() + c + 1);
    }
    auto v = explain::resolve_layer(g, lname);
    if (!v.ok()) return ap.fail(v.status().message());
    auto dr = explain::deconvnet(t, *v, ch, deconv_top, pool);
    if (!dr.ok()) return ap.fail(dr.status().message());
    std::vector<Image> tiles;
    for (const auto& p : dr->projections) {
      if (p.box[2] <= p.box[0] || p.box[3] <= p.box[1]) continue;  // rectified to nothing
      const Image rec = viz::signed_image(p.image, p.box);
      Image crop_img(p.box[2] - p.box[0], p.box[3] - p.box[1], 3);
      for (int yy = 0; yy < crop_img.height; ++yy)
        for (int xx = 0; xx < crop_img.width; ++xx)
          for (int c = 0; c < 3; ++c)
            crop_img.at(xx, yy, c) = photo.at(p.box[0] + xx, p.box[1] + yy, c);
      const int s = std::max(1, 96 / std::max(1, std::max(rec.width, rec.height)));
      tiles.push_back(viz::resize_nearest(rec, rec.width * s, rec.height * s));
      tiles.push_back(viz::resize_nearest(crop_img, crop_img.width * s, crop_img.height * s));
    }
    if (!tiles.empty())
      pics.push_back({"deconv_" + safe_name(lname) + ".png",
                      "Deconvnet: " + lname + " channel " + std::to_string(dr->channel),
                      "its " + std::to_string(tiles.size() / 2) +
                          " strongest activations projected to pixels (left) beside the photo "
                          "patch they see (right)",
                      viz::tile_images(tiles, 4, 4)});
  }

  // ---- table
  const auto rows = explain::layer_table(t);
  std::ostringstream csv, tab;
  csv << "layer,ops,output_shape,mflops,ms,mean,zero_share\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-12s %-20s %10s %8s %10s %8s\n", "layer", "output", "MFLOPs",
                "ms", "mean", "zeros");
  tab << line;
  for (const auto& r : rows) {
    std::string shp = shape_str(r.shape);
    csv << r.name << "," << r.ops << ",\"" << shp << "\"," << fmt("%.2f", r.flops / 1e6) << ","
        << fmt("%.3f", r.ms) << "," << fmt("%.5g", r.mean) << ","
        << (r.zero_share >= 0 ? fmt("%.4f", r.zero_share) : "") << "\n";
    std::snprintf(line, sizeof line, "  %-12s %-20s %10.1f %8.2f %10.4g %8s\n", r.name.c_str(),
                  shp.c_str(), r.flops / 1e6, r.ms, r.mean,
                  r.zero_share >= 0 ? fmt("%.1f%%", 100 * r.zero_share).c_str() : "-");
    tab << line;
  }
  std::printf("\nper layer (explain's fp32 forward):\n%s", tab.str().c_str());

  // ---- write: every picture encoded once (in parallel), for the files and the page alike
  std::vector<Result<std::vector<uint8_t>>> png(
      pics.size(), Result<std::vector<uint8_t>>(std::vector<uint8_t>()));
  pool.parallel_for(int64_t(pics.size()), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) png[i] = encode_png(pics[i].image, kPngLevel);
  });
  for (size_t i = 0; i < pics.size(); ++i)
    if (!png[i].ok()) return ap.fail(str(pics[i].file, ": ", png[i].status().message()));
  auto uri = [&](size_t i) {
    return "data:image/png;base64," + viz::base64(png[i]->data(), png[i]->size());
  };
  if (!out_dir.empty()) {
    for (size_t i = 0; i < pics.size(); ++i) {
      const std::string path = out_dir + "/" + pics[i].file;
      if (Status s = write_file_atomic(path, png[i]->data(), png[i]->size()); !s.ok())
        return ap.fail(s.message());
    }
    const std::string c = csv.str();
    if (Status s = write_file_atomic(out_dir + "/layers.csv", c.data(), c.size()); !s.ok())
      return ap.fail(s.message());
    std::printf("\nwrote %zu pictures and layers.csv to %s/\n", pics.size(), out_dir.c_str());
  }
  if (!html.empty()) {
    std::ostringstream h;
    std::vector<std::pair<std::string, double>> top5;
    for (int r = 0; r < std::min(5, ncls); ++r) top5.push_back({names[order[r]], prob[order[r]]});
    h << "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>scratchcv explain: "
      << viz::html_escape(names[order[0]]) << "</title>\n<style>"
      << "body{font-family:sans-serif;margin:24px;max-width:1200px;color:#222}"
      << "figure{display:inline-block;margin:8px;vertical-align:top;max-width:460px}"
      << "figure.h{width:232px}"
      << "figcaption{font-size:13px;color:#444}h2{border-bottom:1px solid #ccc}"
      << "table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;text-align:right}"
      << "td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#f4f4f4}"
      << "img{image-rendering:pixelated}</style></head><body>\n"
      << "<h1>From pixels to a label</h1>\n<p>Model <code>" << viz::html_escape(model)
      << "</code>, input <code>" << viz::html_escape(pos.empty() ? tensor_file : pos[0])
      << "</code>.</p>\n"
      << "<h2>1. The photo and the answer</h2>\n<figure><img alt='photo' src='" << uri(0)
      << "' width='224'><figcaption>" << pics[0].caption << "</figcaption></figure>\n<figure>"
      << svg_bars(top5)
      << "<figcaption>Top-5 probabilities (softmax of the logits)</figcaption></figure>\n"
      << "<h2>2. Where it looked</h2>\n<p>Colour scale (jet): <img alt='colour scale' src='"
      << viz::png_data_uri(viz::colour_bar(200, 12))
      << "' style='vertical-align:middle'>. CAM is scaled by its min..max, Grad-CAM and saliency "
         "by 0..max.</p>\n";
    for (size_t i = 1; i < n_heat; ++i)
      h << "<figure class='h'><img alt='" << viz::html_escape(pics[i].title) << "' src='" << uri(i)
        << "' width='224'><figcaption><b>" << viz::html_escape(pics[i].title) << "</b><br>"
        << viz::html_escape(pics[i].caption) << "</figcaption></figure>\n";
    h << "<h2>3. What the layers saw</h2>\n";
    for (size_t i = n_heat; i < pics.size(); ++i)
      h << "<figure><img alt='" << viz::html_escape(pics[i].title) << "' src='" << uri(i)
        << "' style='max-width:440px'><figcaption><b>" << viz::html_escape(pics[i].title)
        << "</b><br>" << viz::html_escape(pics[i].caption) << "</figcaption></figure>\n";
    h << "<h2>4. Layer by layer</h2>\n<table><tr><th>layer</th><th>ops</th><th>output</th>"
         "<th>MFLOPs</th><th>ms</th><th>mean</th><th>zeros after ReLU</th></tr>\n";
    for (const auto& r : rows)
      h << "<tr><td>" << viz::html_escape(r.name) << "</td><td>" << r.ops << "</td><td>"
        << shape_str(r.shape) << "</td><td>" << fmt("%.1f", r.flops / 1e6) << "</td><td>"
        << fmt("%.2f", r.ms) << "</td><td>" << fmt("%.4g", r.mean) << "</td><td>"
        << (r.zero_share >= 0 ? fmt("%.1f%%", 100 * r.zero_share) : "-") << "</td></tr>\n";
    h << "</table>\n<p>Times are explain's own fp32 forward pass (im2col + GEMM), not the "
         "optimised classify path.</p>\n"
         // Marks the body once every picture has decoded (checked by the headless-browser test).
         "<script>window.addEventListener('load',function(){var ok=true;"
         "for(var i=0;i<document.images.length;i++){var m=document.images[i];"
         "ok=ok&&m.complete&&m.naturalWidth>0;}"
         "document.body.setAttribute('data-images',ok?'decoded':'broken');});</script>\n"
         "</body></html>\n";
    const std::string s = h.str();
    if (Status w = write_file_atomic(html, s.data(), s.size()); !w.ok())
      return ap.fail(w.message());
    std::printf("wrote %s (%.0f KB)\n", html.c_str(), s.size() / 1024.0);
  }
  std::printf(
      "time: load %.0f ms, forward %.0f ms, backward and maps %.0f ms, pictures and "
      "files %.0f ms\n",
      load_ms, fwd_ms, maps_ms, ms_since(t_pics));
  return 0;
}

Command reg("explain", "heatmaps, feature maps and a report of what a classifier saw", cmd_explain);

}  // namespace
}  // namespace scv::cli
