// Line charts, bar charts and the confusion matrix (see scratchcv/viz.h).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "scratchcv/viz.h"

namespace scv::viz {

namespace {

// Tick step: 1, 2 or 5 times a power of ten, giving about `target` intervals over span.
double nice_step(double span, int target) {
  if (!(span > 0)) return 1;
  const double raw = span / target, p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

std::string tick_label(double v, double step) {
  char buf[32];
  if (std::fabs(v) < step * 1e-6) v = 0;
  const int decimals = std::max(0, -int(std::floor(std::log10(step) + 1e-9)));
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 6), v);
  return buf;
}

// Text rotated 90 degrees counter-clockwise (for the y-axis label), top-left at (x, y).
void draw_text_vertical(Image& im, int x, int y, const std::string& s, Rgb c) {
  Image t = blank(text_width(s), kTextHeight, kWhite);
  draw_text(t, 0, 0, s, kBlack);
  for (int ty = 0; ty < t.height; ++ty)
    for (int tx = 0; tx < t.width; ++tx)
      if (t.at(tx, ty, 0) == 0)
        fill_rect(im, x + ty, y + (t.width - 1 - tx), x + ty + 1, y + (t.width - tx), c);
}

}  // namespace

Image line_chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                 const std::vector<Series>& series, int width, int height) {
  Image im = blank(width, height);
  const int L = 70, R = 20, T = 36, B = 48;
  const int pw = width - L - R, ph = height - T - B;
  double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]), ymax = std::max(ymax, s.y[i]);
    }
  if (xmin > xmax) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  const double xs = nice_step(xmax - xmin, 8), ys = nice_step(ymax - ymin, 6);
  xmin = std::floor(xmin / xs) * xs, xmax = std::ceil(xmax / xs) * xs;
  ymin = std::floor(ymin / ys) * ys, ymax = std::ceil(ymax / ys) * ys;
  auto px = [&](double x) { return L + (x - xmin) / (xmax - xmin) * pw; };
  auto py = [&](double y) { return T + ph - (y - ymin) / (ymax - ymin) * ph; };
  const Rgb grid{225, 225, 225};
  for (double v = xmin; v <= xmax + xs * 1e-6; v += xs) {
    draw_line(im, px(v), T, px(v), T + ph, grid);
    const std::string l = tick_label(v, xs);
    draw_text(im, int(px(v)) - text_width(l) / 2, T + ph + 6, l, kBlack);
  }
  for (double v = ymin; v <= ymax + ys * 1e-6; v += ys) {
    draw_line(im, L, py(v), L + pw, py(v), grid);
    const std::string l = tick_label(v, ys);
    draw_text(im, L - 6 - text_width(l), int(py(v)) - kTextHeight / 2, l, kBlack);
  }
  if (ymin < 0 && ymax > 0) draw_line(im, L, py(0), L + pw, py(0), kGray);
  if (xmin < 0 && xmax > 0) draw_line(im, px(0), T, px(0), T + ph, kGray);
  draw_rect(im, L, T, L + pw + 1, T + ph + 1, kBlack);
  for (const auto& s : series) {
    double dist = 0;
    for (size_t i = 1; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.y[i - 1])) continue;
      const double x0 = px(s.x[i - 1]), y0 = py(s.y[i - 1]), x1 = px(s.x[i]), y1 = py(s.y[i]);
      dist += std::hypot(x1 - x0, y1 - y0);
      if (s.dashed && std::fmod(dist, 12.0) > 7.0) continue;
      draw_line(im, x0, y0, x1, y1, s.colour, 2);
    }
  }
  // Legend, top right inside the plot.
  int lw = 0;
  for (const auto& s : series) lw = std::max(lw, text_width(s.name));
  int ly = T + 8;
  const int lx = L + pw - lw - 40;
  if (!series.empty()) {
    fill_rect(im, lx - 6, ly - 4, L + pw - 4, ly + int(series.size()) * 16, kWhite);
    draw_rect(im, lx - 6, ly - 4, L + pw - 4, ly + int(series.size()) * 16, {200, 200, 200});
  }
  for (const auto& s : series) {
    draw_line(im, lx, ly + 5, lx + 24, ly + 5, s.colour, 2);
    draw_text(im, lx + 30, ly, s.name, kBlack);
    ly += 16;
  }
  draw_text(im, (width - text_width(title, 2)) / 2, 6, title, kBlack, 2);
  draw_text(im, L + (pw - text_width(xlabel)) / 2, height - 18, xlabel, kBlack);
  draw_text_vertical(im, 6, T + (ph - text_width(ylabel)) / 2, ylabel, kBlack);
  return im;
}

Image bar_chart(const std::string& title, const std::vector<Bar>& bars, int width) {
  const int row = 26, T = 40;
  int lw = 0, nw = 0;
  double vmax = 0;
  for (const auto& b : bars) {
    lw = std::max(lw, text_width(b.label));
    nw = std::max(nw, text_width(b.note));
    vmax = std::max(vmax, b.value);
  }
  Image im = blank(width, T + row * int(bars.size()) + 12);
  draw_text(im, (width - text_width(title, 2)) / 2, 8, title, kBlack, 2);
  const int x0 = lw + 16, span = std::max(20, width - x0 - nw - 20);
  for (size_t i = 0; i < bars.size(); ++i) {
    const int y = T + int(i) * row;
    draw_text(im, x0 - 8 - text_width(bars[i].label), y + 6, bars[i].label, kBlack);
    const int len = vmax > 0 ? int(std::lround(span * bars[i].value / vmax)) : 0;
    fill_rect(im, x0, y + 3, x0 + std::max(len, 1), y + row - 3, palette(0));
    draw_text(im, x0 + len + 6, y + 6, bars[i].note, kBlack);
  }
  return im;
}

Image matrix_chart(const std::string& title, const std::vector<int64_t>& m, int n,
                   const std::vector<std::string>& labels) {
  const int cell = 44, L = 60, T = 56;
  Image im = blank(L + n * cell + 20, T + n * cell + 40);
  draw_text(im, (im.width - text_width(title, 2)) / 2, 8, title, kBlack, 2);
  draw_text(im, L + (n * cell - text_width("predicted")) / 2, 34, "predicted", kBlack);
  for (int r = 0; r < n; ++r) {
    int64_t total = 0;
    for (int c = 0; c < n; ++c) total += m[size_t(r) * n + c];
    const std::string rl = r < int(labels.size()) ? labels[r] : std::to_string(r);
    draw_text(im, L - 8 - text_width(rl), T + r * cell + cell / 2 - 5, rl, kBlack);
    for (int c = 0; c < n; ++c) {
      const int64_t v = m[size_t(r) * n + c];
      const double f = total > 0 ? double(v) / double(total) : 0;
      const Rgb col{uint8_t(255 - f * 225), uint8_t(255 - f * 165), uint8_t(255 - f * 55)};
      fill_rect(im, L + c * cell, T + r * cell, L + (c + 1) * cell, T + (r + 1) * cell, col);
      const std::string s = std::to_string(v);
      draw_text(im, L + c * cell + (cell - text_width(s)) / 2, T + r * cell + cell / 2 - 5, s,
                f > 0.5 ? kWhite : kBlack);
    }
  }
  for (int c = 0; c < n; ++c) {
    const std::string cl = c < int(labels.size()) ? labels[c] : std::to_string(c);
    draw_text(im, L + c * cell + (cell - text_width(cl)) / 2, T - 12, cl, kBlack);
  }
  draw_rect(im, L, T, L + n * cell + 1, T + n * cell + 1, kGray);
  draw_text_vertical(im, 4, T + (n * cell - text_width("true")) / 2, "true", kBlack);
  return im;
}

}  // namespace scv::viz
