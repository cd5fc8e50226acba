// A credit algorithm: one-step credit. Each step's loss is differentiated through that step only, with the state it
// started from held fixed: the gradient truncated BPTT gives with k1 = k2 = 1, computed online at O(P) per step.
// It assigns no credit across time, so it learns only what the current input and state already determine.
#include "framework/credit.h"

namespace example {

using namespace credo;

template <class T>
class OneStep final : public CreditAlgorithm<T> {
 public:
  OneStep(Program<T>& p, const Options&) : CreditAlgorithm<T>(p) {}

  void reset(int batch) override { this->s_.setZero(this->prog_.state_size(), batch); }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    this->forward_and_loss(x, target, mask);  // frame_ from s_ and x; dy_ = dL/dy / B
    // No cotangent arrives from the future (nullptr): only this step's loss, through this step.
    this->prog_.vjp(this->frame_, this->s_, nullptr, this->dy_, ds_prev_, grad);
    this->s_ = this->frame_.s;
    return true;
  }

  // Everything carried from one step to the next, for checkpoints: only the state (ds_prev_ is scratch).
  bool visit_state(StateVisitor<T>& v) override {
    v.matrix("s", this->s_);
    return true;
  }

 private:
  Mat<T> ds_prev_;
};

// Trains every population kind and memory module (the Program's VJP covers them all); not exact; online.
CREDO_REGISTER_ALGORITHM("one_step", OneStep, "one-step credit: each loss through its own step only (TBPTT k1=k2=1)",
                         std::vector<OptionSpec>{}, std::vector<std::string>{}, false, true);

}  // namespace example
