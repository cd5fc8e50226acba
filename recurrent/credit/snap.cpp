// SnAp-n, the sparse n-step approximation of RTRL (Menick et al. 2021, "Practical real time recurrent learning
// with a sparse approximation"): the influence matrix kept only where the graph can reach within n steps.
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "framework/credit.h"

namespace credo {

// RTRL carries Γ_t = ds_t/dθ (N x P) by Γ_t = J_t Γ_{t-1} + M_t. Entry (k, j) of Γ can be nonzero only if
// parameter j reaches state k through some path of the step graph; after one step only M's pattern, after n
// steps that pattern grown n-1 times by J's:
//   S_1 = pat(M),   S_{m+1} = pat(J) · S_m  ∪  pat(M).
// SnAp-n keeps Γ on S_n and drops the rest after every step:
//   Γ_t = S_n ⊙ (J_t Γ_{t-1} + M_t).
// S_m only grows with m; once it stops growing (n ≥ the graph's depth) it holds the support of the exact Γ, the
// mask removes nothing and SnAp-n is RTRL.
//
// The patterns are structural, taken once at construction from the Program itself: a twin Program with every
// weight, every local derivative, every state and every input set to 1 has, in its state Jacobian and immediate
// influence, a positive number exactly where a path exists (all terms positive: nothing cancels), whatever the
// trained values will be. A pattern read off the trained model at a random point could miss entries that happen
// to be zero there (an LSTM's dc/d forget gate is 0 while c_prev = 0).
//
// Cheap path (n = 1 when no population reaches another carried one through delay-0 projections). Then S_1 keeps,
// for a parameter of population p that feeds drive block g of unit i, only p's slots s of unit i with
// dz[s]/d drive[g] ≠ 0, and the only part of J that touches those entries is, per unit, the slots x slots
// block D_i of ds/ds_prev within p's own unit i:
//   D_i[s, s'] = dz[s]/dz_prev[s']                                  (intrinsic memory)
//              + Σ_g dz[s]/d drive[g] · W_e[g-block row i, column i]  (p's own delay-1 projections, s' = out slot).
// So each kept entry is updated from at most `slots` kept entries of the same parameter:
//   Γ[s, j] ← Σ_s' D_i[s, s'] Γ[s', j] + dz[s]/d drive[g] · pre_j,
// O(P slots^2 + N slots^2) per step and column, without forming J. Γ is stored as P x slots (column s: every
// parameter's entry at its own unit's slot s). Option dense=1 forces the general path (for tests).
//
// The gradient at step t is, as in RTRL, (∂L_t/∂s_{t-1}) Γ_{t-1} + ∂L_t/∂θ.
template <class T>
class Snap final : public CreditAlgorithm<T> {
 public:
  Snap(Program<T>& p, const Options& o) : CreditAlgorithm<T>(p), n_(o.integer("n")) {
    bool local = true;
    for (const auto& q : p.populations()) local = local && (q.role == Role::input || !q.instant_reaches_state);
    cheap_ = n_ == 1 && local && o.integer("dense") == 0;
    if (n_ == 1 && !cheap_) {
      std::string why = "option dense=1";
      for (const auto& q : p.populations())
        if (q.role != Role::input && q.instant_reaches_state) {
          why = fmt::format("population '{}' reaches another carried population through delay-0 projections", q.name);
          break;
        }
      note_ = fmt::format("snap n=1 runs the general masked path here: O(N P) memory and O(N^2 P) time per step, "
                          "RTRL's order, instead of O(P) ({})",
                          why);
    }
    if (cheap_) plan_cheap();
    else build_mask();
  }

  std::string cost_note() const override { return note_; }

  // Everything it carries besides s is traces (the summary skips s, generators and counters).
  void visit_traces(StateVisitor<T>& v) override { visit_state(v); }

  bool visit_state(StateVisitor<T>& v) override {
    v.matrix("s", this->s_);
    v.matrices("gamma", gamma_);
    return true;
  }

  void reset(int batch) override {
    const int N = this->prog_.state_size(), P = this->prog_.param_count();
    this->s_.setZero(this->prog_.state_size(), batch);
    gamma_.resize(batch);
    const int rows = cheap_ ? P : N, cols = cheap_ ? slots_ : P;
    for (auto& g : gamma_) g.setZero(rows, cols);
    next_.setZero(rows, cols);
    for (auto& c : pops_) c.d.setZero(this->prog_.populations()[c.pop].shape.units, c.slots * c.slots);
  }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    const int B = static_cast<int>(x.cols());
    if (static_cast<int>(gamma_.size()) != B) reset(B);
    this->forward_and_loss(x, target, mask);
    this->prog_.vjp(this->frame_, this->s_, nullptr, this->dy_, ds_prev_, grad);
    for (int b = 0; b < B; ++b) {
      if (cheap_) {
        cheap_gradient(b, grad);
        cheap_update(b);
      } else {
        grad.noalias() += gamma_[b].transpose() * ds_prev_.col(b);
        this->prog_.state_jacobian(this->frame_, this->s_, b, J_);
        next_.noalias() = J_ * gamma_[b];
        this->prog_.add_immediate_influence(this->frame_, this->s_, b, next_);
        next_.array() *= mask_.array();
      }
      std::swap(gamma_[b], next_);
    }
    this->s_ = this->frame_.s;
    return true;
  }

  bool cheap() const { return cheap_; }
  // True when the pattern stopped growing before n steps: then SnAp-n is RTRL.
  bool saturated() const { return saturated_; }
  // Fraction of the influence matrix's entries kept.
  double density() const {
    const double total = double(this->prog_.state_size()) * this->prog_.param_count();
    return total == 0 ? 0.0 : kept_ / total;
  }

 private:
  // General path: S_n from the structural patterns of J and M.
  void build_mask() {
    const Program<T>& prog = this->prog_;
    const int N = prog.state_size(), P = prog.param_count();
    Program<double> probe(prog.graph());
    probe.params().setOnes();
    Frame<double> f = probe.make_frame(1);
    f.z.setOnes();
    f.jac.setOnes();
    const Mat<double> ones = Mat<double>::Ones(N, 1);
    Mat<double> J, Mi = Mat<double>::Zero(N, P);
    if (N > 0) probe.state_jacobian(f, ones, 0, J);
    else J.setZero(0, 0);
    probe.add_immediate_influence(f, ones, 0, Mi);
    const Mat<double> jp = (J.array() != 0).cast<double>(), mp = (Mi.array() != 0).cast<double>();
    Mat<double> s = mp, grown;
    for (int m = 1; m < n_; ++m) {
      grown = ((jp * s).array() != 0 || mp.array() != 0).cast<double>();
      if (grown == s) {
        saturated_ = true;
        break;
      }
      s.swap(grown);
    }
    mask_ = s.cast<T>();
    kept_ = s.sum();
  }

  // Cheap path: which parameters belong to which carried population, and which slot pairs of D_i can be nonzero.
  struct CheapPop {
    int pop = 0, slots = 1;
    std::vector<int> drive_jac;   // [s * blocks + g]: index of dz[s]/d drive[g] in the population's jac, or -1
    std::vector<int> memory_jac;  // [s * slots + s']: index of dz[s]/dz_prev[s'], or -1
    std::vector<int> recurrent;   // its own delay-1 projections
    std::vector<char> used;       // [s * slots + s']: D_i[s, s'] may be nonzero
    Mat<T> d;                     // D_i for every unit: column s * slots + s' holds D[s, s'] for all n units
  };

  void plan_cheap() {
    const auto& prog = this->prog_;
    const auto& pops = prog.populations();
    const auto& projs = prog.projections();
    kept_ = 0;
    slots_ = 1;
    for (int q = 0; q < static_cast<int>(pops.size()); ++q) {
      const auto& info = pops[q];
      if (info.role == Role::input || info.state_offset < 0) continue;  // its parameters move nothing carried
      const auto& sh = info.shape;
      CheapPop c;
      c.pop = q;
      c.slots = sh.slots;
      slots_ = std::max(slots_, sh.slots);
      c.drive_jac.assign(sh.slots * sh.blocks, -1);
      c.memory_jac.assign(sh.slots * sh.slots, -1);
      c.used.assign(sh.slots * sh.slots, 0);
      int k = 0;
      for (auto [slot, block] : sh.dz_ddrive) c.drive_jac[slot * sh.blocks + block] = k++;
      if (sh.memory)
        for (auto [slot, prev] : sh.dz_dzprev) {
          c.memory_jac[slot * sh.slots + prev] = k++;
          c.used[slot * sh.slots + prev] = 1;
        }
      for (int j : info.projections_in) {
        const auto& e = projs[j];
        if (e.source == q && e.delay == 1) {
          c.recurrent.push_back(j);
          for (int g = e.first_block; g < e.first_block + e.rows / sh.units; ++g)
            for (int s = 0; s < sh.slots; ++s)
              if (c.drive_jac[s * sh.blocks + g] >= 0) c.used[s * sh.slots + sh.out_slot] = 1;
        }
      }
      // Kept entries: each parameter of block g at every slot s with dz[s]/d drive[g] ≠ 0.
      for (int s = 0; s < sh.slots; ++s)
        for (int g = 0; g < sh.blocks; ++g) {
          if (c.drive_jac[s * sh.blocks + g] < 0) continue;
          int per_unit = info.bias_offsets[g] >= 0 ? 1 : 0;
          for (int j : info.projections_in) {
            const auto& e = projs[j];
            if (g >= e.first_block && g < e.first_block + e.rows / sh.units) per_unit += e.cols;
          }
          kept_ += double(per_unit) * sh.units;
        }
      pops_.push_back(std::move(c));
    }
  }

  // Pre-synaptic vector of projection e for column b: the source's output now (delay 0) or d steps back.
  auto pre(const typename Program<T>::ProjInfo& e, int b) const {
    return this->prog_.presynaptic(e, this->frame_, this->s_).col(b);
  }

  // grad += (∂L_t/∂s_{t-1}) Γ_{t-1}: each kept entry pairs with the cotangent of its own unit's slot.
  void cheap_gradient(int b, Vec<T>& grad) {
    const auto& prog = this->prog_;
    const auto& pops = prog.populations();
    const auto& projs = prog.projections();
    const Mat<T>& gm = gamma_[b];
    const int P = prog.param_count();
    for (const auto& c : pops_) {
      const auto& info = pops[c.pop];
      const auto& sh = info.shape;
      const int n = sh.units;
      for (int s = 0; s < c.slots; ++s) {
        const auto delta = ds_prev_.col(b).segment(info.state_offset + s * n, n);
        for (int g = 0; g < sh.blocks; ++g) {
          if (c.drive_jac[s * sh.blocks + g] < 0) continue;
          if (info.bias_offsets[g] >= 0)
            grad.segment(info.bias_offsets[g], n).array() +=
                delta.array() * gm.col(s).segment(info.bias_offsets[g], n).array();
          for (int j : info.projections_in) {
            const auto& e = projs[j];
            const int lb = g - e.first_block;
            if (lb < 0 || lb * n >= e.rows) continue;
            MatMap<T> gw(grad.data() + e.weight_offset, e.rows, e.cols);
            Eigen::Map<const Mat<T>> old(gm.data() + s * P + e.weight_offset, e.rows, e.cols);
            gw.middleRows(lb * n, n).noalias() += delta.asDiagonal() * old.middleRows(lb * n, n);
          }
        }
      }
    }
  }

  // next_ = S_1 ⊙ (J Γ + M) through the per-unit slot blocks D_i.
  void cheap_update(int b) {
    auto& prog = this->prog_;
    const auto& pops = prog.populations();
    const auto& projs = prog.projections();
    const Mat<T>& gm = gamma_[b];
    const int P = prog.param_count();
    for (auto& c : pops_) {
      const auto& info = pops[c.pop];
      const auto& sh = info.shape;
      const int n = sh.units, S = c.slots;
      const auto jac = this->frame_.jac.col(b).segment(info.jac_offset, sh.jac_rows());
      // D_i for every unit.
      c.d.setZero();
      for (int s = 0; s < S; ++s)
        for (int sp = 0; sp < S; ++sp)
          if (const int k = c.memory_jac[s * S + sp]; k >= 0) c.d.col(s * S + sp) += jac.segment(k * n, n);
      for (int j : c.recurrent) {
        const auto& e = projs[j];
        const auto w = prog.weight(e);
        for (int g = e.first_block; g < e.first_block + e.rows / n; ++g)
          for (int s = 0; s < S; ++s)
            if (const int k = c.drive_jac[s * sh.blocks + g]; k >= 0)
              c.d.col(s * S + sh.out_slot).array() +=
                  jac.segment(k * n, n).array() * w.block((g - e.first_block) * n, 0, n, n).diagonal().array();
      }
      for (int s = 0; s < S; ++s)
        for (int g = 0; g < sh.blocks; ++g) {
          const int k = c.drive_jac[s * sh.blocks + g];
          if (k < 0) continue;  // not in S_1: stays zero
          const auto dz = jac.segment(k * n, n);
          if (const int off = info.bias_offsets[g]; off >= 0) {
            auto out = next_.col(s).segment(off, n);
            out = dz;
            for (int sp = 0; sp < S; ++sp)
              if (c.used[s * S + sp]) out.array() += c.d.col(s * S + sp).array() * gm.col(sp).segment(off, n).array();
          }
          for (int j : info.projections_in) {
            const auto& e = projs[j];
            const int lb = g - e.first_block;
            if (lb < 0 || lb * n >= e.rows) continue;
            auto out = MatMap<T>(next_.data() + s * P + e.weight_offset, e.rows, e.cols).middleRows(lb * n, n);
            out.noalias() = dz * pre(e, b).transpose();
            for (int sp = 0; sp < S; ++sp) {
              if (!c.used[s * S + sp]) continue;
              Eigen::Map<const Mat<T>> old(gm.data() + sp * P + e.weight_offset, e.rows, e.cols);
              out.noalias() += c.d.col(s * S + sp).asDiagonal() * old.middleRows(lb * n, n);
            }
          }
        }
    }
  }

  const int n_;
  bool cheap_ = false, saturated_ = false;
  double kept_ = 0;
  int slots_ = 1;
  std::vector<CheapPop> pops_;
  Mat<T> mask_;  // general path: S_n as 0/1, N x P
  std::vector<Mat<T>> gamma_;  // per column: N x P (general) or P x slots (cheap)
  Mat<T> next_, J_, ds_prev_;
  std::string note_;
};

CREDO_REGISTER_ALGORITHM("snap", Snap,
                         "SnAp-n: RTRL's influence matrix kept only where the graph reaches within n steps; n = 1 "
                         "costs O(P) per step on unit-local populations (a population feeding another carried one "
                         "through delay-0 projections makes it RTRL's O(N^2 P) dense path), n >= depth is RTRL "
                         "(Menick et al. 2021)",
                         (std::vector<OptionSpec>{
                             {"n", "1", "steps of reach the sparsity pattern covers", 1, 1e6, true, {}},
                             {"dense", "0", "1: use the general dense masked path even where n = 1 has a cheap one",
                              0, 1, true, {}}}),
                         std::vector<std::string>{}, false, true, true);

}  // namespace credo
