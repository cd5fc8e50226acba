// Error bits per sequence: the score the Neural Turing Machine papers report for their bit-vector tasks.
#pragma once

#include <Eigen/Core>

#include "framework/task.h"

namespace credo {

// The mean over the episode's sequences of the number of scored output bits on the wrong side of 0.5: a bit is
// predicted 1 when its sigmoid output exceeds 0.5 (its logit is positive) and is wrong when that differs from a
// target above 0.5. `outputs` are the network's logits, laid out like e.target.
double error_bits_per_sequence(const Episode& e, const Eigen::MatrixXd& outputs);

}  // namespace credo
