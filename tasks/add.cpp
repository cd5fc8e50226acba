// add: predict a soft coin whose bias depends on the input bits t1 and t2 steps back, in an endless stream (Pitis 2016, "Recurrent Neural Networks in Tensorflow I", r2rt.com; used by Marschall, Cho & Savin 2020, "A Unified Framework of Online Learning Algorithms for Training Recurrent Neural Networks", JMLR).
#include "tasks/add.h"

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

namespace credo {

namespace {

double target_probability(double x1, double x2) { return 0.5 + 0.5 * x1 - 0.25 * x2; }

double binary_entropy(double q) {
  double h = 0.0;
  if (q > 0.0) h -= q * std::log(q);
  if (q < 1.0) h -= (1.0 - q) * std::log(1.0 - q);
  return h;
}

}  // namespace

double add_task_loss_with_lags(int t1, int t2, bool know_t1, bool know_t2) {
  if (t1 < 1 || t2 < 1) fail("add task: lags must be >= 1, got t1={} t2={}", t1, t2);
  // The four equally likely (x[t-t1], x[t-t2]) cases; with t1 == t2 they are the same bit, so only the two
  // cases with x1 == x2 occur (each with probability 1/2). Group the cases by what the predictor knows; within
  // a group its best output is the group's mean p, and its expected loss is the entropy of that mean.
  struct Case {
    int x1, x2;
    double weight;
  };
  std::vector<Case> cases;
  for (int x1 = 0; x1 <= 1; ++x1)
    for (int x2 = 0; x2 <= 1; ++x2)
      if (t1 != t2) cases.push_back({x1, x2, 0.25});
      else if (x1 == x2) cases.push_back({x1, x2, 0.5});
  double loss = 0.0;
  for (int k1 = 0; k1 <= 1; ++k1) {
    for (int k2 = 0; k2 <= 1; ++k2) {
      // Group (k1, k2): the cases agreeing with k1 on x1 if x1 is known, and with k2 on x2 if x2 is known. When a
      // bit is unknown, only k = 0 is used, so each case lands in exactly one group.
      if ((!know_t1 && k1 == 1) || (!know_t2 && k2 == 1)) continue;
      double w = 0.0, wp = 0.0;
      for (const auto& c : cases) {
        if (know_t1 && c.x1 != k1) continue;
        if (know_t2 && c.x2 != k2) continue;
        w += c.weight;
        wp += c.weight * target_probability(c.x1, c.x2);
      }
      if (w > 0.0) loss += w * binary_entropy(wp / w);
    }
  }
  return loss;
}

namespace {

// Each batch column is one endless stream of fair bits x_t; the target at step t is the soft label
// p_t = 0.5 + 0.5 x[t-t1] - 0.25 x[t-t2]. Bits before the stream started count as 0. Because t1, t2 >= 1 the
// target never depends on the current input, so the only way below chance is to remember the past; the two lags
// give two graded levels of success (see add.h). Every step is scored, as the stream has no episodes.
class AddTask final : public Task {
 public:
  AddTask(const Options& o, std::uint64_t seed)
      : t1_(o.integer("t1")), t2_(o.integer("t2")), lag_(std::max(t1_, t2_)), rng_(seed) {}

  int input_size() const override { return 1; }
  int output_size() const override { return 1; }
  std::string loss() const override { return "sigmoid_xent"; }
  bool streaming() const override { return true; }
  bool has_accuracy() const override { return false; }
  // Cross-entropy against a soft target includes the target's own entropy, so the memoryless optimum (output
  // E[p] = 0.625 everywhere) scores H(E[p]), not the mean of H(p).
  double chance_loss() const override { return add_task_loss_with_lags(t1_, t2_, false, false); }
  // The best a predictor remembering only x[t - t1] can do, and the optimum (remembering both lags).
  std::vector<Metric> reference_losses() const override {
    return {{"first_lag_only", add_task_loss_with_lags(t1_, t2_, true, false)},
            {"both_lags", add_task_loss_with_lags(t1_, t2_, true, true)}};
  }

  Episode sample(int batch, int steps) override {
    if (steps <= 0) fail("task 'add': streaming sample needs steps > 0, got {}", steps);
    if (batch <= 0) fail("task 'add': batch must be positive, got {}", batch);
    if (batch != batch_) {
      // A different batch is a different set of streams; the trainer resets the network state to match.
      batch_ = batch;
      history_.assign(static_cast<std::size_t>(batch) * lag_, 0.0);
      head_ = 0;
    }
    Episode e = Episode::zeros(1, 1, steps, batch);
    e.mask.setOnes();
    std::bernoulli_distribution coin(0.5);
    for (int t = 0; t < steps; ++t) {
      for (int b = 0; b < batch; ++b) {
        const Eigen::Index c = static_cast<Eigen::Index>(t) * batch + b;
        const double x = coin(rng_) ? 1.0 : 0.0;
        // Read both lags before overwriting the oldest slot, which holds x[t-lag_] and may be one of them.
        e.target(0, c) = target_probability(back(b, t1_), back(b, t2_));
        e.x(0, c) = x;
        history_[slot(b, head_)] = x;
      }
      head_ = (head_ + 1) % lag_;
    }
    return e;
  }

 private:
  // Per column a ring of the last lag_ inputs, all columns advancing together: slot head_ holds x[t-lag_], the
  // one about to be replaced by x[t].
  std::size_t slot(int b, int i) const { return static_cast<std::size_t>(b) * lag_ + i; }
  double back(int b, int k) const { return history_[slot(b, (head_ + lag_ - k) % lag_)]; }

  int t1_;
  int t2_;
  int lag_;
  std::mt19937_64 rng_;
  int batch_ = 0;
  int head_ = 0;
  std::vector<double> history_;
};

}  // namespace

// Upper bounds keep the per-stream history small; they are not part of the task's definition.
CREDO_REGISTER_TASK("add", AddTask,
                    "streaming: predict p = 0.5 + 0.5 x[t-t1] - 0.25 x[t-t2] from a stream of fair bits x "
                    "(Pitis 2016; Marschall et al. 2020)",
                    std::vector<OptionSpec>{
                        {"t1", "5", "lag of the bit that raises p by 0.5", 1, 100000, true, {}},
                        {"t2", "9", "lag of the bit that lowers p by 0.25", 1, 100000, true, {}},
                    });

}  // namespace credo
