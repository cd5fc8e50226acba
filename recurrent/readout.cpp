// Readout-only learning (a reservoir / echo-state baseline): only parameters of output populations learn;
// recurrent weights keep their initial values. The floor any temporal credit algorithm should beat.
#include "framework/credit.h"

namespace credo {

// Only the output populations' own step is differentiated: their drive cotangent is their local derivative
// times dL/dy, and their weights' gradient is that cotangent times what each projection carried. Nothing of
// size P is touched beyond the readout's own slice.
template <class T>
class ReadoutOnly final : public CreditAlgorithm<T> {
 public:
  ReadoutOnly(Program<T>& p, const Options&) : CreditAlgorithm<T>(p) {
    for (size_t i = 0; i < p.populations().size(); ++i)
      if (p.populations()[i].role == Role::output) outputs_.push_back(static_cast<int>(i));
    drive_.resize(outputs_.size());
  }

  void reset(int batch) override { this->s_.setZero(this->prog_.state_size(), batch); }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    this->forward_and_loss(x, target, mask);
    const auto& prog = this->prog_;
    const Frame<T>& f = this->frame_;
    for (size_t k = 0; k < outputs_.size(); ++k) {
      const auto& info = prog.populations()[outputs_[k]];
      const auto& sh = info.shape;
      const int n = sh.units;
      Mat<T>& dd = drive_[k];
      dd.setZero(sh.blocks * n, x.cols());
      int j = 0;
      for (auto [slot, block] : sh.dz_ddrive) {
        if (slot == sh.out_slot)
          dd.middleRows(block * n, n).array() += f.jac.middleRows(info.jac_offset + j * n, n).array() *
                                                 this->dy_.middleRows(info.io_offset, n).array();
        ++j;
      }
      for (int g = 0; g < sh.blocks; ++g)
        if (info.bias_offsets[g] >= 0) grad.segment(info.bias_offsets[g], n) += dd.middleRows(g * n, n).rowwise().sum();
      for (int pi : info.projections_in) {
        const auto& e = prog.projections()[pi];
        MatMap<T> gw(grad.data() + e.weight_offset, e.rows, e.cols);
        gw.noalias() += dd.middleRows(e.drive_row, e.rows) * prog.presynaptic(e, f, this->s_).transpose();
      }
    }
    this->s_ = this->frame_.s;
    return true;
  }

  bool visit_state(StateVisitor<T>& v) override {
    v.matrix("s", this->s_);
    return true;
  }

 private:
  std::vector<int> outputs_;
  std::vector<Mat<T>> drive_;
};

CREDO_REGISTER_ALGORITHM("readout", ReadoutOnly,
                         "readout only: output populations learn, recurrent weights stay fixed (baseline)",
                         std::vector<OptionSpec>{}, std::vector<std::string>{}, false, true);

}  // namespace credo
