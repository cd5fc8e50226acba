// RFLO, random-feedback local online learning (Murray 2019, "Local online learning in recurrent networks with
// random feedback", eLife): per-synapse eligibility traces of leaky rate units times a fed-back output error.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "recurrent/credit/feedback.h"

namespace credo {

// For a leaky rate unit h_i = (1 - α) h_i,prev + α tanh(u_i), u = Σ_e W_e pre_e + b, the exact influence of
// W_ij on h_i obeys Γ_t = J_t Γ_{t-1} + M_t with J_t = (1 - α) I + (recurrence through the projections).
// RFLO drops the recurrence through projections and keeps only each unit's own leak, which leaves one trace per
// weight, local to its synapse:
//   e_ij ← (1 - α) e_ij + α tanh'(u_i) pre_j     (in Program terms: dz/dz_prev and dz/d drive of unit i),
// and it replaces the exact credit ∂L_t/∂h_i (W_outᵀ times the output error) by a learning signal: a fixed random
// matrix B (n x outputs, entries N(0, 1/outputs)) times the output error (feedback=random), or the current
// readout weights transposed (feedback=symmetric). The gradient of step t is Σ_ij signal_i(t) e_ij(t), the trace
// including this step's immediate term. With symmetric feedback on a population whose recurrence is only its
// leak, the traces are the exact influence and the signal the exact credit: RFLO is then RTRL.
//
// Readout parameters (weights into and biases of output populations) get their exact immediate gradient,
// output error times presynaptic activity. The output error is the cotangent of the output's drive (for the
// linear readout: the loss gradient dL/dy, already scaled by 1/B).
//
// Symmetric feedback reaches a population only through its own delay-0 projections to outputs (a population
// without one gets no signal); random feedback reaches every hidden population, each with its own B. Adaptive
// feedback starts from the random B and learns, for each output the population reads out to at delay 0, its
// block of B by one of Kunin et al.'s rules (recurrent/credit/feedback.h; Kolen-Pollack by default).
template <class T>
class Rflo final : public CreditAlgorithm<T> {
 public:
  Rflo(Program<T>& p, const Options& o)
      : CreditAlgorithm<T>(p),
        symmetric_(o.word("feedback") == "symmetric"),
        adaptive_(o.word("feedback") == "adaptive"),
        rule_(feedback_rule(o)),
        feedback_lr_(static_cast<T>(o.number("feedback_lr"))) {
    const auto& pops = p.populations();
    const auto& projs = p.projections();
    std::mt19937_64 rng(static_cast<std::uint64_t>(o.integer("seed")));
    const int outs = p.output_size();
    std::normal_distribution<double> normal(0.0, 1.0 / std::sqrt(static_cast<double>(std::max(outs, 1))));
    for (int q = 0; q < static_cast<int>(pops.size()); ++q) {
      const auto& info = pops[q];
      if (info.role == Role::output) {
        if (info.shape.blocks != 1 || info.shape.dz_ddrive.size() != 1 || info.shape.memory)
          fail("algorithm 'rflo': output '{}' is not a memoryless one-block readout", info.name);
        outputs_.push_back(q);
      }
      if (info.role != Role::hidden) continue;
      if (info.shape.slots != 1 || info.shape.blocks != 1)
        fail("algorithm 'rflo': population '{}' of kind '{}' is not a one-slot rate population", info.name,
             info.kind);
      Hidden h;
      h.pop = q;
      if (!symmetric_) {
        h.feedback.resize(info.shape.units, outs);
        for (auto& v : h.feedback.reshaped()) v = static_cast<T>(normal(rng));
      }
      for (int j = 0; j < static_cast<int>(projs.size()); ++j) {
        const auto& e = projs[j];
        if (e.source != q || pops[e.target].role != Role::output) continue;
        if (symmetric_ && e.delay != 0)
          fail("algorithm 'rflo': feedback=symmetric needs delay-0 readouts, but '{}' reads '{}' with delay {}",
               pops[e.target].name, info.name, e.delay);
        h.readouts.push_back(j);
      }
      if (adaptive_)
        for (int j : h.readouts) {
          const auto& out = pops[projs[j].target];
          if (projs[j].delay != 0) continue;
          Learned l;
          l.projection = j;
          l.pathway.matrix() = h.feedback.middleCols(out.io_offset, out.shape.units);
          h.learned.push_back(std::move(l));
        }
      hidden_.push_back(std::move(h));
    }
  }

  // cos(B, Wᵀ) of each learned block of B (adaptive feedback), or of the fixed random one against each delay-0
  // readout.
  std::vector<std::pair<std::string, double>> diagnostics() const override {
    std::vector<std::pair<std::string, double>> out;
    if (symmetric_) return out;
    const auto& prog = this->prog_;
    const auto& pops = prog.populations();
    for (const auto& h : hidden_)
      for (int j : h.readouts) {
        const auto& e = prog.projections()[j];
        if (e.delay != 0) continue;
        const auto& out_pop = pops[e.target];
        const auto b = h.feedback.middleCols(out_pop.io_offset, out_pop.shape.units);
        const auto w = prog.weight(e);
        const double nb = static_cast<double>(b.norm()), nw = static_cast<double>(w.norm());
        out.emplace_back(fmt::format("feedback_alignment[{} <- {}]", pops[h.pop].name, out_pop.name),
                         nb > 0 && nw > 0 ? static_cast<double>((b.array() * w.transpose().array()).sum()) / (nb * nw) : 0.0);
      }
    return out;
  }

  void reset(int batch) override {
    this->s_.setZero(this->prog_.state_size(), batch);
    trace_.setZero(this->prog_.param_count(), batch);
    err_.setZero(this->prog_.output_size(), batch);
    for (auto& h : hidden_) h.signal.setZero(this->prog_.populations()[h.pop].shape.units, batch);
  }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    const int B = static_cast<int>(x.cols());
    if (trace_.cols() != B) reset(B);
    Program<T>& prog = this->prog_;
    const auto& pops = prog.populations();
    const auto& projs = prog.projections();
    this->forward_and_loss(x, target, mask);
    const Frame<T>& f = this->frame_;
    const Mat<T>& s_prev = this->s_;

    // Output error (drive cotangent of each readout) and the readout's exact immediate gradient.
    for (int q : outputs_) {
      const auto& info = pops[q];
      const int n = info.shape.units;
      auto err = err_.middleRows(info.io_offset, n);
      err.array() = this->dy_.middleRows(info.io_offset, n).array() * f.jac.middleRows(info.jac_offset, n).array();
      if (info.bias_offsets[0] >= 0) grad.segment(info.bias_offsets[0], n) += err.rowwise().sum();
      for (int j : info.projections_in) {
        const auto& e = projs[j];
        MatMap<T> gw(grad.data() + e.weight_offset, e.rows, e.cols);
        gw.noalias() += err * prog.presynaptic(e, f, s_prev).transpose();
      }
    }

    for (auto& h : hidden_) {
      const auto& info = pops[h.pop];
      const int n = info.shape.units;
      // Learning signal: B err, or the readouts' W_eᵀ err.
      if (symmetric_) {
        h.signal.setZero();
        for (int j : h.readouts) {
          const auto& e = projs[j];
          const auto& out = pops[e.target];
          h.signal.noalias() += prog.weight(e).transpose() * err_.middleRows(out.io_offset, out.shape.units);
        }
      } else {
        if (adaptive_)
          for (auto& l : h.learned) {
            const auto& e = projs[l.projection];
            l.pathway.follow(rule_, prog.weight(e));
            h.feedback.middleCols(pops[e.target].io_offset, pops[e.target].shape.units) = l.pathway.matrix();
          }
        h.signal.noalias() = h.feedback * err_;
        if (adaptive_)
          for (auto& l : h.learned) {
            const auto& e = projs[l.projection];
            l.pathway.learn(rule_, feedback_lr_, prog.weight(e), prog.presynaptic(e, f, s_prev));
            h.feedback.middleCols(pops[e.target].io_offset, pops[e.target].shape.units) = l.pathway.matrix();
          }
      }
      const bool leaky = info.shape.memory && !info.shape.dz_dzprev.empty();
      for (int b = 0; b < B; ++b) {
        const auto drive = f.jac.col(b).segment(info.jac_offset, n);  // dz/d drive
        const auto leak = f.jac.col(b).segment(info.jac_offset + n, leaky ? n : 0);  // dz/dz_prev (own unit)
        const auto signal = h.signal.col(b);
        if (const int off = info.bias_offsets[0]; off >= 0) {
          auto e = trace_.col(b).segment(off, n);
          if (leaky) e.array() = leak.array() * e.array() + drive.array();
          else e = drive;
          grad.segment(off, n).array() += signal.array() * e.array();
        }
        for (int j : info.projections_in) {
          const auto& proj = projs[j];
          const auto pre = prog.presynaptic(proj, f, s_prev).col(b);
          MatMap<T> e(trace_.col(b).data() + proj.weight_offset, n, proj.cols);
          if (leaky) e.array().colwise() *= leak.array();
          else e.setZero();
          e.noalias() += drive * pre.transpose();
          MatMap<T> gw(grad.data() + proj.weight_offset, n, proj.cols);
          gw.noalias() += signal.asDiagonal() * e;
        }
      }
    }
    this->s_ = f.s;
    return true;
  }

  // The output error and learning signals are recomputed at every step; the traces persist.
  // Everything it carries besides s is traces (the summary skips s, generators and counters).
  void visit_traces(StateVisitor<T>& v) override { visit_state(v); }

  bool visit_state(StateVisitor<T>& v) override {
    v.matrix("s", this->s_);
    v.matrix("trace", trace_);
    return true;
  }

 private:
  // A block of B learned from one readout projection (adaptive feedback).
  struct Learned {
    int projection = 0;
    FeedbackPathway<T> pathway;
  };
  struct Hidden {
    int pop = 0;
    Mat<T> feedback;            // B: units x outputs (random and adaptive feedback)
    std::vector<Learned> learned;
    std::vector<int> readouts;  // its projections into outputs (symmetric feedback)
    Mat<T> signal;              // units x batch
  };

  const bool symmetric_, adaptive_;
  const FeedbackRule rule_;
  const T feedback_lr_;
  std::vector<Hidden> hidden_;
  std::vector<int> outputs_;
  Mat<T> trace_;  // eligibility traces, P x B (rows of hidden populations' parameters)
  Mat<T> err_;    // output error, outputs x B
};

static std::vector<OptionSpec> rflo_options() {
  std::vector<OptionSpec> o{
      {"feedback", "random",
       "random (fixed B ~ N(0, 1/outputs)) | symmetric (readout Wᵀ) | adaptive (B learns by `rule`)", -1e300, 1e300,
       false, {"random", "symmetric", "adaptive"}},
      {"seed", "1", "seed of the random feedback matrices", 0, 2147483647, true, {}}};
  for (auto& spec : feedback_rule_options()) o.push_back(spec);
  return o;
}

CREDO_REGISTER_ALGORITHM("rflo", Rflo,
                         "random-feedback local online learning: per-synapse eligibility traces of leaky rate units "
                         "times B (output error); readout exact (Murray 2019)",
                         rflo_options(), std::vector<std::string>{"tanh"}, false, true);

}  // namespace credo
