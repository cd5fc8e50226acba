// Readout-only learning (a reservoir / echo-state baseline): only parameters of output populations learn;
// recurrent weights keep their initial values. The floor any temporal credit algorithm should beat.
#include "framework/credit.h"

namespace credo {

template <class T>
class ReadoutOnly final : public CreditAlgorithm<T> {
 public:
  ReadoutOnly(Program<T>& p, const Options&) : CreditAlgorithm<T>(p) {
    // The parameter ranges owned by output populations: their biases and the projections into them.
    for (const auto& b : p.param_blocks())
      for (const auto& pop : p.populations())
        if (pop.role == Role::output && pop.name == b.owner) ranges_.push_back({b.offset, b.size});
  }

  void reset(int batch) override { this->s_ = this->prog_.zero_state(batch); }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    this->forward_and_loss(x, target, mask);
    step_grad_.setZero(this->prog_.param_count());
    this->prog_.vjp(this->frame_, this->s_, nullptr, this->dy_, ds_prev_, step_grad_);
    for (auto [offset, size] : ranges_) grad.segment(offset, size) += step_grad_.segment(offset, size);
    this->s_ = this->frame_.s;
    return true;
  }

 private:
  std::vector<std::pair<int, int>> ranges_;
  Vec<T> step_grad_;
  Mat<T> ds_prev_;
};

CREDO_REGISTER_ALGORITHM("readout", ReadoutOnly,
                         "readout only: output populations learn, recurrent weights stay fixed (baseline)",
                         std::vector<OptionSpec>{}, std::vector<std::string>{}, false, true);

}  // namespace credo
