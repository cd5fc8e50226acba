// bit_copy: read a sequence of random bit vectors, then write it back after a delimiter (Graves, Wayne & Danihelka 2014, "Neural Turing Machines", arXiv:1410.5401, sec. 4.1).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "framework/error.h"
#include "framework/options.h"
#include "framework/task.h"
#include "tasks/bit_error.h"

namespace credo {
namespace {

// Input channels: 0..bits-1 the vector's bits, `bits` the delimiter. A sequence of length L ~ U{min..max} is
// L random vectors (each bit a fair coin, delimiter channel off), one step with only the delimiter on, then L
// recall steps with zero input, scored bitwise against the L vectors in order. Each sequence in a batch draws its
// own L; shorter ones are padded at the end with zero-input, unscored steps, which come after everything a
// sequence is scored on and so cannot change its loss.
class BitCopyTask final : public Task {
 public:
  BitCopyTask(const Options& o, std::uint64_t seed)
      : bits_(o.integer("bits")), min_(o.integer("min_length")), max_(o.integer("max_length")), rng_(seed) {
    if (min_ > max_)
      fail("{}: min_length ({}) is greater than max_length ({})", o.owner(), min_, max_);
  }

  int input_size() const override { return bits_ + 1; }
  int output_size() const override { return bits_; }
  std::string loss() const override { return "sigmoid_xent"; }
  bool has_accuracy() const override { return true; }
  // Every target bit is a fair coin the memoryless predictor has not seen: its best output is 0.5, loss ln 2 per
  // bit. Losses are summed over a scored step's outputs, so per scored step (one vector) that is bits * ln 2.
  double chance_loss() const override { return bits_ * std::log(2.0); }

  Episode sample(int batch, int /*steps*/) override {
    if (batch <= 0) fail("task 'bit_copy': batch must be positive, got {}", batch);
    std::uniform_int_distribution<int> length(min_, max_);
    std::vector<int> lengths(static_cast<std::size_t>(batch));
    int longest = 0;
    for (int& l : lengths) {
      l = length(rng_);
      longest = std::max(longest, l);
    }
    Episode e = Episode::zeros(input_size(), output_size(), 2 * longest + 1, batch);
    std::bernoulli_distribution coin(0.5);
    for (int b = 0; b < batch; ++b) {
      const int L = lengths[static_cast<std::size_t>(b)];
      for (int t = 0; t < L; ++t) {
        const Eigen::Index in = e.col(t, b), out = e.col(L + 1 + t, b);
        for (int i = 0; i < bits_; ++i)
          if (coin(rng_)) e.x(i, in) = e.target(i, out) = 1.0;
        e.mask(0, out) = 1.0;
      }
      e.x(bits_, e.col(L, b)) = 1.0;
    }
    return e;
  }

  // The Neural Turing Machine paper's measure: wrong bits over a sequence's recall, thresholded at 0.5.
  std::vector<Metric> metrics(const Episode& e, const Eigen::MatrixXd& outputs) const override {
    return {{"error_bits_per_sequence", error_bits_per_sequence(e, outputs)}};
  }

 private:
  int bits_;
  int min_;
  int max_;
  std::mt19937_64 rng_;
};

}  // namespace

// Upper bounds keep sizes within int and memory within reason; they are not part of the task's definition.
CREDO_REGISTER_TASK("bit_copy", BitCopyTask,
                    "read L ~ U{min_length..max_length} random bit vectors, then write them back after a "
                    "delimiter; sigmoid_xent, chance ln 2 per bit; also reports error bits per sequence "
                    "(Graves et al. 2014)",
                    std::vector<OptionSpec>{
                        {"bits", "8", "bits per vector (input bits+1 with the delimiter, output bits)", 1, 10000,
                         true, {}},
                        {"min_length", "1", "shortest sequence", 1, 100000, true, {}},
                        {"max_length", "20", "longest sequence (each sequence draws its length uniformly)", 1,
                         100000, true, {}},
                    });

}  // namespace credo
