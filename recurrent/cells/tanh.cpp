// The rate population h_t = (1 - alpha) h_{t-1} + alpha tanh(drive_t): an Elman RNN at alpha = 1, a leaky
// (discretized continuous-time) RNN below.
#include <cmath>

#include "framework/population.h"

namespace credo {

template <class T>
class TanhPopulation final : public Population<T> {
 public:
  TanhPopulation(int n, const Options& o) : alpha_(static_cast<T>(o.number("alpha"))) {
    auto& s = this->shape_;
    s.units = n;
    s.bias_init = {0.0};
    s.memory = alpha_ < T(1);
    s.dz_ddrive = {{0, 0}};
    if (s.memory) s.dz_dzprev = {{0, 0}};
  }
  void forward(const ConstMatRef<T>& drive, const ConstMatRef<T>& zprev, MatRef<T> z, MatRef<T> jac) const override {
    const auto n = this->shape_.units;
    if (alpha_ == T(1)) {
      z = drive.array().tanh();
      jac = T(1) - z.array().square();
      return;
    }
    // jac holds d h / d drive in its first n rows and d h / d h_prev in the next n.
    auto r = jac.topRows(n);
    r = drive.array().tanh();
    z = (T(1) - alpha_) * zprev.array() + alpha_ * r.array();
    r = alpha_ * (T(1) - r.array().square());
    jac.bottomRows(n).setConstant(T(1) - alpha_);
  }

 private:
  T alpha_;
};

CREDO_REGISTER_POPULATION("tanh", Role::hidden, TanhPopulation,
                          "h = (1 - alpha) h_prev + alpha tanh(W x + b); alpha = 1 is an Elman RNN",
                          std::vector<OptionSpec>{{"alpha", "1", "leak: fraction of the state replaced each step",
                                                   1e-6, 1.0, false, {}}});

}  // namespace credo
