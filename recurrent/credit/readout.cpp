// Readout-only learning (a reservoir / echo-state baseline): only parameters of output populations learn;
// recurrent weights keep their initial values. The floor any temporal credit algorithm should beat.
#include "framework/credit.h"
#include "framework/error.h"

namespace credo {

// Only the output populations' own step is differentiated: their drive cotangent is their local derivative
// times dL/dy, and their weights' gradient is that cotangent times what each projection carried. Nothing of
// size P is touched beyond the readout's own slice. A leaky readout (one slot, y_t = κ y_{t-1} + drive) carries
// its own eligibility trace instead, e ← κ e + dy/d drive · pre, and its gradient is dL/dy times that trace: the
// exact gradient of its own dynamics.
template <class T>
class ReadoutOnly final : public CreditAlgorithm<T> {
 public:
  ReadoutOnly(Program<T>& p, const Options&) : CreditAlgorithm<T>(p) {
    for (size_t i = 0; i < p.populations().size(); ++i) {
      const auto& info = p.populations()[i];
      if (info.role != Role::output) continue;
      outputs_.push_back(static_cast<int>(i));
      if (info.shape.memory && !info.shape.dz_dzprev.empty() &&
          (info.shape.slots != 1 || info.shape.blocks != 1 || info.shape.dz_dzprev.size() != 1))
        fail("algorithm 'readout': output '{}' of kind '{}' has memory beyond one leaky slot", info.name, info.kind);
    }
    drive_.resize(outputs_.size());
    traces_.resize(outputs_.size());
  }

  void reset(int batch) override {
    this->s_.setZero(this->prog_.state_size(), batch);
    for (size_t k = 0; k < outputs_.size(); ++k) {
      const auto& info = this->prog_.populations()[outputs_[k]];
      int params = 0;
      for (const auto& bi : info.biases) params += bi.rows;
      for (int pi : info.projections_in) params += this->prog_.projections()[pi].rows * this->prog_.projections()[pi].cols;
      if (leaky(info)) traces_[k].setZero(params, batch);
    }
  }

  bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
            Vec<T>& grad) override {
    if (this->s_.cols() != x.cols()) reset(static_cast<int>(x.cols()));
    this->forward_and_loss(x, target, mask);
    const auto& prog = this->prog_;
    const Frame<T>& f = this->frame_;
    for (size_t k = 0; k < outputs_.size(); ++k) {
      const auto& info = prog.populations()[outputs_[k]];
      const auto& sh = info.shape;
      const int n = sh.units;
      if (leaky(info)) {
        leaky_step(info, traces_[k], grad);
        continue;
      }
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
  static bool leaky(const typename Program<T>::PopInfo& info) {
    return info.shape.memory && !info.shape.dz_dzprev.empty();
  }

  // A leaky readout: per batch column, e ← κ e + (dy/d drive) pre for every parameter, then dL/dy · e.
  void leaky_step(const typename Program<T>::PopInfo& info, Mat<T>& trace, Vec<T>& grad) {
    const auto& prog = this->prog_;
    const Frame<T>& f = this->frame_;
    const int n = info.shape.units;
    for (Eigen::Index b = 0; b < trace.cols(); ++b) {
      const auto d = f.jac.col(b).segment(info.jac_offset, n);       // dy/d drive
      const auto kappa = f.jac.col(b).segment(info.jac_offset + n, n);  // dy/dy_prev
      const auto dy = this->dy_.col(b).segment(info.io_offset, n);
      int local = 0;
      for (const auto& bi : info.biases) {
        auto e = trace.col(b).segment(local, bi.rows);
        e.array() = kappa.array() * e.array() + d.array();
        grad.segment(bi.offset, bi.rows).array() += dy.array() * e.array();
        local += bi.rows;
      }
      for (int pi : info.projections_in) {
        const auto& e = prog.projections()[pi];
        const auto pre = prog.presynaptic(e, f, this->s_).col(b);
        MatMap<T> tr(trace.col(b).data() + local, e.rows, e.cols);
        tr = kappa.asDiagonal() * tr;
        tr.noalias() += d * pre.transpose();
        MatMap<T>(grad.data() + e.weight_offset, e.rows, e.cols).noalias() += dy.asDiagonal() * tr;
        local += e.rows * e.cols;
      }
    }
  }

  std::vector<int> outputs_;
  std::vector<Mat<T>> drive_;
  std::vector<Mat<T>> traces_;  // leaky readouts: their parameters' traces x batch
};

CREDO_REGISTER_ALGORITHM("readout", ReadoutOnly,
                         "readout only: output populations learn, recurrent weights stay fixed (baseline)",
                         std::vector<OptionSpec>{}, std::vector<std::string>{}, false, true);

}  // namespace credo
