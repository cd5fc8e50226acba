// Real-time recurrent learning (Williams & Zipser 1989): carries the exact influence matrix Γ_t = ds_t/dθ.
#include "framework/credit.h"

namespace credo {

// Γ_t = J_t Γ_{t-1} + M_t, with J_t = ds_t/ds_{t-1} and M_t the immediate influence ds_t/dθ. The loss at
// step t is a function of s_{t-1} and θ (through y_t), so its gradient is
//   dL_t/dθ = (∂L_t/∂s_{t-1}) Γ_{t-1} + ∂L_t/∂θ,
// both parts from one VJP of the step. O(N P) memory and O(N^2 P) time per step and sequence.
template <class T>
class Rtrl final : public CreditAlgorithm<T> {
 public:
  Rtrl(Program<T>& p, const Options&) : CreditAlgorithm<T>(p) {}

  void reset(int batch) override {
    const int N = this->prog_.state_size(), P = this->prog_.param_count();
    this->s_.setZero(this->prog_.state_size(), batch);
    gamma_.resize(batch);
    for (auto& g : gamma_) g.setZero(N, P);  // keeps the allocation when the shape is unchanged
    next_.setZero(N, P);
  }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    const int B = static_cast<int>(x.cols());
    if (static_cast<int>(gamma_.size()) != B) reset(B);
    this->forward_and_loss(x, target, mask);
    this->prog_.vjp(this->frame_, this->s_, nullptr, this->dy_, ds_prev_, grad);
    for (int b = 0; b < B; ++b) {
      grad.noalias() += gamma_[b].transpose() * ds_prev_.col(b);
      this->prog_.state_jacobian(this->frame_, this->s_, b, J_);
      next_.noalias() = J_ * gamma_[b];
      this->prog_.add_immediate_influence(this->frame_, this->s_, b, next_);
      std::swap(gamma_[b], next_);
    }
    this->s_ = this->frame_.s;
    return true;
  }

  const Mat<T>& influence(int b) const { return gamma_[b]; }

  // Everything it carries besides s is traces (the summary skips s, generators and counters).
  void visit_traces(StateVisitor<T>& v) override { visit_state(v); }

  bool visit_state(StateVisitor<T>& v) override {
    v.matrix("s", this->s_);
    v.matrices("gamma", gamma_);
    return true;
  }

 private:
  std::vector<Mat<T>> gamma_;
  Mat<T> next_, J_, ds_prev_;
};

CREDO_REGISTER_ALGORITHM("rtrl", Rtrl, "real-time recurrent learning: the exact influence matrix, online",
                         std::vector<OptionSpec>{}, std::vector<std::string>{}, true, true);

}  // namespace credo
