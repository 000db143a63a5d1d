// Pictures from numbers: colour maps, heatmap overlays, tiled feature maps and filters, line and
// bar charts, a confusion matrix, text in a small bitmap font, and the pieces of a
// self-contained HTML page (PNG data URIs).
//
// Everything draws into 8-bit RGB Images (scratchcv/image.h); save them with save_png(), which
// writes atomically. Coordinates are pixels, x right, y down; drawing clips at the edges.
//
// Colour scale of every heatmap: "jet" (MATLAB's, as in the CAM and Grad-CAM papers): a value
// t in [0, 1] goes dark blue (0) -> blue -> cyan (0.375) -> yellow (0.625) -> red -> dark red
// (1). Maps are scaled to [0, 1] before colouring: CAM by its min..max, Grad-CAM and saliency
// (never negative) by 0..max.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scratchcv/image.h"
#include "scratchcv/tensor.h"

namespace scv::viz {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};
constexpr Rgb kWhite{255, 255, 255}, kBlack{0, 0, 0}, kGray{128, 128, 128};
// A palette of distinguishable line colours (i modulo its size).
Rgb palette(int i);
// The jet colour map, t clamped to [0, 1].
Rgb jet(float t);

// ---- drawing
// --------------------------------------------------------------------------------------
Image blank(int width, int height, Rgb bg = kWhite);               // 3 channels
void fill_rect(Image& im, int x0, int y0, int x1, int y1, Rgb c);  // [x0, x1) x [y0, y1)
void draw_line(Image& im, double x0, double y0, double x1, double y1, Rgb c, int thickness = 1);
void draw_rect(Image& im, int x0, int y0, int x1, int y1, Rgb c, int thickness = 1);  // outline
// Text in a 6x11 bitmap font (printable ASCII; others draw as '?'), each pixel scale x scale.
// (x, y) is the top-left corner. Returns the width drawn.
int draw_text(Image& im, int x, int y, const std::string& s, Rgb c, int scale = 1);
int text_width(const std::string& s, int scale = 1);
constexpr int kTextHeight = 11;
// Same, with a filled background box behind the text (for labels on photos).
void draw_label(Image& im, int x, int y, const std::string& s, Rgb fg, Rgb bg, int scale = 1);
// Copies src (converted to 3 channels) into dst at (x, y).
void blit(Image& dst, const Image& src, int x, int y);
Image resize_nearest(const Image& im, int width, int height);

// ---- maps and tiles -----------------------------------------------------------------------------
// Bilinear resize of a float map [h, w] to [H, W] with half-pixel centres (align_corners=False,
// as PyTorch's F.interpolate and OpenCV's resize).
std::vector<float> resize_map(const float* m, int h, int w, int H, int W);
// Scales a map to [0, 1]: (v - lo) / (hi - lo), lo = min (or 0 when from_zero), hi = max.
std::vector<float> normalise_map(const Tensor& map, bool from_zero);
// The map coloured with jet at its own size (for the raw, un-blended view).
Image colour_map(const Tensor& map, bool from_zero);
// The map resized to the photo, coloured with jet and blended over it: out = (1-a)*photo +
// a*colour.
Image heatmap_overlay(const Image& photo, const Tensor& map, bool from_zero, float alpha = 0.5f);
// A horizontal colour bar for the legend, `width` x `height`, with "low" and "high" marks.
Image colour_bar(int width, int height);

// Up to max_channels channels of act [1, C, h, w] as a grid of gray tiles, each channel scaled
// by its own min..max (a constant channel is mid-gray), each tile `cell` pixels high, 1 px gaps.
// A one-channel (gray) image.
Image feature_grid(const Tensor& act, int max_channels, int cell);
// First-layer filters w [Cout, 3, k, k] as RGB tiles, each filter scaled symmetrically around
// gray by its largest |weight| (128 = 0), each tile `cell` pixels.
Image filter_grid(const Tensor& w, int cell);
// Images side by side in a grid of `cols` columns, `gap` pixels apart.
Image tile_images(const std::vector<Image>& tiles, int cols, int gap, Rgb bg = kWhite);
// A signed map [3, H, W] or [H, W] (a deconvnet reconstruction) as an image, scaled
// symmetrically: 128 + 127 * v / max|v|, cropped to box = {x0, y0, x1, y1} when given.
Image signed_image(const Tensor& t, const int* box = nullptr);

// ---- charts
// ---------------------------------------------------------------------------------------
struct Series {
  std::string name;
  std::vector<double> x, y;
  Rgb colour;
  bool dashed = false;
};
// Axes with ticks at round numbers, grid lines, a legend (top right), title and axis labels.
Image line_chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                 const std::vector<Series>& series, int width = 720, int height = 420);
struct Bar {
  std::string label;
  double value = 0;
  std::string note;  // drawn after the bar ("3.2x")
};
// Horizontal bars, longest = full width, labels on the left.
Image bar_chart(const std::string& title, const std::vector<Bar>& bars, int width = 720);
// A square matrix (rows = true, cols = predicted) as coloured cells with counts; row-normalised
// colour (white -> blue), labels 0..n-1.
Image matrix_chart(const std::string& title, const std::vector<int64_t>& m, int n,
                   const std::vector<std::string>& labels);

// ---- HTML
// ----------------------------------------------------------------------------------------
std::string base64(const uint8_t* data, size_t size);
// "data:image/png;base64,..." of the image (empty string when encoding fails).
std::string png_data_uri(const Image& im);
std::string html_escape(const std::string& s);

}  // namespace scv::viz
