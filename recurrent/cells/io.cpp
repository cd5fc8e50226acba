// The input population (the task's input enters here) and the output population (a linear readout scored
// by a loss).
#include "framework/population.h"

namespace credo {

template <class T>
class InputPopulation final : public Population<T> {
 public:
  InputPopulation(int n, const Options&) {
    auto& s = this->shape_;
    s.units = n;
    s.bias_init = {PopulationShape::no_bias};
  }
  void forward(const ConstMatRef<T>& drive, const ConstMatRef<T>&, MatRef<T> z, MatRef<T>) const override {
    z = drive;
  }
};

// y = W h + b, or with kappa > 0 the leaky readout y_t = kappa y_{t-1} + W h_t + b of spiking networks
// (Bellec et al. 2020: kappa = exp(-dt / tau_out), a low-pass filter of the spikes it reads). Its loss is
// checked against the task's: "auto" takes the task's.
template <class T>
class OutputPopulation final : public Population<T> {
 public:
  OutputPopulation(int n, const Options& o) : loss_(o.word("loss")), kappa_(static_cast<T>(o.number("kappa"))) {
    auto& s = this->shape_;
    s.units = n;
    s.bias_init = {0.0};
    s.dz_ddrive = {{0, 0}};
    s.memory = kappa_ > T(0);
    if (s.memory) s.dz_dzprev = {{0, 0}};
  }
  void forward(const ConstMatRef<T>& drive, const ConstMatRef<T>& zprev, MatRef<T> z, MatRef<T> jac) const override {
    const auto n = this->shape_.units;
    jac.topRows(n).setOnes();
    if (!this->shape_.memory) {
      z = drive;
      return;
    }
    z = kappa_ * zprev + drive;
    jac.bottomRows(n).setConstant(kappa_);
  }
  std::string loss() const override { return loss_; }

 private:
  std::string loss_;
  T kappa_;
};

CREDO_REGISTER_POPULATION("input", Role::input, InputPopulation, "the task's input; receives no projections",
                          std::vector<OptionSpec>{});
CREDO_REGISTER_POPULATION("output", Role::output, OutputPopulation,
                          "linear readout y = kappa y_prev + W h + b (kappa = 0: memoryless), scored by a loss",
                          std::vector<OptionSpec>{{"loss", "auto", "auto (the task's) | mse | softmax_xent | sigmoid_xent",
                                                   -1e300, 1e300, false,
                                                   {"auto", "mse", "softmax_xent", "sigmoid_xent"}},
                                                  {"kappa", "0", "leak of a leaky readout, exp(-dt/tau_out); 0: memoryless",
                                                   0, 1 - 1e-12, false, {}}});

}  // namespace credo
