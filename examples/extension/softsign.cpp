// A population kind: leaky softsign units, h = (1 - alpha) h_prev + alpha s(drive) with s(d) = d / (1 + |d|).
// softsign saturates polynomially (s'(d) = 1 / (1 + |d|)^2) where tanh saturates exponentially.
#include <cmath>

#include "framework/population.h"

namespace example {

using namespace credo;

template <class T>
class Softsign final : public Population<T> {
 public:
  Softsign(int n, const Options& o) : alpha_(static_cast<T>(o.number("alpha"))) {
    auto& s = this->shape_;
    s.units = n;
    s.bias_init = {0.0};           // one drive block, with a bias starting at 0
    s.memory = alpha_ < T(1);      // h depends on h_prev directly when leaky
    s.dz_ddrive = {{0, 0}};        // d h / d drive
    if (s.memory) s.dz_dzprev = {{0, 0}};  // d h / d h_prev
  }

  // jac: d h / d drive (n rows), then d h / d h_prev when leaky.
  void forward(const ConstMatRef<T>& drive, const ConstMatRef<T>& zprev, MatRef<T> z, MatRef<T> jac) const override {
    const auto n = this->shape_.units;
    const auto denom = T(1) + drive.array().abs();
    if (alpha_ == T(1)) {
      z = drive.array() / denom;
      jac.topRows(n) = denom.square().inverse();
      return;
    }
    z = (T(1) - alpha_) * zprev.array() + alpha_ * drive.array() / denom;
    jac.topRows(n) = alpha_ * denom.square().inverse();
    jac.bottomRows(n).setConstant(T(1) - alpha_);
  }

 private:
  T alpha_;
};

CREDO_REGISTER_POPULATION("softsign", Role::hidden, Softsign,
                          "h = (1 - alpha) h_prev + alpha s(W x + b), s(d) = d / (1 + |d|)",
                          std::vector<OptionSpec>{{"alpha", "1", "leak: fraction of the state replaced each step",
                                                   1e-6, 1.0, false, {}}});

}  // namespace example
