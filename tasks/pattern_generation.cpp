// pattern_generation: produce a fixed one-second waveform from fixed random input spike trains (Bellec et al.
// 2020, "A solution to the learning dilemma for recurrent networks of spiking neurons", Nat. Commun. 11:3625,
// Fig. S7).
#include <cmath>
#include <cstdint>
#include <numbers>
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

// One pattern, drawn once from the task's seed and then frozen: `inputs` Poisson spike trains at `rate` Hz over
// duration_ms, and a target that is a sum of four sines with periods 1000, 500, 333 and 200 ms, amplitudes
// U[0.5, 2] and phases U[0, 2π), shifted to start at 0 and scaled to peak at 1 in absolute value. Every episode
// presents the same inputs; the output is scored by squared error at every step. Learning it means turning
// the frozen input spikes into the waveform through the network's dynamics.
class PatternGenerationTask final : public Task {
 public:
  PatternGenerationTask(const Options& o, std::uint64_t seed) : inputs_(o.integer("inputs")) {
    const double dt = o.number("dt");
    const double s = std::round(o.number("duration_ms") / dt);
    if (s < 1 || s > 1e7)
      fail("{}: duration_ms = {} ms is {} steps of dt = {} ms; must be 1 .. 1e7 steps", o.owner(),
           o.number("duration_ms"), s, dt);
    steps_ = static_cast<int>(s);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double p = poisson_probability(o.number("rate"), dt);
    spikes_ = Eigen::MatrixXd::Zero(inputs_, steps_);
    for (int t = 0; t < steps_; ++t)
      for (int i = 0; i < inputs_; ++i) spikes_(i, t) = u(rng) < p ? 1.0 : 0.0;
    target_ = Eigen::VectorXd::Zero(steps_);
    for (double period : {1000.0, 500.0, 333.0, 200.0}) {
      const double amplitude = 0.5 + 1.5 * u(rng), phase = 2 * std::numbers::pi * u(rng);
      for (int t = 0; t < steps_; ++t) target_(t) += amplitude * std::sin(2 * std::numbers::pi * t * dt / period + phase);
    }
    target_.array() -= target_(0);
    target_ /= std::max(target_.cwiseAbs().maxCoeff(), 1e-6);
    chance_ = (target_.array() - target_.mean()).square().mean();
  }

  int input_size() const override { return inputs_; }
  int output_size() const override { return 1; }
  std::string loss() const override { return "mse"; }
  bool has_accuracy() const override { return false; }
  // The best constant output (the target's mean): nothing that ignores time does better on average.
  double chance_loss() const override { return chance_; }

  Episode sample(int batch, int /*steps*/) override {
    if (batch <= 0) fail("task 'pattern_generation': batch must be positive, got {}", batch);
    Episode e = Episode::zeros(input_size(), output_size(), steps_, batch);
    for (int t = 0; t < steps_; ++t)
      for (int b = 0; b < batch; ++b) {
        const Eigen::Index c = e.col(t, b);
        e.x.col(c) = spikes_.col(t);
        e.target(0, c) = target_(t);
        e.mask(0, c) = 1.0;
      }
    return e;
  }

 private:
  int inputs_;
  int steps_ = 0;
  Eigen::MatrixXd spikes_;
  Eigen::VectorXd target_;
  double chance_ = 0;
};

}  // namespace

CREDO_REGISTER_TASK("pattern_generation", PatternGenerationTask,
                    "reproduce a frozen sum of four sines from frozen Poisson inputs (Bellec et al. 2020 Fig. S7); "
                    "mse every step, chance: the target's variance (best constant output)",
                    std::vector<OptionSpec>{
                        {"inputs", "100", "input spike trains", 1, 100000, true, {}},
                        {"rate", "50", "their firing rate (Hz)", 0, 1e6, false, {}},
                        {"duration_ms", "1000", "length of the pattern (ms)", 0, 1e9, false, {}},
                        {"dt", "1", "time step (ms)", 1e-6, 1e6, false, {}},
                    });

}  // namespace credo
