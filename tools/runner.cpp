#include "runner.h"

#include "scratchcv/cpu.h"
#include "scratchcv/session.h"
#include "scratchcv/thread_pool.h"

namespace scv::cli {

int resolve_threads_option(const ArgParser& p, const std::string& text, int* threads) {
  std::string warning;
  Result<int> n = choose_threads(text, &warning);
  if (!n.ok()) {
    p.fail(n.status().message());
    return 2;
  }
  if (!warning.empty()) p.fail("warning: " + warning);
  *threads = *n;
  return 0;
}

// The prepared Session is built once, by prepare() or the first run(), for one input shape
// (classify feeds every photo as [1, 3, crop, crop]). It takes over the Graph.
struct Runner::Impl {
  Graph graph;
  RunnerOptions opt;
  std::unique_ptr<Session> session;
};

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
  if (impl_->opt.reference) return "reference executor";
  return std::string("prepared session, ") + isa_name(active_isa()) + ", " +
         std::to_string(impl_->opt.threads) + " threads";
}

}  // namespace scv::cli
