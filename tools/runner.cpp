#include "runner.h"

#include "scratchcv/cpu.h"
#include "scratchcv/file_util.h"
#include "scratchcv/int8.h"
#include "scratchcv/model.h"
#include "scratchcv/session.h"
#include "scratchcv/thread_pool.h"

namespace scv::cli {

// The prepared Session is built once, by prepare() or the first run(), for one input shape
// (classify feeds every photo as [1, 3, crop, crop]). It takes over the Graph.
struct Runner::Impl {
  Graph graph;
  RunnerOptions opt;
  std::unique_ptr<Session> session;
  std::string qdq;  // int8: the QDQ model's bytes; the Int8Session is made per input shape
  std::unique_ptr<Int8Session> int8;
};

Status check_precision(const std::string& p) {
  if (p == "fp32" || p == "int8" || p == "bf16") return Status();
  return error("--precision must be fp32, int8 or bf16, got '", p, "'");
}

int check_runner_options(const ArgParser& ap, const std::string& precision) {
  if (Status st = check_precision(precision); !st.ok()) return ap.usage_error(st.message());
  return 0;
}

Status Runner::load(const std::string& path, const std::string& arch, const RunnerOptions& opt,
                    std::string* warning) {
  SCV_TRY(check_precision(opt.precision));
  if (opt.precision == "bf16") {
    if (!cpu_features().avx512bf16)
      return error(
          "--precision bf16 needs AVX-512 BF16 (vdpbf16ps), which this CPU lacks; use "
          "fp32 or int8");
    return error("--precision bf16 is not implemented yet; use fp32 or int8");
  }
  const bool onnx = path.size() >= 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
  if (onnx) {
    SCV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file(path));
    if (is_qdq_onnx(bytes.data(), bytes.size())) {
      if (opt.precision == "fp32" && warning)
        *warning = path + " is an int8 QDQ model: running it in int8";
      impl_->qdq.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      RunnerOptions o = opt;
      o.precision = "int8";
      return init(Graph(), o);
    }
  }
  SCV_ASSIGN_OR_RETURN(Graph g, load_model(path, arch));
  if (opt.precision == "int8") {
    if (warning)
      *warning =
          "int8 on a float model: quantized now with the built-in calibration (the "
          "bundled sample photo); `scratchcv quantize MODEL --calib DIR` is better";
    SCV_ASSIGN_OR_RETURN(std::vector<Tensor> calib, builtin_calibration());
    SCV_ASSIGN_OR_RETURN(impl_->qdq, quantize_to_qdq(g, calib, QuantizeOptions()));
    return init(Graph(), opt);
  }
  return init(std::move(g), opt);
}

bool Runner::int8() const {
  return !impl_->qdq.empty();
}

Runner::Runner() : impl_(std::make_unique<Impl>()) {}
Runner::~Runner() = default;

Status Runner::init(Graph graph, const RunnerOptions& opt) {
  impl_->graph = std::move(graph);
  impl_->opt = opt;
  if (!opt.isa.empty()) {
    Isa isa;
    if (!parse_isa(opt.isa, &isa))
      return error("--isa must be ref, avx2 or avx512, got '", opt.isa, "'");
    if (!isa_supported(isa)) return error("--isa ", opt.isa, ": this CPU does not support it");
    set_active_isa(isa);
  }
  if (impl_->opt.threads <= 0) impl_->opt.threads = default_num_threads();
  return Status();
}

Status Runner::prepare(const Shape& input_shape) {
  if (int8()) {
    if (impl_->int8) {
      if (impl_->int8->input_shape() == input_shape) return Status();
      return error("the model was prepared for input ", shape_str(impl_->int8->input_shape()),
                   ", not ", shape_str(input_shape));
    }
    if (input_shape.size() != 4) return error("int8 models take NCHW inputs");
    Int8Options io;
    io.threads = impl_->opt.threads;
    io.isa = impl_->opt.reference ? "ref" : impl_->opt.isa;
    io.batch = int(input_shape[0]);
    SCV_ASSIGN_OR_RETURN(impl_->int8,
                         Int8Session::create(reinterpret_cast<const uint8_t*>(impl_->qdq.data()),
                                             impl_->qdq.size(), io));
    if (impl_->int8->input_shape() != input_shape)
      return error("the int8 model takes input ", shape_str(impl_->int8->input_shape()), ", not ",
                   shape_str(input_shape));
    return Status();
  }
  if (impl_->opt.reference) return Status();
  if (impl_->session) {
    if (impl_->session->input_shape() == input_shape) return Status();
    return error("the model was prepared for input ", shape_str(impl_->session->input_shape()),
                 ", not ", shape_str(input_shape));
  }
  SessionOptions so;
  so.isa = active_isa();
  so.threads = impl_->opt.threads;
  // The graph is handed over: the session frees each weight as soon as it is packed, so the
  // process never holds the checkpoint's weights and the packed weights at once.
  SCV_ASSIGN_OR_RETURN(impl_->session, Session::create(std::move(impl_->graph), input_shape, so));
  return Status();
}

Result<Tensor> Runner::run(const Tensor& x) {
  if (int8()) {
    SCV_TRY(prepare(x.shape()));
    Tensor y(impl_->int8->output_shape());
    impl_->int8->run(x.data(), y.data());
    return y;
  }
  if (impl_->opt.reference) {
    SCV_ASSIGN_OR_RETURN(std::vector<Tensor> out, run_reference(impl_->graph, {x}));
    if (out.empty()) return error("model has no output");
    return out[0];
  }
  SCV_TRY(prepare(x.shape()));
  Tensor y(impl_->session->output_shape());
  SCV_TRY(impl_->session->run(x.data(), y.data()));
  return y;
}

std::string Runner::describe() const {
  if (int8())
    return impl_->int8 ? "int8: " + impl_->int8->describe()
                       : std::string("int8, ") +
                             (impl_->opt.reference ? "reference kernels" : "fast kernels");
  if (impl_->opt.reference) return "reference executor";
  return std::string("prepared session, ") + isa_name(active_isa()) + ", " +
         std::to_string(impl_->opt.threads) + " threads";
}

}  // namespace scv::cli
