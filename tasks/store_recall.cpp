// store_recall: store a bit when a store cue comes, recall it when a recall cue comes, ignoring every bit in
// between (Bellec, Salaj, Subramoney, Legenstein & Maass 2018, "Long short-term memory and learning-to-learn in
// networks of spiking neurons", NeurIPS; their store-recall task).
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "framework/error.h"
#include "framework/options.h"
#include "framework/task.h"
#include "tasks/decision.h"

namespace credo {
namespace {

// A trial is `chars` characters of char_ms each. Input channels in four groups of `channels`: bit 0, bit 1,
// store, recall; Poisson spike trains at `rate` Hz while their symbol is shown, silent otherwise. Every
// character shows a random bit, except a recall character, which shows the recall cue alone. Stores and recalls
// alternate: from the start (or after a recall) each character is a store with probability 1 / (1 + delay),
// and after a store each character is a recall with the same probability, so the store-recall delay is about
// `delay` characters. A store character shows its bit beside the store cue; the recall character asks for the
// bit of the last store and is scored, all its steps, by cross-entropy over the two bits. Each trial holds at
// least one store followed by a recall (trials without are drawn again).
class StoreRecallTask final : public Task {
 public:
  StoreRecallTask(const Options& o, std::uint64_t seed)
      : chars_(o.integer("chars")),
        channels_(o.integer("channels")),
        delay_(o.number("delay")),
        rate_(o.number("rate")),
        dt_(o.number("dt")),
        rng_(seed) {
    const double s = std::round(o.number("char_ms") / dt_);
    if (s < 1 || s > 1e7)
      fail("{}: char_ms = {} ms is {} steps of dt = {} ms; must be 1 .. 1e7 steps", o.owner(), o.number("char_ms"), s,
           dt_);
    char_steps_ = static_cast<int>(s);
    if (chars_ < 2) fail("{}: chars must be at least 2 (a store and a recall)", o.owner());
  }

  int input_size() const override { return 4 * channels_; }
  int output_size() const override { return 2; }
  std::string loss() const override { return "softmax_xent"; }
  bool has_accuracy() const override { return true; }
  // The stored bit is a fair coin the recall character does not show.
  double chance_loss() const override { return std::log(2.0); }

  Episode sample(int batch, int /*steps*/) override {
    if (batch <= 0) fail("task 'store_recall': batch must be positive, got {}", batch);
    Episode e = Episode::zeros(input_size(), output_size(), chars_ * char_steps_, batch);
    std::bernoulli_distribution coin(0.5), signal(1.0 / (1.0 + delay_));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double p_spike = poisson_probability(rate_, dt_);
    enum Symbol { bit0 = 0, bit1 = 1, store = 2, recall = 3 };
    for (int b = 0; b < batch; ++b) {
      std::vector<int> bit(chars_), kind(chars_), answer(chars_, -1);
      for (bool valid = false; !valid;) {
        bool stored = false;
        int memory = 0;
        valid = false;
        for (int c = 0; c < chars_; ++c) {
          bit[c] = coin(rng_) ? 1 : 0;
          kind[c] = -1;
          answer[c] = -1;
          if (!stored && signal(rng_)) {
            kind[c] = store, stored = true, memory = bit[c];
          } else if (stored && signal(rng_)) {
            kind[c] = recall, stored = false, answer[c] = memory, valid = true;
          }
        }
      }
      for (int c = 0; c < chars_; ++c)
        for (int s = 0; s < char_steps_; ++s) {
          const Eigen::Index col = e.col(c * char_steps_ + s, b);
          for (int i = 0; i < channels_; ++i) {
            if (kind[c] != recall && u(rng_) < p_spike) e.x(bit[c] * channels_ + i, col) = 1.0;
            if (kind[c] >= 0 && u(rng_) < p_spike) e.x(kind[c] * channels_ + i, col) = 1.0;
          }
          if (answer[c] >= 0) {
            e.target(answer[c], col) = 1.0;
            e.mask(0, col) = 1.0;
          }
        }
    }
    return e;
  }

  // The bit read from the outputs averaged over each recall character.
  std::vector<Metric> metrics(const Episode& e, const Eigen::MatrixXd& outputs) const override {
    return {{"decision_accuracy", decision_accuracy(e, outputs)}};
  }

 private:
  int chars_, channels_;
  double delay_, rate_, dt_;
  int char_steps_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace

CREDO_REGISTER_TASK("store_recall", StoreRecallTask,
                    "store a bit on a store cue, recall it on a recall cue after a random delay, Poisson inputs "
                    "(Bellec et al. 2018); softmax_xent on recall characters, chance ln 2; also reports the "
                    "decision accuracy (outputs averaged over each recall character)",
                    std::vector<OptionSpec>{
                        {"chars", "12", "characters per trial", 2, 100000, true, {}},
                        {"char_ms", "200", "duration of a character (ms)", 0, 1e9, false, {}},
                        {"delay", "6", "mean store-recall delay in characters (store and recall probability "
                                       "1/(1+delay) per character)", 0, 1000, false, {}},
                        {"channels", "25", "input channels per group (4 groups: bit 0, bit 1, store, recall)", 1,
                         100000, true, {}},
                        {"rate", "50", "firing rate of an active group (Hz)", 0, 1e6, false, {}},
                        {"dt", "1", "time step (ms)", 1e-6, 1e6, false, {}},
                    });

}  // namespace credo
