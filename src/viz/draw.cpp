// Drawing primitives, the bitmap font, colour maps, heatmaps and tiles (see scratchcv/viz.h).
#include <algorithm>
#include <cmath>

#include "scratchcv/viz.h"

namespace scv::viz {

namespace {
#include "viz/font_data.inc"

// Rounds to nearest (halves up) and clamps to 0..255; inline, as std::lround was a visible
// share of explain's pictures (a call per colour channel of every pixel).
uint8_t to_u8(double v) {
  return !(v > 0.0) ? 0 : v >= 255.0 ? 255 : uint8_t(int(v + 0.5));  // NaN -> 0
}

// The source index nearest-neighbour resizing samples for each of n_out output indices over
// n_in inputs (resize_nearest's rule; feature_grid's tiles use it too).
std::vector<int> nearest_indices(int n_in, int n_out) {
  std::vector<int> idx(static_cast<size_t>(std::max(n_out, 0)));
  for (int o = 0; o < n_out; ++o)
    idx[size_t(o)] = std::min(n_in - 1, int(int64_t(o) * n_in / n_out));
  return idx;
}

void put(Image& im, int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= im.width || y >= im.height) return;
  uint8_t* p = &im.pixels[(size_t(y) * im.width + x) * 3];
  p[0] = c.r, p[1] = c.g, p[2] = c.b;
}
}  // namespace

Rgb palette(int i) {
  static const Rgb p[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                          {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};
  return p[((i % 8) + 8) % 8];
}

Rgb jet(float t) {
  // The scale sampled at 4096 steps once (a heatmap colours ~50,000 pixels; at most one level
  // off the exact formula).
  constexpr int kSteps = 4096;
  static const std::vector<Rgb> table = [] {
    std::vector<Rgb> tb(kSteps + 1);
    for (int i = 0; i <= kSteps; ++i) {
      const double u = double(i) / kSteps;
      auto ch = [](double v) { return to_u8(255.0 * std::clamp(1.5 - std::fabs(v), 0.0, 1.0)); };
      tb[size_t(i)] = {ch(4.0 * u - 3.0), ch(4.0 * u - 2.0), ch(4.0 * u - 1.0)};
    }
    return tb;
  }();
  t = std::clamp(t, 0.f, 1.f);  // NaN -> 0 below
  return table[size_t(t > 0.f ? int(t * float(kSteps) + 0.5f) : 0)];
}

Image blank(int width, int height, Rgb bg) {
  Image im(std::max(width, 1), std::max(height, 1), 3);
  for (size_t i = 0; i < im.pixels.size(); i += 3)
    im.pixels[i] = bg.r, im.pixels[i + 1] = bg.g, im.pixels[i + 2] = bg.b;
  return im;
}

void fill_rect(Image& im, int x0, int y0, int x1, int y1, Rgb c) {
  x0 = std::max(x0, 0), y0 = std::max(y0, 0);
  x1 = std::min(x1, im.width), y1 = std::min(y1, im.height);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) put(im, x, y, c);
}

void draw_line(Image& im, double x0, double y0, double x1, double y1, Rgb c, int thickness) {
  const double len = std::max(std::fabs(x1 - x0), std::fabs(y1 - y0));
  const int steps = std::max(1, int(std::ceil(len)));
  const int lo = -(thickness - 1) / 2, hi = thickness / 2;
  for (int s = 0; s <= steps; ++s) {
    const double t = double(s) / steps;
    const int x = int(std::lround(x0 + (x1 - x0) * t)), y = int(std::lround(y0 + (y1 - y0) * t));
    for (int dy = lo; dy <= hi; ++dy)
      for (int dx = lo; dx <= hi; ++dx) put(im, x + dx, y + dy, c);
  }
}

void draw_rect(Image& im, int x0, int y0, int x1, int y1, Rgb c, int t) {
  fill_rect(im, x0, y0, x1, y0 + t, c);
  fill_rect(im, x0, y1 - t, x1, y1, c);
  fill_rect(im, x0, y0, x0 + t, y1, c);
  fill_rect(im, x1 - t, y0, x1, y1, c);
}

int text_width(const std::string& s, int scale) {
  return int(s.size()) * kFontW * scale;
}

int draw_text(Image& im, int x, int y, const std::string& s, Rgb c, int scale) {
  int cx = x;
  for (char ch : s) {
    int code = (unsigned char)ch;
    if (code < 32 || code > 126) code = '?';
    const unsigned char* rows = kFontRows[code - 32];
    for (int r = 0; r < kFontH; ++r)
      for (int col = 0; col < kFontW; ++col)
        if (rows[r] & (1 << (kFontW - 1 - col)))
          fill_rect(im, cx + col * scale, y + r * scale, cx + (col + 1) * scale,
                    y + (r + 1) * scale, c);
    cx += kFontW * scale;
  }
  return cx - x;
}

void draw_label(Image& im, int x, int y, const std::string& s, Rgb fg, Rgb bg, int scale) {
  fill_rect(im, x, y, x + text_width(s, scale) + 4 * scale, y + (kTextHeight + 2) * scale, bg);
  draw_text(im, x + 2 * scale, y + scale, s, fg, scale);
}

void blit(Image& dst, const Image& src, int x, int y) {
  const Image s = src.channels == 3 ? src : convert_channels(src, 3);
  for (int r = 0; r < s.height; ++r) {
    const int ty = y + r;
    if (ty < 0 || ty >= dst.height) continue;
    for (int c = 0; c < s.width; ++c) {
      const int tx = x + c;
      if (tx < 0 || tx >= dst.width) continue;
      const uint8_t* p = &s.pixels[(size_t(r) * s.width + c) * 3];
      put(dst, tx, ty, {p[0], p[1], p[2]});
    }
  }
}

Image resize_nearest(const Image& im, int width, int height) {
  Image out(width, height, im.channels);
  const std::vector<int> sx = nearest_indices(im.width, width),
                         sy = nearest_indices(im.height, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < im.channels; ++c)
        out.at(x, y, c) = im.at(sx[size_t(x)], sy[size_t(y)], c);
  return out;
}

std::vector<float> resize_map(const float* m, int h, int w, int H, int W) {
  std::vector<float> out(size_t(H) * W);
  auto coord = [](int o, int in, int outn, int* i0, int* i1, float* f) {
    float s = (float(o) + 0.5f) * float(in) / float(outn) - 0.5f;
    s = std::max(s, 0.f);
    *i0 = std::min(int(s), in - 1);
    *i1 = std::min(*i0 + 1, in - 1);
    *f = s - float(*i0);
  };
  for (int y = 0; y < H; ++y) {
    int y0, y1;
    float fy;
    coord(y, h, H, &y0, &y1, &fy);
    for (int x = 0; x < W; ++x) {
      int x0, x1;
      float fx;
      coord(x, w, W, &x0, &x1, &fx);
      const float top = m[y0 * w + x0] * (1 - fx) + m[y0 * w + x1] * fx;
      const float bot = m[y1 * w + x0] * (1 - fx) + m[y1 * w + x1] * fx;
      out[size_t(y) * W + x] = top * (1 - fy) + bot * fy;
    }
  }
  return out;
}

std::vector<float> normalise_map(const Tensor& map, bool from_zero) {
  const float* d = map.data();
  const int64_t n = map.numel();
  float lo = from_zero ? 0.f : *std::min_element(d, d + n), hi = *std::max_element(d, d + n);
  std::vector<float> out(static_cast<size_t>(n), 0.f);
  if (hi > lo)
    for (int64_t i = 0; i < n; ++i) out[i] = (d[i] - lo) / (hi - lo);
  return out;
}

Image colour_map(const Tensor& map, bool from_zero) {
  const int h = int(map.dim(0)), w = int(map.dim(1));
  const std::vector<float> m = normalise_map(map, from_zero);
  Image im(w, h, 3);
  for (int i = 0; i < h * w; ++i) {
    const Rgb c = jet(m[i]);
    im.pixels[3 * i] = c.r, im.pixels[3 * i + 1] = c.g, im.pixels[3 * i + 2] = c.b;
  }
  return im;
}

Image heatmap_overlay(const Image& photo, const Tensor& map, bool from_zero, float alpha) {
  const Image p = photo.channels == 3 ? photo : convert_channels(photo, 3);
  const std::vector<float> m = normalise_map(map, from_zero);
  const std::vector<float> up =
      resize_map(m.data(), int(map.dim(0)), int(map.dim(1)), p.height, p.width);
  Image out(p.width, p.height, 3);
  for (size_t i = 0; i < up.size(); ++i) {
    const Rgb c = jet(up[i]);
    const uint8_t* s = &p.pixels[3 * i];
    out.pixels[3 * i] = to_u8((1 - alpha) * s[0] + alpha * c.r);
    out.pixels[3 * i + 1] = to_u8((1 - alpha) * s[1] + alpha * c.g);
    out.pixels[3 * i + 2] = to_u8((1 - alpha) * s[2] + alpha * c.b);
  }
  return out;
}

Image colour_bar(int width, int height) {
  Image im = blank(width, height + kTextHeight + 4);
  for (int x = 0; x < width; ++x) fill_rect(im, x, 0, x + 1, height, jet(float(x) / (width - 1)));
  draw_text(im, 0, height + 2, "low", kBlack);
  draw_text(im, width - text_width("high"), height + 2, "high", kBlack);
  return im;
}

Image feature_grid(const Tensor& act, int max_channels, int cell) {
  const int c = int(std::min<int64_t>(act.dim(1), max_channels));
  const int h = int(act.dim(2)), w = int(act.dim(3));
  const int cols = int(std::ceil(std::sqrt(double(c))));
  const int rows = (c + cols - 1) / cols;
  const int cw = std::max(1, int(std::lround(double(cell) * w / h)));
  // One gray channel (a third of the bytes to encode), background 40; each tile is the channel
  // scaled to 0..255 and resized by nearest neighbour (resize_nearest's sampling).
  Image grid(cols * (cw + 1) + 1, rows * (cell + 1) + 1, 1);
  std::fill(grid.pixels.begin(), grid.pixels.end(), uint8_t(40));
  std::vector<uint8_t> tile(size_t(h) * w);
  const std::vector<int> sx = nearest_indices(w, cw), sy = nearest_indices(h, cell);
  for (int ch = 0; ch < c; ++ch) {
    const float* p = act.data() + int64_t(ch) * h * w;
    const float lo = *std::min_element(p, p + h * w), hi = *std::max_element(p, p + h * w);
    const float k = hi > lo ? 255.f / (hi - lo) : 0.f;
    for (int i = 0; i < h * w; ++i)  // (p - lo) * k lies in [0, 255]: round it
      tile[size_t(i)] = hi > lo ? uint8_t(int(std::min(255.f, (p[i] - lo) * k) + 0.5f)) : 128;
    const int x0 = 1 + (ch % cols) * (cw + 1), y0 = 1 + (ch / cols) * (cell + 1);
    for (int y = 0; y < cell; ++y) {
      const uint8_t* src = &tile[size_t(sy[size_t(y)]) * w];
      uint8_t* dst = &grid.pixels[size_t(y0 + y) * grid.width + x0];
      for (int x = 0; x < cw; ++x) dst[x] = src[sx[size_t(x)]];
    }
  }
  return grid;
}

Image filter_grid(const Tensor& w, int cell) {
  const int n = int(w.dim(0)), cin = int(w.dim(1)), kh = int(w.dim(2)), kw = int(w.dim(3));
  const int cols = int(std::ceil(std::sqrt(double(n))));
  const int rows = (n + cols - 1) / cols;
  Image grid = blank(cols * (cell + 1) + 1, rows * (cell + 1) + 1, {40, 40, 40});
  for (int f = 0; f < n; ++f) {
    const float* p = w.data() + int64_t(f) * cin * kh * kw;
    float m = 0;
    for (int i = 0; i < cin * kh * kw; ++i) m = std::max(m, std::fabs(p[i]));
    Image tile(kw, kh, 3);
    for (int y = 0; y < kh; ++y)
      for (int x = 0; x < kw; ++x)
        for (int c = 0; c < 3; ++c) {
          const float v = p[(std::min(c, cin - 1) * kh + y) * kw + x];
          tile.at(x, y, c) = m > 0 ? to_u8(128.0 + 127.0 * v / m) : 128;
        }
    blit(grid, resize_nearest(tile, cell, cell), 1 + (f % cols) * (cell + 1),
         1 + (f / cols) * (cell + 1));
  }
  return grid;
}

Image tile_images(const std::vector<Image>& tiles, int cols, int gap, Rgb bg) {
  if (tiles.empty()) return blank(1, 1, bg);
  cols = std::max(1, std::min(cols, int(tiles.size())));
  const int rows = (int(tiles.size()) + cols - 1) / cols;
  std::vector<int> colw(cols, 0), rowh(rows, 0);
  for (size_t i = 0; i < tiles.size(); ++i) {
    colw[i % cols] = std::max(colw[i % cols], tiles[i].width);
    rowh[i / cols] = std::max(rowh[i / cols], tiles[i].height);
  }
  int W = gap, H = gap;
  for (int c : colw) W += c + gap;
  for (int r : rowh) H += r + gap;
  Image out = blank(W, H, bg);
  int y = gap;
  for (int r = 0; r < rows; ++r) {
    int x = gap;
    for (int c = 0; c < cols; ++c) {
      const size_t i = size_t(r) * cols + c;
      if (i < tiles.size()) blit(out, tiles[i], x, y);
      x += colw[c] + gap;
    }
    y += rowh[r] + gap;
  }
  return out;
}

Image signed_image(const Tensor& t, const int* box) {
  const bool rgb = t.rank() == 3;
  const int ch = rgb ? int(t.dim(0)) : 1, H = int(t.dim(rgb ? 1 : 0)), W = int(t.dim(rgb ? 2 : 1));
  int x0 = 0, y0 = 0, x1 = W, y1 = H;
  if (box && box[2] > box[0] && box[3] > box[1]) x0 = box[0], y0 = box[1], x1 = box[2], y1 = box[3];
  float m = 0;
  for (int c = 0; c < ch; ++c)
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) m = std::max(m, std::fabs(t[(int64_t(c) * H + y) * W + x]));
  Image im(x1 - x0, y1 - y0, 3);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x)
      for (int c = 0; c < 3; ++c) {
        const float v = t[(int64_t(std::min(c, ch - 1)) * H + y) * W + x];
        im.at(x - x0, y - y0, c) = m > 0 ? to_u8(128.0 + 127.0 * v / m) : 128;
      }
  return im;
}

std::string base64(const uint8_t* data, size_t size) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out((size + 2) / 3 * 4, '=');
  char* o = out.data();
  size_t i = 0;
  for (; i + 3 <= size; i += 3, o += 4) {  // whole groups of three bytes
    const uint32_t v = (uint32_t(data[i]) << 16) | (uint32_t(data[i + 1]) << 8) | data[i + 2];
    o[0] = tbl[v >> 18], o[1] = tbl[(v >> 12) & 63], o[2] = tbl[(v >> 6) & 63], o[3] = tbl[v & 63];
  }
  if (i < size) {  // one or two bytes left: the rest of the group is '=' padding
    const uint32_t v = (uint32_t(data[i]) << 16) | (i + 1 < size ? uint32_t(data[i + 1]) << 8 : 0);
    o[0] = tbl[v >> 18], o[1] = tbl[(v >> 12) & 63];
    if (i + 1 < size) o[2] = tbl[(v >> 6) & 63];
  }
  return out;
}

std::string png_data_uri(const Image& im) {
  auto bytes = encode_png(im);
  if (!bytes.ok()) return "";
  return "data:image/png;base64," + base64(bytes->data(), bytes->size());
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

}  // namespace scv::viz
