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

// y = W h + b. Its loss is checked against the task's: "auto" takes the task's.
template <class T>
class OutputPopulation final : public Population<T> {
 public:
  OutputPopulation(int n, const Options& o) : loss_(o.word("loss")) {
    auto& s = this->shape_;
    s.units = n;
    s.bias_init = {0.0};
    s.dz_ddrive = {{0, 0}};
  }
  void forward(const ConstMatRef<T>& drive, const ConstMatRef<T>&, MatRef<T> z, MatRef<T> jac) const override {
    z = drive;
    jac.setOnes();
  }
  std::string loss() const override { return loss_; }

 private:
  std::string loss_;
};

CREDO_REGISTER_POPULATION("input", Role::input, InputPopulation, "the task's input; receives no projections",
                          std::vector<OptionSpec>{});
CREDO_REGISTER_POPULATION("output", Role::output, OutputPopulation, "linear readout y = W h + b, scored by a loss",
                          std::vector<OptionSpec>{{"loss", "auto", "auto (the task's) | mse | softmax_xent | sigmoid_xent",
                                                   -1e300, 1e300, false,
                                                   {"auto", "mse", "softmax_xent", "sigmoid_xent"}}});

}  // namespace credo
