// delayed_recall: store cued values, hold them through a delay (optionally full of uncued distractors) and recall them in order on cue -- a working-memory task generalizing the store-ignore-recall task of O'Reilly & Frank 2006, "Making Working Memory Work", Neural Computation 18(2).
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

// Input channels: 0..K-1 one-hot value, K store cue, K+1 recall cue. The sequence is `items` store steps (value
// plus store cue), `delay` steps, then `items` recall steps (recall cue alone) scored against the stored values
// in order. With distractors, each delay step shows a random value without the store cue: the network must
// gate its memory on the cue rather than just keep the latest value, which is what separates this task from
// a plain delay.
class DelayedRecallTask final : public Task {
 public:
  DelayedRecallTask(const Options& o, std::uint64_t seed)
      : values_(o.integer("values")),
        items_(o.integer("items")),
        delay_(o.integer("delay")),
        distractors_(o.integer("distractors") != 0),
        rng_(seed) {}

  int input_size() const override { return values_ + 2; }
  int output_size() const override { return values_; }
  std::string loss() const override { return "softmax_xent"; }
  bool has_accuracy() const override { return true; }
  // Stored values are independent and uniform, so without memory the best output is uniform: loss ln K.
  double chance_loss() const override { return std::log(static_cast<double>(values_)); }

  Episode sample(int batch, int /*steps*/) override {
    if (batch <= 0) fail("task 'delayed_recall': batch must be positive, got {}", batch);
    const int steps = 2 * items_ + delay_;
    const int store = values_;
    const int recall = values_ + 1;
    const int first_recall = items_ + delay_;
    Episode e = Episode::zeros(input_size(), output_size(), steps, batch);
    std::uniform_int_distribution<int> pick(0, values_ - 1);
    for (int b = 0; b < batch; ++b) {
      for (int i = 0; i < items_; ++i) {
        const int v = pick(rng_);
        e.x(v, e.col(i, b)) = 1.0;
        e.x(store, e.col(i, b)) = 1.0;
        const Eigen::Index r = e.col(first_recall + i, b);
        e.x(recall, r) = 1.0;
        e.target(v, r) = 1.0;
        e.mask(0, r) = 1.0;
      }
      if (distractors_)
        for (int t = items_; t < first_recall; ++t) e.x(pick(rng_), e.col(t, b)) = 1.0;
    }
    return e;
  }

 private:
  int values_;
  int items_;
  int delay_;
  bool distractors_;
  std::mt19937_64 rng_;
};

}  // namespace

// Upper bounds keep sizes within int and memory within reason; they are not part of the task's definition.
CREDO_REGISTER_TASK("delayed_recall", DelayedRecallTask,
                    "store cued values, wait through a delay (optionally with uncued distractors), recall them "
                    "in order on cue",
                    std::vector<OptionSpec>{
                        {"values", "4", "number of distinct values K (input K+2, output K)", 2, 10000, true, {}},
                        {"items", "1", "values stored, then recalled in the same order", 1, 100000, true, {}},
                        {"delay", "10", "steps between the last store and the first recall", 0, 1000000, true,
                         {}},
                        {"distractors", "0", "1: each delay step shows a random value without the store cue", 0,
                         1, true, {}},
                    });

}  // namespace credo
