// KF-RTRL, Kronecker-factored RTRL (Mujika, Meier & Steger 2018, "Approximating real-time recurrent learning with
// random Kronecker factors"): per projection, an unbiased Kronecker-product estimate of the influence matrix.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "framework/credit.h"

namespace credo {

// A projection e adds W_e a_e into rows [drive_row, drive_row + rows) of its target's drive, so its immediate
// influence is a Kronecker product: M_{W_e} = ds_t/dW_e = a_eᵀ ⊗ D_e, entry (state k, weight (r, c)) =
// a_e[c] D_e[k, r], where a_e is the presynaptic vector (cols) and D_e = ds_t/d drive on those rows (N x rows, the
// columns [drive_row, drive_row + rows) of Program::drive_influence). KF-RTRL keeps Γ_{W_e} ≈ u_eᵀ ⊗ A_e with
// u_e ∈ R^cols and A_e ∈ R^{N x rows}. The exact step of that estimate is a sum of two Kronecker products,
//   J Γ + M = uᵀ ⊗ (J A) + aᵀ ⊗ D,
// and with independent random signs c1, c2 ∈ {±1} it is replaced by the single product
//   u' = c1 ρ0 u + c2 ρ1 a,   A' = c1 (J A) / ρ0 + c2 D / ρ1,
// whose expectation is the sum (the cross terms carry c1 c2, of mean zero), so E[u'ᵀ ⊗ A'] = J E[Γ] + M and the
// estimate stays unbiased. ρ0 = sqrt(‖J A‖ / ‖u‖) and ρ1 = sqrt(‖D‖ / ‖a‖) give both factors of each product the
// same norm, which minimizes the variance the cross terms add (the paper's choice).
//
// Biases are few (one per unit and drive block), so their influence Γ_b (N x biases) is carried exactly:
// Γ_b ← J Γ_b + M_b, M_b being drive_influence's columns for the biased blocks.
//
// All the matrices J multiplies, [A_1 .. A_E, Γ_b], sit side by side in one N x K matrix per batch column, so
// J times all of them is one JVP with K tangents: O(N K) memory and about O(N^2 K) time per step and column,
// K = Σ_e rows_e + biases ≈ O(N) blocks of N, against RTRL's N x P.
//
// The gradient at step t is, as in RTRL, (∂L_t/∂s_{t-1}) Γ_{t-1} + ∂L_t/∂θ; for W_e the first term is the outer
// product (A_eᵀ δ) u_eᵀ with δ = ∂L_t/∂s_{t-1}. Weights of a population that moves no carried state (a readout)
// have no influence to carry and get their exact immediate gradient.
template <class T>
class KfRtrl final : public CreditAlgorithm<T> {
 public:
  KfRtrl(Program<T>& p, const Options& o)
      : CreditAlgorithm<T>(p), rng_(static_cast<std::uint64_t>(o.integer("seed"))) {
    const auto& pops = p.populations();
    const auto& projs = p.projections();
    // A population moves s_t within a step if it is carried or reaches a carried one through delay-0 projections.
    auto moves_state = [&](int q) {
      return pops[q].role != Role::input && (pops[q].state_offset >= 0 || pops[q].instant_reaches_state);
    };
    driven_.assign(pops.size(), false);
    int col = 0, ucol = 0;
    for (int k = 0; k < static_cast<int>(projs.size()); ++k) {
      if (!moves_state(projs[k].target)) continue;
      factors_.push_back({k, col, ucol});
      col += projs[k].rows;
      ucol += projs[k].cols;
      driven_[projs[k].target] = true;
    }
    for (int q = 0; q < static_cast<int>(pops.size()); ++q) {
      if (!moves_state(q)) continue;
      for (int g = 0; g < pops[q].shape.blocks; ++g)
        if (pops[q].bias_offsets[g] >= 0) {
          biases_.push_back({q, g, col});
          col += pops[q].shape.units;
          driven_[q] = true;
        }
    }
    k_ = col;
    u_size_ = ucol;
  }

  void reset(int batch) override {
    const int N = this->prog_.state_size();
    this->s_.setZero(this->prog_.state_size(), batch);
    x_.resize(batch);
    u_.resize(batch);
    for (auto& m : x_) m.setZero(N, k_);
    for (auto& v : u_) v.setZero(u_size_);
    jx_.setZero(N, k_);
    v_.setZero(k_);
    g_.resize(driven_.size());
  }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    const int B = static_cast<int>(x.cols());
    if (static_cast<int>(x_.size()) != B) reset(B);
    Program<T>& prog = this->prog_;
    const auto& pops = prog.populations();
    const auto& projs = prog.projections();
    this->forward_and_loss(x, target, mask);
    prog.vjp(this->frame_, this->s_, nullptr, this->dy_, ds_prev_, grad);
    if (k_ == 0 || prog.state_size() == 0) {
      this->s_ = this->frame_.s;
      return true;
    }
    // Carried part of the gradient, from the estimate before this step's update.
    for (int b = 0; b < B; ++b) {
      v_.noalias() = x_[b].transpose() * ds_prev_.col(b);  // δᵀ [A_1 .. A_E, Γ_b]
      for (const auto& f : factors_) {
        const auto& e = projs[f.proj];
        MatMap<T> gw(grad.data() + e.weight_offset, e.rows, e.cols);
        gw.noalias() += v_.segment(f.col, e.rows) * u_[b].segment(f.ucol, e.cols).transpose();
      }
      for (const auto& bi : biases_) {
        const int n = pops[bi.pop].shape.units;
        grad.segment(pops[bi.pop].bias_offsets[bi.block], n) += v_.segment(bi.col, n);
      }
    }
    // Update each column's factors.
    for (int b = 0; b < B; ++b) {
      prog.jvp(this->frame_, this->s_, b, &x_[b], nullptr, jx_);  // J [A_1 .. A_E, Γ_b]
      for (int q = 0; q < static_cast<int>(driven_.size()); ++q)
        if (driven_[q]) prog.drive_influence(this->frame_, this->s_, b, q, g_[q]);
      for (const auto& f : factors_) {
        const auto& e = projs[f.proj];
        const auto ja = jx_.middleCols(f.col, e.rows);
        const auto d = g_[e.target].middleCols(e.drive_row, e.rows);
        const auto a = prog.presynaptic(e, this->frame_, this->s_).col(b);
        auto u = u_[b].segment(f.ucol, e.cols);
        const T rho0 = std::sqrt((ja.norm() + eps) / (u.norm() + eps));
        const T rho1 = std::sqrt((d.norm() + eps) / (a.norm() + eps));
        const T c1 = sign(), c2 = sign();
        u *= c1 * rho0;
        u.noalias() += (c2 * rho1) * a;
        x_[b].middleCols(f.col, e.rows).noalias() = (c1 / rho0) * ja + (c2 / rho1) * d;
      }
      for (const auto& bi : biases_) {
        const int n = pops[bi.pop].shape.units;
        x_[b].middleCols(bi.col, n).noalias() = jx_.middleCols(bi.col, n) + g_[bi.pop].middleCols(bi.block * n, n);
      }
    }
    this->s_ = this->frame_.s;
    return true;
  }

  // Everything it carries besides s is traces (the summary skips s, generators and counters).
  void visit_traces(StateVisitor<T>& v) override { visit_state(v); }

  bool visit_state(StateVisitor<T>& v) override {
    v.matrix("s", this->s_);
    v.generator("rng", rng_);
    v.number("bits", bits_);
    v.number("bits_left", bits_left_);
    v.matrices("x", x_);
    v.vectors("u", u_);
    return true;
  }

 private:
  static constexpr T eps = T(1e-7);

  struct Factor {
    int proj;  // index in Program::projections()
    int col;   // first column of A_e in x_
    int ucol;  // first entry of u_e in u_
  };
  struct Bias {
    int pop, block;
    int col;  // first column of its exact influence in x_
  };

  T sign() {
    if (bits_left_ == 0) bits_ = rng_(), bits_left_ = 64;
    const bool s = bits_ & 1u;
    bits_ >>= 1, --bits_left_;
    return s ? T(1) : T(-1);
  }

  std::mt19937_64 rng_;
  std::uint64_t bits_ = 0;
  int bits_left_ = 0;
  std::vector<Factor> factors_;
  std::vector<Bias> biases_;
  std::vector<bool> driven_;  // per population: some carried parameter feeds its drive
  int k_ = 0, u_size_ = 0;
  std::vector<Mat<T>> x_;  // per column: [A_1 .. A_E, Γ_b], N x K
  std::vector<Vec<T>> u_;  // per column: [u_1 .. u_E]
  std::vector<Mat<T>> g_;  // per population: drive influence ds_t/d drive, N x blocks*n
  Mat<T> jx_, ds_prev_;
  Vec<T> v_;
};

CREDO_REGISTER_ALGORITHM("kf_rtrl", KfRtrl,
                         "Kronecker-factored RTRL: per projection an unbiased estimate Γ_W ≈ u ⊗ A, biases exact "
                         "(Mujika et al. 2018); trains every unit-local population kind through the Program",
                         (std::vector<OptionSpec>{{"seed", "1", "seed of the random signs", 0, 2147483647, true, {}}}),
                         std::vector<std::string>{}, false, true, true);

}  // namespace credo
