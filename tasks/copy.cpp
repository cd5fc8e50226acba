// copy: reproduce a string of random symbols after a blank delay, on cue (Arjovsky, Shah & Bengio 2016, "Unitary Evolution Recurrent Neural Networks", ICML, sec. 4.1).
#include <cmath>
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

// Input channels: 0..K-1 one-hot symbol, K blank, K+1 recall marker. Every step has exactly one channel on, so
// the network always sees a well-formed one-hot vector and "blank" is a symbol it can key on, as in the paper.
// The sequence is L symbols, `delay` blanks, the marker, then L-1 blanks. The L symbols are scored on the L steps
// starting at the marker step: the first answer is due on the very step the marker arrives, so the task tests
// memory over exactly delay+L steps and nothing else (outputs elsewhere are unscored rather than trained to
// say "blank", which would only dilute the loss with an easy memoryless sub-task).
class CopyTask final : public Task {
 public:
  CopyTask(const Options& o, std::uint64_t seed)
      : symbols_(o.integer("symbols")), length_(o.integer("length")), delay_(o.integer("delay")), rng_(seed) {}

  int input_size() const override { return symbols_ + 2; }
  int output_size() const override { return symbols_; }
  std::string loss() const override { return "softmax_xent"; }
  bool has_accuracy() const override { return true; }
  // Symbols are independent and uniform, so without memory the best output is uniform: loss ln K.
  double chance_loss() const override { return std::log(static_cast<double>(symbols_)); }

  Episode sample(int batch, int /*steps*/) override {
    if (batch <= 0) fail("task 'copy': batch must be positive, got {}", batch);
    const int steps = 2 * length_ + delay_;
    const int blank = symbols_;
    const int marker = symbols_ + 1;
    const int recall = length_ + delay_;  // the marker step, where the first answer is due
    Episode e = Episode::zeros(input_size(), output_size(), steps, batch);
    std::uniform_int_distribution<int> pick(0, symbols_ - 1);
    for (int b = 0; b < batch; ++b) {
      for (int i = 0; i < length_; ++i) {
        const int s = pick(rng_);
        e.x(s, e.col(i, b)) = 1.0;
        e.target(s, e.col(recall + i, b)) = 1.0;
        e.mask(0, e.col(recall + i, b)) = 1.0;
      }
      for (int t = length_; t < steps; ++t) e.x(t == recall ? marker : blank, e.col(t, b)) = 1.0;
    }
    return e;
  }

 private:
  int symbols_;
  int length_;
  int delay_;
  std::mt19937_64 rng_;
};

}  // namespace

// Upper bounds keep sizes within int and memory within reason; they are not part of the task's definition.
CREDO_REGISTER_TASK("copy", CopyTask,
                    "recall L random symbols, starting on the step a marker appears after a blank delay "
                    "(Arjovsky et al. 2016)",
                    std::vector<OptionSpec>{
                        {"symbols", "8", "alphabet size K (input K+2, output K)", 2, 10000, true, {}},
                        {"length", "5", "number of symbols L to remember", 1, 100000, true, {}},
                        {"delay", "10", "blank steps between the last symbol and the recall marker", 0, 1000000,
                         true, {}},
                    });

}  // namespace credo
