// Model configs, the Network container, optimisers, checkpoints, and the training loop.
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

#include "scratchcv/checked.h"
#include "scratchcv/file_util.h"
#include "scratchcv/train.h"

namespace scv::train {

// ---- configs
// -------------------------------------------------------------------------------------
std::string builtin_model_text(const std::string& name) {
  if (name == "lenet")
    return "# LeNet-style default: (conv-relu-pool) x2, fc-relu, fc\n"
           "input 1 28 28\n"
           "conv 16 5 pad=2 act=relu\n"
           "maxpool 2\n"
           "conv 32 5 pad=2 act=relu\n"
           "maxpool 2\n"
           "flatten\n"
           "fc 128 act=relu\n"
           "fc 10\n";
  if (name == "mlp")
    return "# Multi-layer perceptron\n"
           "input 1 28 28\n"
           "flatten\n"
           "fc 256 act=relu\n"
           "fc 128 act=relu\n"
           "fc 10\n";
  return "";
}

namespace {

bool parse_int(const std::string& s, int lo, int hi, int* out) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end || v < lo || v > hi) return false;
  *out = int(v);
  return true;
}

}  // namespace

Result<ModelConfig> parse_model_config(const std::string& text) {
  ModelConfig cfg;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  bool have_input = false;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto h = line.find('#'); h != std::string::npos) line.resize(h);
    std::istringstream ls(line);
    std::vector<std::string> tok;
    for (std::string t; ls >> t;) tok.push_back(t);
    if (tok.empty()) continue;
    auto bad = [&](const std::string& why) {
      return Status::error(str("model config line ", lineno, ": ", why, " (in '", line, "')"));
    };
    std::vector<std::string> pos;
    LayerSpec L;
    L.type = tok[0];
    for (size_t i = 1; i < tok.size(); ++i) {
      auto eq = tok[i].find('=');
      if (eq == std::string::npos) {
        pos.push_back(tok[i]);
        continue;
      }
      const std::string key = tok[i].substr(0, eq), val = tok[i].substr(eq + 1);
      if (key == "act") {
        if (!parse_act(val, &L.act))
          return bad("unknown activation '" + val + "'; use none, relu, sigmoid, tanh or leaky");
      } else if (key == "pad") {
        if (!parse_int(val, 0, 64, &L.pad)) return bad("pad= expects 0..64");
      } else if (key == "stride") {
        if (!parse_int(val, 1, 64, &L.stride)) return bad("stride= expects 1..64");
      } else {
        return bad("unknown option '" + key + "'");
      }
    }
    auto need = [&](size_t n) { return pos.size() == n; };
    if (L.type == "input") {
      if (!need(3) || !parse_int(pos[0], 1, 64, &cfg.in_c) ||
          !parse_int(pos[1], 1, 4096, &cfg.in_h) || !parse_int(pos[2], 1, 4096, &cfg.in_w))
        return bad("expected 'input C H W'");
      have_input = true;
      continue;
    }
    if (L.type == "conv") {
      if (!need(2) || !parse_int(pos[0], 1, 4096, &L.out) || !parse_int(pos[1], 1, 15, &L.k))
        return bad("expected 'conv OUT_CHANNELS KERNEL [pad=P] [stride=S] [act=A]'");
    } else if (L.type == "maxpool") {
      if (!need(1) || !parse_int(pos[0], 1, 16, &L.k)) return bad("expected 'maxpool K'");
      bool explicit_stride = line.find("stride=") != std::string::npos;
      if (!explicit_stride) L.stride = L.k;
    } else if (L.type == "fc") {
      if (!need(1) || !parse_int(pos[0], 1, 1 << 16, &L.out))
        return bad("expected 'fc OUT_FEATURES [act=A]'");
    } else if (L.type == "dropout") {
      char* end = nullptr;
      if (!need(1)) return bad("expected 'dropout P'");
      L.p = std::strtof(pos[0].c_str(), &end);
      if (*end || !(L.p >= 0.f && L.p < 1.f)) return bad("dropout probability must be in [0, 1)");
    } else if (L.type == "flatten") {
      if (!need(0)) return bad("flatten takes no arguments");
    } else {
      return bad("unknown layer '" + L.type +
                 "'; expected input, conv, maxpool, fc, dropout, flatten");
    }
    cfg.layers.push_back(L);
  }
  if (!have_input) return error("model config has no 'input C H W' line");
  if (cfg.layers.empty() || cfg.layers.back().type != "fc")
    return error("model config must end with an 'fc N' layer (the class logits)");
  return cfg;
}

std::string model_config_text(const ModelConfig& c) {
  std::ostringstream os;
  os << "input " << c.in_c << " " << c.in_h << " " << c.in_w << "\n";
  for (const LayerSpec& L : c.layers) {
    os << L.type;
    if (L.type == "conv")
      os << " " << L.out << " " << L.k << " pad=" << L.pad << " stride=" << L.stride;
    else if (L.type == "maxpool")
      os << " " << L.k << " stride=" << L.stride;
    else if (L.type == "fc")
      os << " " << L.out;
    else if (L.type == "dropout")
      os << " " << L.p;
    if (L.act != Act::none) os << " act=" << act_name(L.act);
    os << "\n";
  }
  return os.str();
}

Result<ModelConfig> load_model_config(const std::string& name) {
  std::string text = builtin_model_text(name);
  if (text.empty()) {
    if (!file_exists(name))
      return error("unknown model '", name, "': use lenet, mlp, or the path of a config file");
    SCV_ASSIGN_OR_RETURN(auto bytes, read_file(name));
    text.assign(bytes.begin(), bytes.end());
    auto r = parse_model_config(text);
    if (!r.ok()) return r.status().with_context(name);
    return r;
  }
  return parse_model_config(text);
}

// ---- network
// -------------------------------------------------------------------------------------
Result<Network> Network::build(const ModelConfig& cfg, uint64_t seed, int64_t max_params) {
  Network net;
  net.cfg_ = cfg;
  Rng rng(seed);
  Shape s{cfg.in_c, cfg.in_h, cfg.in_w};
  int nconv = 0, nfc = 0, idx = 0;
  int64_t params = 0;
  const int64_t kMaxParams = std::min(max_params, int64_t(1) << 27);  // <= 512 MiB of float32
  auto too_big = [&](int64_t more) {
    return more < 0 || more > kMaxParams || (params += more) > kMaxParams;
  };
  for (const LayerSpec& L : cfg.layers) {
    ++idx;
    std::unique_ptr<Layer> layer;
    if (L.type == "conv" || L.type == "maxpool") {
      if (s.size() != 3)
        return error("model config: ", L.type, " (layer ", idx,
                     ") needs a [C, H, W] input but "
                     "gets ",
                     shape_str(s), " (after flatten/fc)");
      if (L.type == "conv") {
        if (s[1] + 2 * L.pad < L.k || s[2] + 2 * L.pad < L.k)
          return error("model config: conv kernel ", L.k, " is larger than its padded input ",
                       shape_str(s));
        if (too_big(s[0] * L.out * L.k * L.k))
          return error("model config: more than ", kMaxParams, " parameters at layer ", idx);
        layer = make_conv2d(int(s[0]), L.out, L.k, L.stride, L.pad, rng, str("conv", ++nconv));
      } else {
        if (s[1] < L.k || s[2] < L.k)
          return error("model config: maxpool ", L.k, " is larger than its input ", shape_str(s));
        layer = make_maxpool(L.k, L.stride);
      }
    } else if (L.type == "fc") {
      if (s.size() != 1) {  // implicit flatten
        net.layers_.push_back(make_flatten());
        s = net.layers_.back()->out_shape(s);
      }
      if (s[0] > (int64_t(1) << 30) || too_big(s[0] * L.out))
        return error("model config: more than ", kMaxParams, " parameters at layer ", idx);
      layer = make_linear(int(s[0]), L.out, rng, str("fc", ++nfc));
    } else if (L.type == "dropout") {
      layer = make_dropout(L.p, seed * 7919 + idx);
    } else if (L.type == "flatten") {
      layer = make_flatten();
    }
    s = layer->out_shape(s);
    if (shape_numel(s) <= 0) return error("model config: layer ", idx, " has an empty output");
    net.layers_.push_back(std::move(layer));
    if (L.act != Act::none) net.layers_.push_back(make_activation(L.act));
  }
  net.acts_.resize(net.layers_.size() + 1);
  net.grads_.resize(net.layers_.size() + 1);
  return net;
}

const Tensor& Network::forward(const Tensor& x, bool training, const TrainContext& ctx) {
  acts_[0] = x;
  for (size_t i = 0; i < layers_.size(); ++i)
    layers_[i]->forward(acts_[i], &acts_[i + 1], training, ctx);
  return acts_.back();
}

void Network::backward(const Tensor& dlogits, const TrainContext& ctx) {
  grads_.back() = dlogits;
  for (size_t i = layers_.size(); i-- > 0;)
    layers_[i]->backward(acts_[i], acts_[i + 1], grads_[i + 1], i == 0 ? nullptr : &grads_[i], ctx);
}

std::vector<Param*> Network::params() {
  std::vector<Param*> out;
  for (auto& l : layers_)
    for (Param* p : l->params()) out.push_back(p);
  return out;
}

int Network::num_classes() const {
  return cfg_.layers.back().out;
}

int64_t Network::num_parameters() {
  int64_t n = 0;
  for (Param* p : params()) n += p->value.numel();
  return n;
}

std::string Network::summary() const {
  std::string s;
  for (size_t i = 0; i < layers_.size(); ++i) s += (i ? ", " : "") + layers_[i]->describe();
  return s;
}

// ---- optimisers
// ----------------------------------------------------------------------------------
float scheduled_lr(const OptimConfig& c, int epoch, int total) {
  switch (c.schedule) {
    case Schedule::constant:
      return c.lr;
    case Schedule::step:
      return c.lr * std::pow(c.gamma, float(epoch / std::max(1, c.step_epochs)));
    case Schedule::cosine:
      return total <= 1 ? c.lr
                        : 0.5f * c.lr * (1.f + std::cos(3.14159265f * float(epoch) / float(total)));
  }
  return c.lr;
}

Optimizer::Optimizer(OptimConfig cfg, std::vector<Param*> params)
    : cfg_(cfg), params_(std::move(params)) {
  const int per = cfg_.kind == OptKind::adam ? 2 : 1;
  for (Param* p : params_)
    for (int i = 0; i < per; ++i) state_.emplace_back(p->value.shape());
}

void Optimizer::step(float lr, const TrainContext& ctx) {
  ThreadPool& pool = ctx.pool();
  ++t_;
  const float wd = cfg_.weight_decay;
  for (size_t k = 0; k < params_.size(); ++k) {
    float* p = params_[k]->value.data();
    const float* g = params_[k]->grad.data();
    const int64_t n = params_[k]->value.numel();
    if (cfg_.kind == OptKind::sgd) {
      float* v = state_[k].data();
      const float mu = cfg_.momentum;
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const float gi = g[i] + wd * p[i];
          v[i] = mu * v[i] + gi;
          p[i] -= lr * v[i];
        }
      });
    } else {
      float* m = state_[2 * k].data();
      float* v = state_[2 * k + 1].data();
      const float b1 = cfg_.beta1, b2 = cfg_.beta2, eps = cfg_.eps;
      const float bc1 = 1.f - std::pow(b1, float(t_)), bc2 = 1.f - std::pow(b2, float(t_));
      const float step = lr / bc1, sbc2 = std::sqrt(bc2);
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const float gi = g[i] + wd * p[i];
          m[i] = b1 * m[i] + (1.f - b1) * gi;
          v[i] = b2 * v[i] + (1.f - b2) * gi * gi;
          p[i] -= step * m[i] / (std::sqrt(v[i]) / sbc2 + eps);
        }
      });
    }
  }
}

// ---- checkpoints
// ---------------------------------------------------------------------------------
namespace {

constexpr char kMagic[8] = {'S', 'C', 'V', 'C', 'K', 'P', 'T', '1'};
constexpr uint32_t kVersion = 1;

struct Writer {
  std::vector<uint8_t> b;
  void raw(const void* p, size_t n) {
    b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  }
  template <typename T>
  void put(T v) {
    raw(&v, sizeof v);
  }
  void string(const std::string& s) {
    put<uint32_t>(uint32_t(s.size()));
    raw(s.data(), s.size());
  }
  void tensor(const std::string& name, const Tensor& t) {
    string(name);
    put<uint32_t>(uint32_t(t.rank()));
    for (int64_t d : t.shape()) put<int64_t>(d);
    raw(t.data(), sizeof(float) * t.numel());
  }
};

struct Reader {
  const uint8_t* p;
  size_t n, off = 0;
  Status need(size_t k, const char* what) {
    if (n - off < k)
      return error("checkpoint is truncated: needed ", k, " bytes for ", what, " at offset ", off,
                   ", file has ", n, " bytes");
    return {};
  }
  template <typename T>
  Status get(T* v, const char* what) {
    SCV_TRY(need(sizeof(T), what));
    std::memcpy(v, p + off, sizeof(T));
    off += sizeof(T);
    return {};
  }
  Status string(std::string* s, const char* what) {
    uint32_t len;
    SCV_TRY(get(&len, what));
    SCV_TRY(need(len, what));
    s->assign(reinterpret_cast<const char*>(p + off), len);
    off += len;
    return {};
  }
  Status tensor(std::string* name, Tensor* t) {
    SCV_TRY(string(name, "a tensor name"));
    uint32_t rank;
    SCV_TRY(get(&rank, "a tensor rank"));
    if (rank > 8) return error("checkpoint tensor '", *name, "' has rank ", rank, " (corrupt?)");
    Shape s(rank);
    int64_t numel = 1;
    for (auto& d : s) {
      SCV_TRY(get(&d, "tensor dims"));
      if (d < 0 || d > (int64_t(1) << 32)) return error("checkpoint tensor dim ", d, " (corrupt?)");
      if (!checked_mul(numel, d, &numel, int64_t(1) << 32))
        return error("checkpoint tensor too large (corrupt?)");
    }
    SCV_TRY(need(size_t(numel) * 4, "tensor data"));
    *t = Tensor::from_data(s, reinterpret_cast<const float*>(p + off));
    off += size_t(numel) * 4;
    return {};
  }
};

}  // namespace

Status save_checkpoint(const std::string& path, Network& net, Optimizer* opt,
                       const TrainState& st) {
  Writer w;
  w.raw(kMagic, 8);
  w.put<uint32_t>(kVersion);
  w.string(model_config_text(net.config()));
  w.put<int32_t>(st.epochs_done);
  w.put<uint64_t>(st.seed);
  w.put<float>(st.best_test_acc);
  auto params = net.params();
  w.put<uint32_t>(uint32_t(params.size()));
  for (Param* p : params) w.tensor(p->name, p->value);
  w.put<int32_t>(opt ? int32_t(opt->config().kind) : -1);
  w.put<int64_t>(opt ? opt->steps() : 0);
  w.put<uint32_t>(opt ? uint32_t(opt->state().size()) : 0);
  if (opt)
    for (size_t i = 0; i < opt->state().size(); ++i) w.tensor(str("opt.", i), opt->state()[i]);
  const uint32_t crc = uint32_t(crc32(0, w.b.data(), uInt(w.b.size())));
  w.put<uint32_t>(crc);
  return write_file_atomic(path, w.b.data(), w.b.size());
}

Result<LoadedCheckpoint> load_checkpoint(const std::string& path) {
  SCV_ASSIGN_OR_RETURN(auto bytes, read_file(path));
  auto fail = [&](const Status& s) { return s.with_context(path); };
  if (bytes.size() < 12 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    return fail(error("not a scratchcv checkpoint (bad magic; expected 'SCVCKPT1')"));
  Reader r{bytes.data(), bytes.size(), 8};
  uint32_t version;
  SCV_TRY(fail(r.get(&version, "the version")));
  if (version != kVersion)
    return fail(
        error("checkpoint version ", version, " is not supported (expected ", kVersion, ")"));
  LoadedCheckpoint ck;
  Status st = [&]() -> Status {
    SCV_TRY(r.string(&ck.config_text, "the model config"));
    SCV_TRY(r.get(&ck.state.epochs_done, "the epoch"));
    SCV_TRY(r.get(&ck.state.seed, "the seed"));
    SCV_TRY(r.get(&ck.state.best_test_acc, "the accuracy"));
    auto cfg = parse_model_config(ck.config_text);
    if (!cfg.ok()) return cfg.status().with_context("stored config");
    ck.config = cfg.value();
    // Every parameter is stored as 4 bytes in the file: a config that builds more than the file
    // can hold is refused before its tensors are allocated.
    auto net = Network::build(ck.config, 0, int64_t(bytes.size() / 4));
    if (!net.ok()) return net.status().with_context("stored config");
    ck.net = std::make_unique<Network>(std::move(net).value());
    auto params = ck.net->params();
    uint32_t count;
    SCV_TRY(r.get(&count, "the tensor count"));
    if (count != params.size())
      return error("checkpoint has ", count, " parameter tensors but its config builds ",
                   params.size());
    for (Param* p : params) {
      std::string name;
      Tensor t;
      SCV_TRY(r.tensor(&name, &t));
      if (name != p->name || t.shape() != p->value.shape())
        return error("checkpoint tensor '", name, "' ", shape_str(t.shape()),
                     " does not match the config's '", p->name, "' ", shape_str(p->value.shape()));
      std::memcpy(p->value.data(), t.data(), 4 * t.numel());
    }
    int32_t kind;
    SCV_TRY(r.get(&kind, "the optimiser kind"));
    SCV_TRY(r.get(&ck.opt_steps, "the optimiser step"));
    ck.opt_kind = kind == int32_t(OptKind::sgd) ? OptKind::sgd : OptKind::adam;
    uint32_t nstate;
    SCV_TRY(r.get(&nstate, "the optimiser state count"));
    if (nstate > 4 * params.size()) return error("optimiser state count ", nstate, " (corrupt?)");
    for (uint32_t i = 0; i < nstate; ++i) {
      std::string name;
      Tensor t;
      SCV_TRY(r.tensor(&name, &t));
      ck.opt_state.push_back(t);
    }
    uint32_t crc;
    const size_t body = r.off;
    SCV_TRY(r.get(&crc, "the checksum"));
    if (r.off != bytes.size())
      return error("checkpoint has ", bytes.size() - r.off, " unexpected trailing bytes");
    if (crc != uint32_t(crc32(0, bytes.data(), uInt(body))))
      return error("checkpoint checksum mismatch: the file is corrupt");
    return {};
  }();
  if (!st.ok()) return fail(st);
  return ck;
}

Status restore_optimizer(const LoadedCheckpoint& ck, Optimizer* opt) {
  if (ck.opt_state.empty()) return {};  // saved without optimiser state: start fresh
  if (ck.opt_kind != opt->config().kind)
    return error("checkpoint optimiser is ", ck.opt_kind == OptKind::sgd ? "sgd" : "adam",
                 " but --optim asks for ", opt->config().kind == OptKind::sgd ? "sgd" : "adam");
  if (ck.opt_state.size() != opt->state().size())
    return error("checkpoint optimiser state has ", ck.opt_state.size(), " tensors, expected ",
                 opt->state().size());
  for (size_t i = 0; i < ck.opt_state.size(); ++i) {
    if (ck.opt_state[i].shape() != opt->state()[i].shape())
      return error("checkpoint optimiser state ", i, " has shape ",
                   shape_str(ck.opt_state[i].shape()), ", expected ",
                   shape_str(opt->state()[i].shape()));
    std::memcpy(opt->state()[i].data(), ck.opt_state[i].data(), 4 * ck.opt_state[i].numel());
  }
  opt->set_steps(ck.opt_steps);
  return {};
}

// ---- training loop
// -------------------------------------------------------------------------------
EpochResult train_epoch(Network& net, Optimizer& opt, const Dataset& data, int batch, float lr,
                        int epoch, uint64_t seed, const TrainContext& ctx,
                        const std::function<void(const BatchProgress&)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> order(data.count);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed * 1000003ull + uint64_t(epoch));
  for (int64_t i = data.count - 1; i > 0; --i)
    std::swap(order[i], order[int64_t(rng.next() % uint64_t(i + 1))]);
  Tensor x, dlogits;
  std::vector<int> y;
  BatchProgress bp;
  bp.epoch = epoch;
  bp.num_batches = int((data.count + batch - 1) / batch);
  double loss_sum = 0;
  int64_t hits = 0;
  for (int64_t b0 = 0; b0 < data.count; b0 += batch) {
    const int n = int(std::min<int64_t>(batch, data.count - b0));
    make_batch(data, order.data() + b0, n, &x, &y);
    const Tensor& logits = net.forward(x, true, ctx);
    int correct = 0;
    const double loss = softmax_cross_entropy(logits, y, &dlogits, &correct);
    net.backward(dlogits, ctx);
    opt.step(lr, ctx);
    loss_sum += loss * n;
    hits += correct;
    bp.batch++;
    bp.images_done += n;
    bp.loss = loss_sum / double(bp.images_done);
    bp.running_acc = double(hits) / double(bp.images_done);
    if (progress) progress(bp);
  }
  EpochResult r;
  r.loss = bp.images_done ? loss_sum / double(bp.images_done) : 0;
  r.acc = bp.images_done ? double(hits) / double(bp.images_done) : 0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

EvalResult evaluate(Network& net, const Dataset& data, int batch, const TrainContext& ctx) {
  EvalResult r;
  const int C = net.num_classes();
  r.confusion.assign(size_t(C) * C, 0);
  Tensor x;
  std::vector<int> y;
  std::vector<int64_t> idx(batch);
  double loss_sum = 0;
  int64_t hits = 0;
  for (int64_t b0 = 0; b0 < data.count; b0 += batch) {
    const int n = int(std::min<int64_t>(batch, data.count - b0));
    std::iota(idx.begin(), idx.begin() + n, b0);
    make_batch(data, idx.data(), n, &x, &y);
    const Tensor& logits = net.forward(x, false, ctx);
    loss_sum += softmax_cross_entropy(logits, y, nullptr, nullptr) * n;
    for (int i = 0; i < n; ++i) {
      const float* z = logits.data() + int64_t(i) * C;
      const int pred = int(std::max_element(z, z + C) - z);
      if (y[i] < C) r.confusion[size_t(y[i]) * C + pred]++;
      hits += pred == y[i];
    }
  }
  if (data.count) {
    r.accuracy = double(hits) / double(data.count);
    r.loss = loss_sum / double(data.count);
  }
  return r;
}

}  // namespace scv::train
