// Helpers shared by the op folders: rank checks, axes, 2-D windows, Reshape targets.
#include <algorithm>
#include <chrono>

#include "io/onnx_node.h"
#include "ops/fast.h"
#include "ops/op.h"

namespace scv {

namespace {

int64_t attr_or(const std::vector<int64_t>& v, size_t i, int64_t def) {
  return i < v.size() ? v[i] : def;
}

}  // namespace

Status need_rank(const Node& n, const Shape& s, size_t rank, const char* what) {
  if (s.size() != rank)
    return error("node '", n.name, "' (", op_name(n.op), "): expected ", what, " of rank ", rank,
                 ", found shape ", shape_str(s));
  return Status();
}

Result<int64_t> norm_axis(const Node& n, int64_t axis, int64_t rank, bool allow_rank) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || (allow_rank ? a > rank : a >= std::max<int64_t>(rank, 1)))
    return error("node '", n.name, "': axis ", axis, " out of range");
  return a;
}

Status window_params(const Node& node, int64_t h, int64_t w, int64_t kh, int64_t kw,
                     ref::Pool2dParams* p) {
  const Attrs& a = node.attrs;
  p->kh = kh;
  p->kw = kw;
  p->sh = attr_or(a.strides, 0, 1);
  p->sw = attr_or(a.strides, 1, 1);
  p->dh = attr_or(a.dilations, 0, 1);
  p->dw = attr_or(a.dilations, 1, 1);
  if (p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->dh <= 0 || p->dw <= 0)
    return error("node '", node.name, "': kernel, strides and dilations must be positive");
  if (!a.pads.empty() && a.pads.size() != 4)
    return error("node '", node.name, "': expected 4 pads for a 2-D op, found ", a.pads.size());
  p->pad_t = attr_or(a.pads, 0, 0);
  p->pad_l = attr_or(a.pads, 1, 0);
  p->pad_b = attr_or(a.pads, 2, 0);
  p->pad_r = attr_or(a.pads, 3, 0);
  if (p->pad_t < 0 || p->pad_l < 0 || p->pad_b < 0 || p->pad_r < 0)
    return error("node '", node.name, "': negative pads are not supported");
  if (a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER") {
    // Output = ceil(in / stride); the total padding is split, the odd cell going to the end
    // (SAME_UPPER) or to the beginning (SAME_LOWER).
    auto split = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t* b, int64_t* e) {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + d * (k - 1) + 1 - in);
      *b = a.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      *e = total - *b;
    };
    split(h, p->kh, p->sh, p->dh, &p->pad_t, &p->pad_b);
    split(w, p->kw, p->sw, p->dw, &p->pad_l, &p->pad_r);
  } else if (a.auto_pad == "VALID") {
    p->pad_t = p->pad_l = p->pad_b = p->pad_r = 0;
  } else if (a.auto_pad != "NOTSET" && !a.auto_pad.empty()) {
    return error("node '", node.name, "': unknown auto_pad '", a.auto_pad, "'");
  }
  p->ceil_mode = a.ceil_mode;
  p->count_include_pad = a.count_include_pad;
  return Status();
}

ref::Conv2dParams conv_params(const ref::Pool2dParams& wp, int64_t groups) {
  return ref::Conv2dParams{wp.kh,    wp.kw,    wp.sh, wp.sw, wp.pad_t, wp.pad_l,
                           wp.pad_b, wp.pad_r, wp.dh, wp.dw, groups};
}

Result<Shape> reshape_target(const Node& node, const Shape& x) {
  Shape s = node.attrs.shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == 0 && !node.attrs.allowzero) {
      if (i >= x.size())
        return error("node '", node.name, "': shape entry 0 refers to a missing input dim");
      s[i] = x[i];
    }
    if (s[i] == -1) {
      if (infer >= 0) return error("node '", node.name, "': more than one -1 in shape");
      infer = static_cast<int>(i);
    } else if (s[i] < 0) {
      return error("node '", node.name, "': invalid shape entry ", s[i]);
    } else {
      // A hostile shape could overflow the product; no real tensor has 2^62 elements.
      if (s[i] > 0 && known > (int64_t{1} << 62) / s[i])
        return error("node '", node.name, "': shape ", shape_str(node.attrs.shape),
                     " is too large");
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || shape_numel(x) % known != 0)
      return error("node '", node.name, "': cannot reshape ", shape_str(x), " to ",
                   shape_str(node.attrs.shape));
    s[infer] = shape_numel(x) / known;
  }
  if (shape_numel(s) != shape_numel(x))
    return error("node '", node.name, "': cannot reshape ", shape_str(x), " to ",
                 shape_str(node.attrs.shape));
  return s;
}

}  // namespace scv

namespace scv {

const FastKernels* fast_kernels(const SessionOptions& opt) {
  return opt.simd && opt.isa != Isa::ref ? x86::kernels_for(opt.isa) : nullptr;
}

double fma_peak_gflops(Isa isa) {
  const FastKernels* k = x86::kernels_for(isa);
  if (!k) return 0.0;
  float sink = 0;
  double best = 0;
  for (int r = 0; r < 60; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const double flops = k->fma_peak_probe(400000, &sink);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, flops / (ms * 1e6));
  }
  return best + sink * 0.0;
}

int fast_block(const SessionOptions& opt) {
  const FastKernels* k = fast_kernels(opt);
  return k ? k->vl : 0;
}

// Window sizes, strides, dilations and pads beyond this are not images we can hold; rejecting
// them at load also keeps the executors' size arithmetic far from overflow.
constexpr int64_t kMaxWindow = int64_t{1} << 20;

Status onnx_window_attrs(OnnxNodeReader& c, Attrs* a, bool is_conv, bool is_avg) {
  SCV_TRY(c.get_ints("kernel_shape", &a->kernel_shape));
  SCV_TRY(c.get_ints("strides", &a->strides));
  SCV_TRY(c.get_ints("pads", &a->pads));
  SCV_TRY(c.get_ints("dilations", &a->dilations));
  SCV_TRY(c.get_string("auto_pad", &a->auto_pad));
  if (a->auto_pad.empty()) a->auto_pad = "NOTSET";
  if (a->auto_pad != "NOTSET" && a->auto_pad != "SAME_UPPER" && a->auto_pad != "SAME_LOWER" &&
      a->auto_pad != "VALID")
    return c.fail("unsupported auto_pad '", a->auto_pad, "'");
  if (is_conv) {
    SCV_TRY(c.get_int("group", &a->group));
    if (a->group < 1) return c.fail("group must be >= 1, found ", a->group);
  } else {
    SCV_TRY(c.get_bool("ceil_mode", &a->ceil_mode));
    if (is_avg) {
      SCV_TRY(c.get_bool("count_include_pad", &a->count_include_pad));
    } else {
      c.ignore("storage_order");  // only affects the Indices output, which we reject
    }
    if (a->kernel_shape.empty()) return c.fail("missing required attribute 'kernel_shape'");
  }
  auto check = [&](const std::vector<int64_t>& v, size_t n, const char* what) -> Status {
    if (!v.empty() && v.size() != n)
      return c.fail("only 2-D windows are supported: '", what, "' has ", v.size(),
                    " values, expected ", n);
    for (int64_t x : v)
      if (x < (std::string(what) == "pads" ? 0 : 1) || x > kMaxWindow)
        return c.fail("invalid '", what, "' value ", x);
    return Status();
  };
  SCV_TRY(check(a->kernel_shape, 2, "kernel_shape"));
  SCV_TRY(check(a->strides, 2, "strides"));
  SCV_TRY(check(a->dilations, 2, "dilations"));
  SCV_TRY(check(a->pads, 4, "pads"));
  return Status();
}

}  // namespace scv
