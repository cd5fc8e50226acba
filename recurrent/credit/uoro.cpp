// UORO, Unbiased Online Recurrent Optimization (Tallec & Ollivier 2018): an unbiased rank-one estimate of the
// RTRL influence matrix, carried forward in O(N + P) memory and time per step.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "framework/credit.h"

namespace credo {

// For each batch column the influence matrix Γ_t = ds_t/dθ (N x P) is replaced by s̃ θ̃ᵀ with E[s̃ θ̃ᵀ] = Γ_t.
// The exact recursion is Γ_t = J_t Γ_{t-1} + M_t. With Γ_{t-1} ≈ s̃ θ̃ᵀ and M_t = E_ν[ν νᵀ M_t] for random signs
// ν ∈ {±1}^N,
//   s̃ ← ρ0 J s̃ + ρ1 ν,   θ̃ ← θ̃ / ρ0 + νᵀM / ρ1
// gives s̃ θ̃ᵀ = J s̃ θ̃ᵀ + ν νᵀM + (terms odd in ν), so the estimate stays unbiased for any ρ0, ρ1 > 0 that do not
// change sign with ν. ρ0 = sqrt(‖θ̃‖ / ‖J s̃‖) and ρ1 = sqrt(‖νᵀM‖ / ‖ν‖) make both factors of each product the
// same size, which minimizes the variance of the cross terms (the paper's variance-balancing choice).
//
// The gradient of the loss at step t, as in RTRL, is (∂L_t/∂s_{t-1}) Γ_{t-1} + ∂L_t/∂θ; the first term becomes
// (∂L_t/∂s_{t-1} · s̃) θ̃ with the estimate from before this step's update.
//
// Per step and column: one JVP with one tangent (J s̃) and one single-column VJP (νᵀM, Program::vjp_column).
template <class T>
class Uoro final : public CreditAlgorithm<T> {
 public:
  Uoro(Program<T>& p, const Options& o)
      : CreditAlgorithm<T>(p), rng_(static_cast<std::uint64_t>(o.integer("seed"))) {}

  void reset(int batch) override {
    const int N = this->prog_.state_size(), P = this->prog_.param_count();
    this->s_.setZero(this->prog_.state_size(), batch);
    s_tilde_.resize(batch);
    theta_tilde_.resize(batch);
    for (auto& v : s_tilde_) v.setZero(N, 1);
    for (auto& v : theta_tilde_) v.setZero(P);
    nu_.setZero(N, 1);
    nu_m_.setZero(P);
    col_zero_dy_.setZero(this->prog_.output_size(), 1);
  }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    const int B = static_cast<int>(x.cols());
    if (static_cast<int>(s_tilde_.size()) != B) reset(B);
    Program<T>& prog = this->prog_;
    this->forward_and_loss(x, target, mask);
    // Direct part ∂L_t/∂θ, and ∂L_t/∂s_{t-1} for the carried part.
    prog.vjp(this->frame_, this->s_, nullptr, this->dy_, ds_prev_, grad);
    for (int b = 0; b < B; ++b) grad.noalias() += ds_prev_.col(b).dot(s_tilde_[b].col(0)) * theta_tilde_[b];

    for (int b = 0; b < B; ++b) {
      draw_signs(nu_);
      prog.jvp(this->frame_, this->s_, b, &s_tilde_[b], nullptr, js_);  // J s̃
      nu_m_.setZero();
      prog.vjp_column(this->frame_, this->s_, b, &nu_, col_zero_dy_, col_ds_prev_, nu_m_);  // νᵀM; its ds_prev is unused

      const T rho0 = std::sqrt((theta_tilde_[b].norm() + eps) / (js_.norm() + eps));
      const T rho1 = std::sqrt((nu_m_.norm() + eps) / (nu_.norm() + eps));
      s_tilde_[b].noalias() = rho0 * js_ + rho1 * nu_;
      theta_tilde_[b] *= T(1) / rho0;
      theta_tilde_[b].noalias() += (T(1) / rho1) * nu_m_;
    }
    this->s_ = this->frame_.s;
    return true;
  }

  // Everything it carries besides s is traces (the summary skips s, generators and counters).
  void visit_traces(StateVisitor<T>& v) override { visit_state(v); }

  bool visit_state(StateVisitor<T>& v) override {
    v.matrix("s", this->s_);
    v.generator("rng", rng_);
    v.matrices("s_tilde", s_tilde_);
    v.vectors("theta_tilde", theta_tilde_);
    return true;
  }

  // The current rank-one factors of column b (for tests and diagnostics).
  const Mat<T>& s_tilde(int b) const { return s_tilde_[b]; }
  const Vec<T>& theta_tilde(int b) const { return theta_tilde_[b]; }

 private:
  static constexpr T eps = T(1e-7);

  // ν ∈ {±1}^N, 64 signs per draw of the generator.
  void draw_signs(Mat<T>& v) {
    const Eigen::Index n = v.rows();
    for (Eigen::Index i = 0; i < n; i += 64) {
      std::uint64_t bits = rng_();
      for (Eigen::Index k = i; k < std::min<Eigen::Index>(n, i + 64); ++k, bits >>= 1)
        v(k, 0) = (bits & 1u) ? T(1) : T(-1);
    }
  }

  std::mt19937_64 rng_;
  std::vector<Mat<T>> s_tilde_;  // per column, N x 1 (a matrix: it is the JVP's tangent)
  std::vector<Vec<T>> theta_tilde_;
  Mat<T> ds_prev_, js_, nu_;
  Vec<T> nu_m_;
  Mat<T> col_zero_dy_, col_ds_prev_;
};

CREDO_REGISTER_ALGORITHM("uoro", Uoro,
                         "unbiased online recurrent optimization: a rank-one unbiased estimate of the influence matrix, "
                         "O(N + P) per step (Tallec & Ollivier 2018)",
                         (std::vector<OptionSpec>{{"seed", "1", "seed of the random signs", 0, 2147483647, true, {}}}),
                         std::vector<std::string>{}, false, true);

}  // namespace credo
