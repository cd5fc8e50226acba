// cue_accumulation: count left and right cues and, after a long delay, report the side that had more (Bellec et
// al. 2020, "A solution to the learning dilemma for recurrent networks of spiking neurons", Nat. Commun. 11:3625,
// Fig. 3; after the evidence-accumulation task of Morcos & Harvey 2016).
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

// Input channels in four groups of `channels`: left cue, right cue, recall cue, background noise; all Poisson
// spike trains sampled per step of dt ms. Each trial picks a majority side at random; each of the `cues` cues
// falls on that side with probability p. Cue k makes its side's group fire at `rate` Hz during
// [interval - cue + k interval, interval + k interval) ms (a silence of interval - cue ms before each cue); the
// noise group fires at noise_rate Hz throughout; after the last cue comes a gap of gap_ms, then the recall group
// fires at `rate` Hz for recall_ms, the window scored by cross-entropy against the side with more cues (right
// when more than half of them were right). Outputs: left, right. With the defaults a trial lasts 2250 ms.
class CueAccumulationTask final : public Task {
 public:
  CueAccumulationTask(const Options& o, std::uint64_t seed)
      : cues_(o.integer("cues")),
        channels_(o.integer("channels")),
        p_(o.number("p")),
        rate_(o.number("rate")),
        noise_rate_(o.number("noise_rate")),
        dt_(o.number("dt")),
        rng_(seed) {
    auto steps = [&](const char* name) {
      const double s = std::round(o.number(name) / dt_);
      if (s < 1 || s > 1e7) fail("{}: {} = {} ms is {} steps of dt = {} ms; must be 1 .. 1e7 steps", o.owner(), name,
                                 o.number(name), s, dt_);
      return static_cast<int>(s);
    };
    cue_ = steps("cue_ms");
    interval_ = steps("interval_ms");
    gap_ = steps("gap_ms");
    recall_ = steps("recall_ms");
    if (cue_ > interval_) fail("{}: cue_ms ({}) is longer than interval_ms ({})", o.owner(), o.number("cue_ms"),
                               o.number("interval_ms"));
    steps_ = cues_ * interval_ + gap_ + recall_;
  }

  int input_size() const override { return 4 * channels_; }
  int output_size() const override { return 2; }
  std::string loss() const override { return "softmax_xent"; }
  bool has_accuracy() const override { return true; }
  // Both sides are equally likely and nothing before the recall is visible to a memoryless predictor.
  double chance_loss() const override { return std::log(2.0); }

  Episode sample(int batch, int /*steps*/) override {
    if (batch <= 0) fail("task 'cue_accumulation': batch must be positive, got {}", batch);
    Episode e = Episode::zeros(input_size(), output_size(), steps_, batch);
    std::bernoulli_distribution coin(0.5), majority(p_);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double p_cue = poisson_probability(rate_, dt_), p_noise = poisson_probability(noise_rate_, dt_);
    const int recall_from = steps_ - recall_;
    for (int b = 0; b < batch; ++b) {
      const int side = coin(rng_) ? 1 : 0;
      int right = 0;
      std::vector<int> sides(cues_);
      for (int k = 0; k < cues_; ++k) {
        sides[k] = majority(rng_) ? side : 1 - side;
        right += sides[k];
      }
      const int label = 2 * right > cues_ ? 1 : 0;
      for (int t = 0; t < steps_; ++t) {
        const Eigen::Index c = e.col(t, b);
        int group = -1;
        const int k = t / interval_;
        if (k < cues_ && t % interval_ >= interval_ - cue_) group = sides[k];
        if (t >= recall_from) group = 2;
        for (int i = 0; i < channels_; ++i) {
          if (group >= 0 && u(rng_) < p_cue) e.x(group * channels_ + i, c) = 1.0;
          if (u(rng_) < p_noise) e.x(3 * channels_ + i, c) = 1.0;
        }
        if (t >= recall_from) {
          e.target(label, c) = 1.0;
          e.mask(0, c) = 1.0;
        }
      }
    }
    return e;
  }

  // Bellec et al.'s measure: the side read from the outputs averaged over the recall window.
  std::vector<Metric> metrics(const Episode& e, const Eigen::MatrixXd& outputs) const override {
    return {{"decision_accuracy", decision_accuracy(e, outputs)}};
  }

 private:
  int cues_, channels_;
  double p_, rate_, noise_rate_, dt_;
  int cue_ = 0, interval_ = 0, gap_ = 0, recall_ = 0, steps_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace

CREDO_REGISTER_TASK("cue_accumulation", CueAccumulationTask,
                    "count left and right Poisson cues, answer the majority side after a delay (Bellec et al. "
                    "2020 Fig. 3); softmax_xent over the recall window, chance ln 2; also reports the decision "
                    "accuracy (outputs averaged over the window)",
                    std::vector<OptionSpec>{
                        {"cues", "7", "cues per trial", 1, 1000, true, {}},
                        {"p", "0.7", "probability that a cue falls on the trial's majority side", 0, 1, false, {}},
                        {"channels", "10", "input channels per group (4 groups: left, right, recall, noise)", 1,
                         100000, true, {}},
                        {"cue_ms", "100", "duration of a cue (ms)", 0, 1e9, false, {}},
                        {"interval_ms", "150", "one cue every interval_ms (ms)", 0, 1e9, false, {}},
                        {"gap_ms", "1050", "from the end of the last cue to the recall cue (ms)", 0, 1e9, false, {}},
                        {"recall_ms", "150", "recall window, scored (ms)", 0, 1e9, false, {}},
                        {"rate", "40", "firing rate of a cue or recall group (Hz)", 0, 1e6, false, {}},
                        {"noise_rate", "10", "firing rate of the noise group (Hz)", 0, 1e6, false, {}},
                        {"dt", "1", "time step (ms)", 1e-6, 1e6, false, {}},
                    });

}  // namespace credo
