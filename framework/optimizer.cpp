#include "framework/optimizer.h"

#include <cmath>

#include "framework/error.h"

namespace credo {

template <class T>
Optimizer<T>::Optimizer(const OptimizerConfig& c, int params) : c_(c) {
  if (c.name != "sgd" && c.name != "adam") fail("--optimizer is '{}', must be sgd or adam", c.name);
  if (!(c.lr > 0) || !std::isfinite(c.lr)) fail("--lr is {}, must be a positive number", c.lr);
  if (!(c.clip >= 0) || !std::isfinite(c.clip)) fail("--clip is {}, must be >= 0 (0: no clipping)", c.clip);
  if (c.name == "adam") m_ = Vec<T>::Zero(params), v_ = Vec<T>::Zero(params);
}

template <class T>
double Optimizer<T>::apply(Vec<T>& theta, Vec<T>& grad) {
  const double norm = static_cast<double>(grad.norm());
  if (c_.clip > 0 && norm > c_.clip) grad *= static_cast<T>(c_.clip / norm);
  if (c_.name == "sgd") {
    theta.noalias() -= static_cast<T>(c_.lr) * grad;
    return norm;
  }
  ++t_;
  const T b1 = static_cast<T>(c_.beta1), b2 = static_cast<T>(c_.beta2);
  m_ = b1 * m_ + (T(1) - b1) * grad;
  v_ = b2 * v_ + (T(1) - b2) * grad.cwiseAbs2();
  const T step = static_cast<T>(c_.lr * std::sqrt(1 - std::pow(c_.beta2, t_)) / (1 - std::pow(c_.beta1, t_)));
  theta.array() -= step * m_.array() / (v_.array().sqrt() + static_cast<T>(c_.eps));
  return norm;
}

template class Optimizer<float>;
template class Optimizer<double>;

}  // namespace credo
