// e-prop, eligibility propagation (Bellec et al. 2020, "A solution to the learning dilemma for recurrent networks
// of spiking neurons", Nat. Commun. 11:3625): per-synapse eligibility traces, propagated online with each neuron's
// own dynamics, times a learning signal broadcast from the output error.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "recurrent/credit/feedback.h"

namespace credo {

// Every population kind in credo is unit-local: unit j keeps a few state slots h_j (a LIF neuron: v and z; an
// LSTM cell: c and h) updated from its own previous slots and its drive. e-prop follows, for each parameter θ_ji
// feeding unit j, the eligibility vector ε_ji = dh_j/dθ_ji taken along unit j's own state path only:
//   ε^t = D_j^t ε^{t-1} + (dh_j/d drive) pre_i^t,
// where D_j^t = dh_j^t/dh_j^{t-1} are the population's local derivatives (Frame::jac, as the Program keeps them)
// and pre_i^t is what the synapse carries (an input, a spike z_i^{t-1}, a constant 1 for a bias). The
// eligibility trace is the output slot's component, e^t = dz_j^t/dθ_ji: for LIF ψ^t (α ε_v + pre), for ALIF
// ψ^t (ε_v − β ε_a) with ε_a the adaptation path, for an LSTM dh/dc ε_c + dh/d gate pre (the cell-state path of
// Bellec et al.'s e-prop for LSTMs), for leaky tanh units RFLO's trace. D leaves out the spike reset (the kind
// declares it as PopulationShape::reset_gain; Bellec et al. drop it, and their code stops the gradient of z
// there), so the only paths kept are the unit's own state and, for ALIF, its spikes raising its threshold.
//
// The weight update of step t is learning signal times trace, L_j^t ē_ji^t, summed over time:
//   symmetric  L_j = Σ_k W_kj err_k       (the live readout weights, delay-0 readouts only)
//   random     L_j = Σ_k B_jk err_k       (B fixed, N(0, 1/fan-in of the readout): the readout's own init scale)
//   adaptive   B drawn as for random, then learned by one of Kunin et al.'s rules (recurrent/credit/feedback.h) from
//              the readout's input z_j and weights W; the default, Kolen-Pollack (B takes every update W takes,
//              transposed), is Bellec et al.'s adaptive e-prop. B of a population without a delay-0 readout
//              projection has no W to learn from and stays fixed.
// with err_k the cotangent of readout k's drive (dL/dy for the linear readout). A leaky readout
// y_t = κ y_{t-1} + W z_t + b low-pass filters the trace the same way, ē^t = κ ē^{t-1} + e^t (for a memoryless
// readout ē = e). Readout parameters get the exact gradient of their own (leaky) dynamics: dL/dy times their
// trace. With symmetric feedback this is exactly BPTT with the gradient stopped wherever a population's output
// enters a projection to a hidden population and at the spike reset (checked in tests/eprop_test.cpp).
//
// Firing-rate regularisation (reg > 0): E_reg = reg Σ_j (f̄_j − f_0)² over the spiking (surrogate) populations,
// f̄_j the spikes per step of unit j averaged over the batch and the episode, f_0 = f_target dt / 1000. Its e-prop
// gradient 2 reg (f̄_j − f_0) mean_{t,b} e_ji arrives at the end of the episode (or stream chunk), multiplied by
// the episode's scored steps per sequence, so that after the trainer's per-episode averaging it weighs reg
// beside the mean loss per scored step, as in Bellec et al.'s objective.
//
// Memory O(P K B) for K active slots per unit (1 for tanh, 2 for LIF and LSTM, 3 for ALIF); time O(P K²) per
// step and sequence, independent of the episode's length.
template <class T>
class Eprop final : public CreditAlgorithm<T> {
 public:
  Eprop(Program<T>& p, const Options& o)
      : CreditAlgorithm<T>(p),
        feedback_(o.word("feedback")),
        rule_(feedback_rule(o)),
        feedback_lr_(static_cast<T>(o.number("feedback_lr"))),
        reg_(o.number("reg")),
        f_target_(o.number("f_target")) {
    const auto& pops = p.populations();
    const auto& projs = p.projections();
    for (const auto& e : projs)
      if (pops[e.target].role == Role::output && pops[e.source].role == Role::output)
        fail("algorithm 'eprop': output '{}' reads output '{}'; e-prop's learning signal is the output error, so "
             "outputs may not drive each other",
             pops[e.target].name, pops[e.source].name);
    for (int q = 0; q < static_cast<int>(pops.size()); ++q) {
      const auto& info = pops[q];
      if (info.role == Role::output) {
        if (info.shape.slots != 1 || info.shape.blocks != 1)
          fail("algorithm 'eprop': output '{}' of kind '{}' is not a one-slot, one-block readout", info.name, info.kind);
        outputs_.push_back(q);
      }
    }
    std::mt19937_64 rng(static_cast<std::uint64_t>(o.integer("seed")));
    for (int q = 0; q < static_cast<int>(pops.size()); ++q)
      if (pops[q].role != Role::input) targets_.push_back(plan(q, rng));
  }

  void reset(int batch) override {
    this->s_.setZero(this->prog_.state_size(), batch);
    for (auto& t : targets_) {
      const int K = static_cast<int>(t.slot.size());
      t.eps.resize(K);
      for (auto& e : t.eps) e.setZero(t.params, batch);
      for (auto& r : t.readouts) {
        if (r.leaky) r.filtered.setZero(t.params, batch);
        r.signal.setZero(this->prog_.populations()[t.pop].shape.units, batch);
      }
      t.trace_sum.setZero(t.regularized ? t.params : 0);
      t.spikes.setZero(t.regularized ? this->prog_.populations()[t.pop].shape.units : 0);
      t.d.resize(this->prog_.populations()[t.pop].shape.units, K * K);
      t.zero.setZero(this->prog_.populations()[t.pop].shape.units);
    }
    err_.setZero(this->prog_.output_size(), batch);
    steps_ = 0;
    scored_ = 0;
  }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    const int B = static_cast<int>(x.cols());
    if (this->s_.cols() != B || targets_.empty() || targets_[0].eps.empty() || targets_[0].eps[0].cols() != B)
      reset(B);
    Program<T>& prog = this->prog_;
    const auto& pops = prog.populations();
    if (feedback_ == "adaptive")
      for (auto& t : targets_)
        for (auto& r : t.readouts)
          if (r.projection >= 0) r.pathway.follow(rule_, prog.weight(prog.projections()[r.projection]));
    this->forward_and_loss(x, target, mask);
    const Frame<T>& f = this->frame_;
    ++steps_;
    scored_ += static_cast<double>(mask.sum()) / B;

    // Output error: the cotangent of each readout's drive.
    for (int q : outputs_) {
      const auto& info = pops[q];
      const int n = info.shape.units;
      err_.middleRows(info.io_offset, n).array() =
          this->dy_.middleRows(info.io_offset, n).array() * f.jac.middleRows(info.jac_offset, n).array();
    }
    for (auto& t : targets_) {
      const auto& info = pops[t.pop];
      for (auto& r : t.readouts) {
        const auto& out = pops[r.output];
        const auto err = err_.middleRows(out.io_offset, out.shape.units);
        if (feedback_ == "symmetric") {
          r.signal.noalias() = prog.weight(prog.projections()[r.projection]).transpose() * err;
        } else {
          r.signal.noalias() = r.pathway.matrix() * err;
          if (feedback_ == "adaptive" && r.projection >= 0) {
            const auto& e = prog.projections()[r.projection];
            r.pathway.learn(rule_, feedback_lr_, prog.weight(e), prog.presynaptic(e, f, this->s_));
          }
        }
      }
      if (t.regularized)
        t.spikes += f.z.middleRows(info.z_offset + info.shape.out_slot * info.shape.units, info.shape.units)
                        .rowwise()
                        .sum();
      for (int b = 0; b < B; ++b) propagate(t, b, grad);
    }
    this->s_ = f.s;
    return true;
  }

  // cos(B, Wᵀ) of every random or learned feedback matrix that has a delay-0 readout projection to compare with.
  std::vector<std::pair<std::string, double>> diagnostics() const override {
    std::vector<std::pair<std::string, double>> out;
    if (feedback_ == "symmetric") return out;
    const auto& prog = this->prog_;
    for (const auto& t : targets_)
      for (const auto& r : t.readouts)
        if (r.projection >= 0)
          out.emplace_back(fmt::format("feedback_alignment[{} <- {}]", prog.populations()[t.pop].name,
                                       prog.populations()[r.output].name),
                           r.pathway.alignment(prog.weight(prog.projections()[r.projection])));
    return out;
  }

  bool end_chunk(bool, Vec<T>& grad) override {
    bool added = false;
    const int B = static_cast<int>(this->s_.cols());
    if (reg_ > 0 && steps_ > 0 && B > 0) {
      const auto& pops = this->prog_.populations();
      const double count = static_cast<double>(steps_) * B;
      for (auto& t : targets_) {
        if (!t.regularized) continue;
        const int n = pops[t.pop].shape.units;
        Vec<T> coef(n);
        for (int j = 0; j < n; ++j)
          coef(j) = static_cast<T>(2 * reg_ * (t.spikes(j) / count - t.f0) / count * std::max(scored_, 1.0));
        for (const auto& g : t.groups) {
          MatMap<T> gw(grad.data() + g.theta, g.rows, g.cols);
          Eigen::Map<const Mat<T>> sum(t.trace_sum.data() + g.local, g.rows, g.cols);
          for (int gi = 0; gi < g.rows / n; ++gi) gw.middleRows(gi * n, n) += coef.asDiagonal() * sum.middleRows(gi * n, n);
        }
        t.trace_sum.setZero();
        t.spikes.setZero();
        added = true;
      }
    }
    steps_ = 0;
    scored_ = 0;
    return added;
  }

 private:
  // The parameters feeding one population: a bias block (cols = 1, pre = 1) or a projection's weights.
  struct Group {
    int theta = 0;   // offset in θ
    int local = 0;   // offset in the population's traces
    int rows = 0, cols = 0;
    int first_block = 0;
    int projection = -1;  // -1: a bias
  };
  // Where a hidden population's learning signal comes from: one output population.
  struct Readout {
    int output = 0;
    int projection = -1;  // the delay-0 projection into it (symmetric feedback, adaptive learning), or -1
    bool leaky = false;   // the output has memory: its leak filters the trace
    FeedbackPathway<T> pathway;  // B: units x the output's units (random and adaptive feedback)
    Mat<T> filtered;      // ē: params x batch (leaky readouts)
    Mat<T> signal;        // units x batch
  };
  // A population e-prop trains: its active slots (those an eligibility vector can reach), where their local
  // derivatives sit in the frame, its parameters and, for a hidden population, its learning signals.
  struct Target {
    int pop = 0;
    bool output = false;
    std::vector<int> slot;                   // active slot k -> the population's slot
    int out = 0;                             // the active index of the output slot
    struct Entry {
      int k = 0, kp = 0, jac = 0;  // D[k][k'] += jac row `jac` (n rows each)
      double gain = 1;
    };
    std::vector<Entry> entries;
    std::vector<std::vector<int>> drive_jac;  // [k][block]: jac row of dz[slot k]/d drive[block], or -1
    std::vector<Group> groups;
    int params = 0;
    std::vector<Readout> readouts;
    std::vector<Mat<T>> eps;  // per active slot: params x batch
    Mat<T> d;                 // units x K*K: D of one batch column, D[k][k'] in column k' + K k
    Vec<T> zero;              // units zeros: the drive derivative of a slot the drive does not move
    bool regularized = false;
    double f0 = 0;
    Vec<T> trace_sum, spikes;
  };

  Target plan(int q, std::mt19937_64& rng) const {
    const auto& prog = this->prog_;
    const auto& pops = prog.populations();
    const auto& projs = prog.projections();
    const auto& info = pops[q];
    const auto& sh = info.shape;
    const int n = sh.units;
    Target t;
    t.pop = q;
    t.output = info.role == Role::output;
    // Active slots: those the drive moves, the output slot, and whatever the local dynamics carry them into.
    std::vector<char> active(sh.slots, 0);
    active[sh.out_slot] = 1;
    for (auto [slot, block] : sh.dz_ddrive) active[slot] = 1;
    for (bool grew = true; grew;) {
      grew = false;
      if (sh.memory)
        for (auto [slot, prev] : sh.dz_dzprev)
          if (active[prev] && !active[slot]) active[slot] = 1, grew = true;
    }
    std::vector<int> index(sh.slots, -1);
    for (int s = 0; s < sh.slots; ++s)
      if (active[s]) index[s] = static_cast<int>(t.slot.size()), t.slot.push_back(s);
    const int K = static_cast<int>(t.slot.size());
    t.out = index[sh.out_slot];
    t.drive_jac.assign(K, std::vector<int>(sh.blocks, -1));
    int k = 0;
    for (auto [slot, block] : sh.dz_ddrive) t.drive_jac[index[slot]][block] = k++;
    if (K > kMaxSlots)
      fail("algorithm 'eprop': population '{}' of kind '{}' has {} state slots an eligibility vector reaches (at most {})",
           info.name, info.kind, K, kMaxSlots);
    if (sh.memory)
      for (auto [slot, prev] : sh.dz_dzprev) {
        if (active[slot] && active[prev]) t.entries.push_back({index[slot], index[prev], k, 1.0});
        ++k;
      }
    // The spike reset: z_prev enters the drive like a self-projection, so it moved slot s by
    // dz[s]/d drive[reset_block] * reset_gain. Stopping the gradient there removes that part of D[s][out].
    if (sh.memory && sh.reset_block >= 0)
      for (int kk = 0; kk < K; ++kk)
        if (const int row = t.drive_jac[kk][sh.reset_block]; row >= 0) t.entries.push_back({kk, t.out, row, -sh.reset_gain});
    // Parameters: biases, then projections.
    for (const auto& bi : info.biases) {
      t.groups.push_back({bi.offset, t.params, bi.rows, 1, bi.drive_row / n, -1});
      t.params += bi.rows;
    }
    for (int j : info.projections_in) {
      const auto& e = projs[j];
      t.groups.push_back({e.weight_offset, t.params, e.rows, e.cols, e.first_block, j});
      t.params += e.rows * e.cols;
    }
    if (t.output) return t;
    // Learning signals: symmetric feedback through the population's own delay-0 readouts; random and adaptive
    // feedback from every output.
    for (int o : outputs_) {
      int projection = -1;
      for (int j = 0; j < static_cast<int>(projs.size()); ++j) {
        const auto& e = projs[j];
        if (e.source != q || e.target != o) continue;
        if (e.delay == 0) projection = j;
        else if (feedback_ == "symmetric")
          fail("algorithm 'eprop': feedback=symmetric needs delay-0 readouts, but '{}' reads '{}' with delay {}",
               pops[o].name, info.name, e.delay);
      }
      if (feedback_ == "symmetric" && projection < 0) continue;
      Readout r;
      r.output = o;
      r.projection = projection;
      r.leaky = pops[o].shape.memory && !pops[o].shape.dz_dzprev.empty();
      if (feedback_ != "symmetric") {
        int fan_in = 0;
        for (int j : pops[o].projections_in) fan_in += projs[j].cols;
        r.pathway.draw(n, pops[o].shape.units, 1.0 / std::sqrt(static_cast<double>(std::max(fan_in, 1))), rng);
      }
      t.readouts.push_back(std::move(r));
    }
    if (static_cast<int>(t.readouts.size()) > kMaxReadouts)
      fail("algorithm 'eprop': population '{}' gets learning signals from {} outputs (at most {})", info.name,
           t.readouts.size(), kMaxReadouts);
    if (reg_ > 0 && sh.surrogate) {
      t.regularized = true;
      const auto& spec = prog.graph().populations[q];
      const auto& entry = PopulationRegistry::get().find(spec.kind, "population kind");
      double dt = 1;
      for (const auto& opt : entry.options)
        if (opt.name == "dt") dt = Options(spec.name, entry.options, spec.attributes).number("dt");
      t.f0 = f_target_ * dt / 1000.0;
    }
    return t;
  }

  // One batch column of one population: propagate its eligibility vectors, filter its trace through leaky
  // readouts, and add learning signal times trace into grad. One pass over each column of a parameter block,
  // K (the active slots) fixed at compile time for the kinds credo has.
  void propagate(Target& t, int b, Vec<T>& grad) {
    switch (t.slot.size()) {
      case 1: return propagate_k<1>(t, b, grad);
      case 2: return propagate_k<2>(t, b, grad);
      case 3: return propagate_k<3>(t, b, grad);
      case 4: return propagate_k<4>(t, b, grad);
      default: return propagate_k<0>(t, b, grad);
    }
  }

  template <int KC>
  void propagate_k(Target& t, int b, Vec<T>& grad) {
    const Program<T>& prog = this->prog_;
    const auto& info = prog.populations()[t.pop];
    const Frame<T>& f = this->frame_;
    const int n = info.shape.units;
    const int K = KC > 0 ? KC : static_cast<int>(t.slot.size());
    const T* jac = f.jac.col(b).data() + info.jac_offset;
    t.d.setZero();
    for (const auto& e : t.entries) t.d.col(e.kp + K * e.k) += static_cast<T>(e.gain) * f.jac.col(b).segment(info.jac_offset + e.jac * n, n);
    const T* d[kMaxSlots * kMaxSlots];
    for (int k = 0; k < K * K; ++k) d[k] = t.d.col(k).data();
    // Readouts: signal and, for a leaky one, its leak (uniform over its units).
    struct Signal {
      const T* signal;
      T* filtered;
      T kappa;
    };
    Signal sig[kMaxReadouts + 1];
    int readouts = 0;
    if (t.output) {
      sig[readouts++] = {this->dy_.col(b).data() + info.io_offset, nullptr, T(0)};
    } else {
      for (auto& r : t.readouts) {
        const auto& out = prog.populations()[r.output];
        sig[readouts++] = {r.signal.col(b).data(), r.leaky ? r.filtered.col(b).data() : nullptr,
                           r.leaky ? f.jac(out.jac_offset + out.shape.units, b) : T(0)};
      }
    }
    for (const auto& g : t.groups) {
      const int C = g.cols, R = g.rows, blocks = R / n;
      const T* src = nullptr;
      if (g.projection >= 0) {
        const auto& e = prog.projections()[g.projection];
        src = (e.delay == 0 ? f.z.col(b).data() : this->s_.col(b).data()) + prog.source_row(e);
      }
      for (int gi = 0; gi < blocks; ++gi) {
        const T* dk[kMaxSlots];
        for (int k = 0; k < K; ++k) {
          const int row = t.drive_jac[k][g.first_block + gi];
          dk[k] = row >= 0 ? jac + row * n : t.zero.data();
        }
        for (int c = 0; c < C; ++c) {
          const T pre = src ? src[c] : T(1);
          const int off = g.local + c * R + gi * n;
          T* E[kMaxSlots];
          for (int k = 0; k < K; ++k) E[k] = t.eps[k].col(b).data() + off;
          T* gw = grad.data() + g.theta + c * R + gi * n;
          // ε ← D ε + (dz/d drive) pre, all K slots of each unit at once. The slots' rows, D and the drive
          // derivatives are distinct buffers, so the loop carries no dependence between units.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC ivdep
#endif
          for (int r = 0; r < n; ++r) {
            T old[kMaxSlots];
            for (int k = 0; k < K; ++k) old[k] = E[k][r];
            for (int k = 0; k < K; ++k) {
              T v = dk[k][r] * pre;
              for (int kp = 0; kp < K; ++kp) v += d[kp + K * k][r] * old[kp];
              E[k][r] = v;
            }
          }
          const T* e = E[t.out];
          if (t.regularized) {
            T* sum = t.trace_sum.data() + off;
            for (int r = 0; r < n; ++r) sum[r] += e[r];
          }
          for (int q = 0; q < readouts; ++q) {
            const T* L = sig[q].signal;
            if (T* eb = sig[q].filtered) {
              eb += off;
              const T kappa = sig[q].kappa;
              for (int r = 0; r < n; ++r) {
                eb[r] = kappa * eb[r] + e[r];
                gw[r] += L[r] * eb[r];
              }
            } else {
              for (int r = 0; r < n; ++r) gw[r] += L[r] * e[r];
            }
          }
        }
      }
    }
  }

  static constexpr int kMaxSlots = 8, kMaxReadouts = 8;

 public:
  // Everything carried between steps: the traces, the filtered traces and learning signals, learned feedback
  // matrices, the regularisation's running sums and the step counts since the last chunk end.
  // Everything it carries besides s is traces (the summary skips s, generators and counters).
  void visit_traces(StateVisitor<T>& v) override { visit_state(v); }

  bool visit_state(StateVisitor<T>& v) override {
    v.matrix("s", this->s_);
    for (size_t q = 0; q < targets_.size(); ++q) {
      auto& t = targets_[q];
      const std::string p = fmt::format("target.{}.", q);
      v.matrices(p + "eps", t.eps);
      for (size_t r = 0; r < t.readouts.size(); ++r) {
        auto& ro = t.readouts[r];
        const std::string rp = fmt::format("{}readout.{}.", p, r);
        v.matrix(rp + "filtered", ro.filtered);
        v.matrix(rp + "signal", ro.signal);
        v.matrix(rp + "feedback", ro.pathway.matrix());
      }
      v.vector(p + "trace_sum", t.trace_sum);
      v.vector(p + "spikes", t.spikes);
    }
    v.matrix("err", err_);
    v.number("steps", steps_);
    v.real("scored", scored_);
    return true;
  }

 private:
  const std::string feedback_;
  const FeedbackRule rule_;
  const T feedback_lr_;
  const double reg_, f_target_;
  std::vector<int> outputs_;
  std::vector<Target> targets_;
  Mat<T> err_;      // output error, outputs x batch
  long steps_ = 0;
  double scored_ = 0;  // scored steps per sequence since the last chunk end
};

static std::vector<OptionSpec> eprop_options() {
  std::vector<OptionSpec> o{
      {"feedback", "random", "symmetric (live readout Wᵀ) | random (fixed B) | adaptive (B learns by `rule`)", -1e300,
       1e300, false, {"symmetric", "random", "adaptive"}},
      {"seed", "1", "seed of the random feedback matrices", 0, 2147483647, true, {}},
      {"reg", "0", "firing-rate regularisation strength (spiking populations)", 0, 1e12, false, {}},
      {"f_target", "10", "target firing rate (Hz) of the regularisation", 0, 1e6, false, {}}};
  for (auto& spec : feedback_rule_options()) o.push_back(spec);
  return o;
}

CREDO_REGISTER_ALGORITHM("eprop", Eprop,
                         "e-prop: eligibility traces along each unit's own state path (LIF/ALIF, LSTM, GRU, leaky "
                         "tanh) times a learning signal fed back from the output error; online, O(P) (Bellec et al. "
                         "2020)",
                         eprop_options(), std::vector<std::string>{}, false, true, true);

}  // namespace credo
