// adding: output the sum of the two marked values in a stream of random numbers (Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", experiment 4; in the form of Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of Rectified Linear Units").
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "framework/error.h"
#include "framework/options.h"
#include "framework/task.h"

namespace credo {
namespace {

// Input row 0 is the value, row 1 the marker. One marker falls in the first half and one in the second, so the
// first marked value must be held for on average T/2 steps and up to T-1; the answer is scored only at the last
// step, which makes the error signal maximally delayed.
class AddingTask final : public Task {
 public:
  AddingTask(const Options& o, std::uint64_t seed) : length_(o.integer("length")), rng_(seed) {}

  int input_size() const override { return 2; }
  int output_size() const override { return 1; }
  std::string loss() const override { return "mse"; }
  bool has_accuracy() const override { return false; }
  // The target is the sum of two independent U[0,1]: the best constant output is its mean 1, and the expected
  // squared error of that is its variance 2 * 1/12.
  double chance_loss() const override { return 1.0 / 6.0; }

  Episode sample(int batch, int /*steps*/) override {
    if (batch <= 0) fail("task 'adding': batch must be positive, got {}", batch);
    const int steps = length_;
    const int half = length_ / 2;  // first marker in [0, half), second in [half, T); both non-empty since T >= 2
    Episode e = Episode::zeros(2, 1, steps, batch);
    std::uniform_real_distribution<double> value(0.0, 1.0);
    std::uniform_int_distribution<int> first(0, half - 1);
    std::uniform_int_distribution<int> second(half, length_ - 1);
    for (int b = 0; b < batch; ++b) {
      for (int t = 0; t < steps; ++t) e.x(0, e.col(t, b)) = value(rng_);
      const int m1 = first(rng_);
      const int m2 = second(rng_);
      e.x(1, e.col(m1, b)) = 1.0;
      e.x(1, e.col(m2, b)) = 1.0;
      e.target(0, e.col(steps - 1, b)) = e.x(0, e.col(m1, b)) + e.x(0, e.col(m2, b));
      e.mask(0, e.col(steps - 1, b)) = 1.0;
    }
    return e;
  }

 private:
  int length_;
  std::mt19937_64 rng_;
};

}  // namespace

// The upper bound keeps sizes within int; it is not part of the task's definition.
CREDO_REGISTER_TASK("adding", AddingTask,
                    "output at the last step the sum of the two marked values in a random stream "
                    "(Hochreiter & Schmidhuber 1997; Le et al. 2015)",
                    std::vector<OptionSpec>{
                        {"length", "50", "sequence length T (one marker in each half)", 2, 1000000, true, {}},
                    });

}  // namespace credo
