// Output losses: mean squared error, softmax cross-entropy and sigmoid cross-entropy, with their gradients.
#pragma once

#include <string>

#include "framework/tensor.h"

namespace credo {

enum class LossKind { mse, softmax_xent, sigmoid_xent };

// Parses "mse" | "softmax_xent" | "sigmoid_xent"; an unknown name is an InputError naming `where`.
LossKind parse_loss(const std::string& name, const std::string& where);
const char* loss_name(LossKind k);

// Sum over batch columns of mask_b * loss(y_b, target_b), where per column
//   mse:          sum_i (y_i - t_i)^2
//   softmax_xent: -sum_i t_i log softmax(y)_i       (targets one-hot or probabilities)
//   sigmoid_xent: sum_i softplus(y_i) - t_i y_i     (= -t log s(y) - (1-t) log(1 - s(y)))
// If dy is given, writes scale * d(that sum)/dy into it (same shape as y).
template <class T>
T loss_and_grad(LossKind kind, const ConstMatRef<T>& y, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
                MatRef<T>* dy, T scale);

// Number of masked columns whose prediction is right: argmax for softmax, every unit on the correct side
// of 0.5 for sigmoid. (Meaningless for mse; returns 0.)
template <class T>
double count_correct(LossKind kind, const ConstMatRef<T>& y, const ConstMatRef<T>& target,
                     const ConstMatRef<T>& mask);

}  // namespace credo
