// Optimizers on the flat parameter vector: SGD and Adam, with optional gradient-norm clipping, a learning-rate
// schedule (step, cosine, linear warm-up) and decoupled weight decay.
#pragma once

#include <string>

#include "framework/tensor.h"

namespace credo {

struct OptimizerConfig {
  std::string name = "adam";  // sgd | adam
  double lr = 1e-3;
  double clip = 0;  // clip the gradient's 2-norm to this; 0: no clipping
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  // The learning rate over updates k = 0, 1, ...: "constant"; "step:every=N:factor=F" (lr F^floor(k / N);
  // defaults every=1000, factor=0.1);
  // "cosine" or "cosine:min=F" (from lr down to F lr at update `total`, half a cosine period).
  std::string schedule = "constant";
  long warmup = 0;  // the first `warmup` updates scale the rate by (k + 1) / warmup (linear warm-up)
  // Decoupled weight decay (Loshchilov & Hutter 2019): every update first shrinks θ by lr_k weight_decay θ.
  double weight_decay = 0;
  long total = 0;  // the updates of the whole run: the cosine schedule's horizon
};

// What an optimizer carries from one update to the next, for checkpoints.
template <class T>
struct OptimizerState {
  long updates = 0;  // updates applied so far
  Vec<T> m, v;       // Adam's moment estimates (empty for SGD)
};

template <class T>
class Optimizer {
 public:
  // Checks the configuration: an unknown optimizer or schedule, or a value out of range, is an InputError naming
  // its option (--optimizer, --lr, --clip, --lr-schedule, --warmup, --weight-decay).
  Optimizer(const OptimizerConfig& c, int params);
  // θ -= step(grad). grad is clipped in place; its norm before clipping is returned.
  double apply(Vec<T>& theta, Vec<T>& grad);
  // The learning rate of update k (0-based), schedule and warm-up applied.
  double rate(long k) const;
  long updates() const { return updates_; }

  OptimizerState<T> state() const { return {updates_, m_, v_}; }
  // Restores a state saved by state(); one of another size is an InputError naming `source`.
  void set_state(const OptimizerState<T>& s, const std::string& source);

 private:
  OptimizerConfig c_;
  int params_ = 0;
  enum class Schedule { constant, step, cosine } schedule_ = Schedule::constant;
  long every_ = 0;
  double factor_ = 1, min_ = 0;
  Vec<T> m_, v_;
  long updates_ = 0;
};

extern template class Optimizer<float>;
extern template class Optimizer<double>;

}  // namespace credo
