#include "framework/optimizer.h"

#include <cmath>
#include <numbers>

#include "framework/error.h"
#include "framework/options.h"

namespace credo {

template <class T>
Optimizer<T>::Optimizer(const OptimizerConfig& c, int params) : c_(c), params_(params) {
  if (c.name != "sgd" && c.name != "adam") fail("--optimizer is '{}', must be sgd or adam", c.name);
  if (!(c.lr > 0) || !std::isfinite(c.lr)) fail("--lr is {}, must be a positive number", c.lr);
  if (!(c.clip >= 0) || !std::isfinite(c.clip)) fail("--clip is {}, must be >= 0 (0: no clipping)", c.clip);
  if (c.warmup < 0) fail("--warmup is {}, must be >= 0 (0: none)", c.warmup);
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay))
    fail("--weight-decay is {}, must be >= 0 (0: none)", c.weight_decay);
  // The schedule: a name, then k=v options as in "step:every=1000:factor=0.5".
  const auto colon = c.schedule.find(':');
  const std::string name = c.schedule.substr(0, colon);
  const auto given = parse_key_values(
      colon == std::string::npos ? std::vector<std::string>{} : split_list(c.schedule.substr(colon + 1), ":,"),
      "--lr-schedule");
  const std::string owner = fmt::format("--lr-schedule '{}'", name);
  if (name == "constant") {
    Options(owner, {}, given);
  } else if (name == "step") {
    const Options o(owner,
                    {{"every", "1000", "updates between reductions", 1, 1e15, true, {}},
                     {"factor", "0.1", "what each reduction multiplies the rate by", 0, 1, false, {}}},
                    given);
    schedule_ = Schedule::step;
    every_ = static_cast<long>(o.number("every"));
    factor_ = o.number("factor");
  } else if (name == "cosine") {
    const Options o(owner, {{"min", "0", "the final rate, as a fraction of --lr", 0, 1, false, {}}}, given);
    schedule_ = Schedule::cosine;
    min_ = o.number("min");
  } else {
    fail("--lr-schedule is '{}', must be constant, step[:every=N][:factor=F] or cosine[:min=F]", c.schedule);
  }
  if (c.name == "adam") m_ = Vec<T>::Zero(params), v_ = Vec<T>::Zero(params);
}

template <class T>
double Optimizer<T>::rate(long k) const {
  double lr = c_.lr;
  switch (schedule_) {
    case Schedule::constant: break;
    case Schedule::step: lr *= std::pow(factor_, static_cast<double>(k / every_)); break;
    case Schedule::cosine: {
      const double x = c_.total > 0 ? std::min(1.0, static_cast<double>(k) / static_cast<double>(c_.total)) : 0.0;
      lr *= min_ + (1 - min_) * 0.5 * (1 + std::cos(std::numbers::pi * x));
      break;
    }
  }
  if (k < c_.warmup) lr *= static_cast<double>(k + 1) / static_cast<double>(c_.warmup);
  return lr;
}

template <class T>
double Optimizer<T>::apply(Vec<T>& theta, Vec<T>& grad) {
  const double norm = static_cast<double>(grad.norm());
  if (c_.clip > 0 && norm > c_.clip) grad *= static_cast<T>(c_.clip / norm);
  const double lr = rate(updates_);
  ++updates_;
  if (c_.weight_decay > 0) theta *= static_cast<T>(1 - lr * c_.weight_decay);
  if (c_.name == "sgd") {
    theta.noalias() -= static_cast<T>(lr) * grad;
    return norm;
  }
  const long t = updates_;
  const T b1 = static_cast<T>(c_.beta1), b2 = static_cast<T>(c_.beta2);
  m_ = b1 * m_ + (T(1) - b1) * grad;
  v_ = b2 * v_ + (T(1) - b2) * grad.cwiseAbs2();
  const T step = static_cast<T>(lr * std::sqrt(1 - std::pow(c_.beta2, t)) / (1 - std::pow(c_.beta1, t)));
  theta.array() -= step * m_.array() / (v_.array().sqrt() + static_cast<T>(c_.eps));
  return norm;
}

template <class T>
void Optimizer<T>::set_state(const OptimizerState<T>& s, const std::string& source) {
  if (s.updates < 0) fail("{}: a negative update count ({})", source, s.updates);
  const bool adam = c_.name == "adam";
  if (adam && (s.m.size() != params_ || s.v.size() != params_))
    fail("{}: the optimizer state holds {} and {} moments, but the model has {} parameters", source, s.m.size(),
         s.v.size(), params_);
  if (!adam && (s.m.size() != 0 || s.v.size() != 0))
    fail("{}: the optimizer state holds Adam's moments, but the run uses sgd", source);
  updates_ = s.updates;
  if (adam) m_ = s.m, v_ = s.v;
}

template class Optimizer<float>;
template class Optimizer<double>;

}  // namespace credo
