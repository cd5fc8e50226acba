// Decision accuracy: the score of tasks that ask for one answer over a window of steps (cue accumulation,
// store-recall), where the answer is read from the outputs averaged over the window.
#pragma once

#include <Eigen/Core>

#include "framework/task.h"

namespace credo {

// Each maximal run of consecutive scored steps of a sequence is one decision: the argmax of the outputs
// averaged over the run, right when it is the argmax of the target (constant over the run). The fraction of
// decisions right over the episode; `outputs` are laid out like e.target.
double decision_accuracy(const Episode& e, const Eigen::MatrixXd& outputs);

// A Poisson spike train sampled per step: 1 with probability rate_hz * dt_ms / 1000.
inline double poisson_probability(double rate_hz, double dt_ms) { return rate_hz * dt_ms / 1000.0; }

}  // namespace credo
