// Optimizers on the flat parameter vector: SGD and Adam, with optional gradient-norm clipping.
#pragma once

#include <string>

#include "framework/tensor.h"

namespace credo {

struct OptimizerConfig {
  std::string name = "adam";  // sgd | adam
  double lr = 1e-3;
  double clip = 0;  // clip the gradient's 2-norm to this; 0: no clipping
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

template <class T>
class Optimizer {
 public:
  Optimizer(const OptimizerConfig& c, int params);
  // θ -= step(grad). grad is clipped in place; its norm before clipping is returned.
  double apply(Vec<T>& theta, Vec<T>& grad);

 private:
  OptimizerConfig c_;
  Vec<T> m_, v_;
  long t_ = 0;
};

extern template class Optimizer<float>;
extern template class Optimizer<double>;

}  // namespace credo
