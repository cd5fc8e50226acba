// A task: parity of a bit sequence. `length` random bits arrive one per step; at the last step (flagged on a
// second input) the network must say whether it saw an odd number of ones. No step before the last tells anything
// about the answer, and every bit matters equally: credit must reach back over the whole sequence.
#include <random>

#include "framework/error.h"
#include "framework/task.h"

namespace example {

using namespace credo;

class Parity final : public Task {
 public:
  Parity(const Options& o, std::uint64_t seed) : length_(o.integer("length")), rng_(seed) {}

  int input_size() const override { return 2; }   // the bit, the "answer now" flag
  int output_size() const override { return 2; }  // even, odd
  std::string loss() const override { return "softmax_xent"; }
  bool has_accuracy() const override { return true; }
  // Without memory of the bits both answers are equally likely: ln 2 per scored step.
  double chance_loss() const override { return std::log(2.0); }

  Episode sample(int batch, int /*steps*/) override {
    if (batch <= 0) fail("task 'parity': batch must be positive, got {}", batch);
    Episode e = Episode::zeros(2, 2, length_, batch);
    std::bernoulli_distribution bit(0.5);
    for (int b = 0; b < batch; ++b) {
      int ones = 0;
      for (int t = 0; t < length_; ++t) {
        const bool one = bit(rng_);
        e.x(0, e.col(t, b)) = one ? 1.0 : 0.0;
        ones += one;
      }
      const auto last = e.col(length_ - 1, b);
      e.x(1, last) = 1.0;
      e.target(ones % 2, last) = 1.0;
      e.mask(0, last) = 1.0;
    }
    return e;
  }

 private:
  int length_;
  std::mt19937_64 rng_;
};

CREDO_REGISTER_TASK("parity", Parity, "say at the last step whether the sequence of bits held an odd number of ones",
                    std::vector<OptionSpec>{{"length", "4", "bits per sequence", 1, 100000, true, {}}});

}  // namespace example
