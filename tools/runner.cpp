#include "runner.h"

#include "scratchcv/cpu.h"
#include "scratchcv/thread_pool.h"

namespace scv::cli {

struct Runner::Impl {
  Graph graph;
  RunnerOptions opt;
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
  if (opt.threads < 0) return error("--threads must be >= 1");
  ThreadPool::set_global_threads(opt.threads > 0 ? opt.threads : default_num_threads());
  return Status();
}

Result<Tensor> Runner::run(const Tensor& x) {
  SCV_ASSIGN_OR_RETURN(std::vector<Tensor> out, run_reference(impl_->graph, {x}));
  if (out.empty()) return error("model has no output");
  return out[0];
}

std::string Runner::describe() const {
  return "reference executor";
}

}  // namespace scv::cli
