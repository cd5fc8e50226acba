// Feedback pathways for local learning rules: the matrix B that carries the output error back to a hidden
// population in place of the readout's Wᵀ, fixed or learned by the rules of Kunin et al. 2020, "Two routes to
// scalable credit assignment without weight symmetry" (ICML).
#pragma once

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "framework/error.h"
#include "framework/options.h"
#include "framework/tensor.h"

namespace credo {

// A learning rule for B (n_in x n_out) beside forward weights W (n_out x n_in) that map the readout's input x
// (here a hidden population's output) to r = W x. B descends a weighted sum of Kunin et al.'s primitives, with
// expectations over the batch, one step per time step:
//   Decay   P = ‖B‖²             dP/dB = 2B
//   Amp     P = −E[xᵀ B r]       dP/dB = −E[x rᵀ]          (Hebbian between the readout's input and output)
//   Null    P = E‖B r‖²          dP/dB = 2 E[(B r) rᵀ]
//   Sparse  P = E‖Bᵀ x‖²         dP/dB = 2 E[x xᵀ] B
//   Self    P = −tr(B W)         dP/dB = −Wᵀ               (needs W where B is: not local)
// and, for Kolen-Pollack, B also takes every change of W since the last step, transposed (with Adam on W, this
// is Adam on W's gradient given to B as well, the optimizer being elementwise). The named rules and credo's
// default coefficients (alpha, beta, gamma in the order written; -1 takes these):
//   feedback_alignment      nothing: B stays as drawn (Lillicrap et al. 2016)
//   kolen_pollack           alpha Decay (0), and B takes W's updates: without decay B = B₀ + (W − W₀)ᵀ, aligning
//                           with Wᵀ as W moves away from its start (Kolen & Pollack decay W as well, which
//                           credo's optimizers leave to the user)
//   weight_mirror           alpha Decay + beta Amp (0.5, 1): B → (beta / 2 alpha) E[x xᵀ] Wᵀ
//   information_alignment   alpha Amp + beta Null + gamma Decay (1, 1, 0.5)
//   symmetric_alignment     alpha Decay + beta Self (0.5, 1): B → (beta / 2 alpha) Wᵀ
//   activation_alignment    alpha Sparse + beta Amp (0.5, 1): B → (beta / 2 alpha) Wᵀ for whitened x
struct FeedbackRule {
  std::string name = "feedback_alignment";
  double decay = 0, amp = 0, null = 0, sparse = 0, self = 0;
  bool tie = false;  // Kolen-Pollack: B takes W's updates
};

inline FeedbackRule feedback_rule(const std::string& name, double alpha, double beta, double gamma) {
  auto pick = [](double given, double fallback) { return given < 0 ? fallback : given; };
  FeedbackRule r;
  r.name = name;
  if (name == "feedback_alignment") return r;
  if (name == "kolen_pollack") {
    r.tie = true;
    r.decay = pick(alpha, 0);
  } else if (name == "weight_mirror") {
    r.decay = pick(alpha, 0.5), r.amp = pick(beta, 1);
  } else if (name == "information_alignment") {
    r.amp = pick(alpha, 1), r.null = pick(beta, 1), r.decay = pick(gamma, 0.5);
  } else if (name == "symmetric_alignment") {
    r.decay = pick(alpha, 0.5), r.self = pick(beta, 1);
  } else if (name == "activation_alignment") {
    r.sparse = pick(alpha, 0.5), r.amp = pick(beta, 1);
  } else {
    fail("unknown feedback rule '{}'", name);
  }
  return r;
}

// The options an algorithm with learned feedback takes (besides `feedback` and `seed`).
inline std::vector<OptionSpec> feedback_rule_options() {
  return {{"rule", "kolen_pollack",
           "feedback=adaptive: how B learns (Kunin et al. 2020): kolen_pollack | weight_mirror | "
           "information_alignment | symmetric_alignment | activation_alignment | feedback_alignment",
           -1e300, 1e300, false,
           {"kolen_pollack", "weight_mirror", "information_alignment", "symmetric_alignment", "activation_alignment",
            "feedback_alignment"}},
          {"alpha", "-1", "first coefficient of the rule (-1: its default)", -1, 1e12, false, {}},
          {"beta", "-1", "second coefficient of the rule (-1: its default)", -1, 1e12, false, {}},
          {"gamma", "-1", "third coefficient of the rule (-1: its default)", -1, 1e12, false, {}},
          {"feedback_lr", "0.0001", "step size of B's rule per time step", 0, 1e12, false, {}}};
}

inline FeedbackRule feedback_rule(const Options& o) {
  return feedback_rule(o.word("rule"), o.number("alpha"), o.number("beta"), o.number("gamma"));
}

// One feedback matrix B, drawn N(0, sd²) and then fixed or learned.
template <class T>
class FeedbackPathway {
 public:
  void draw(int rows, int cols, double sd, std::mt19937_64& rng) {
    std::normal_distribution<double> normal(0.0, sd);
    b_.resize(rows, cols);
    for (auto& v : b_.reshaped()) v = static_cast<T>(normal(rng));
    following_ = false;
  }
  const Mat<T>& matrix() const { return b_; }
  Mat<T>& matrix() { return b_; }

  // Kolen-Pollack's tie: B takes the change of W (n_out x n_in) since the last call, transposed.
  void follow(const FeedbackRule& rule, const Eigen::Ref<const Mat<T>>& w) {
    if (!rule.tie) return;
    if (following_) b_ += (w - last_w_).transpose();
    last_w_ = w;
    following_ = true;
  }

  // One descent step on the rule's primitives with step size lr: W the forward weights (n_out x n_in), x the
  // readout's input at this step (n_in x batch).
  void learn(const FeedbackRule& rule, T lr, const Eigen::Ref<const Mat<T>>& w, const Eigen::Ref<const Mat<T>>& x) {
    if (rule.decay == 0 && rule.amp == 0 && rule.null == 0 && rule.sparse == 0 && rule.self == 0) return;
    grad_.setZero(b_.rows(), b_.cols());
    const T inv_batch = T(1) / static_cast<T>(x.cols());
    if (rule.decay != 0) grad_ += static_cast<T>(2 * rule.decay) * b_;
    if (rule.amp != 0 || rule.null != 0) {
      r_.noalias() = w * x;
      if (rule.amp != 0) grad_.noalias() -= (static_cast<T>(rule.amp) * inv_batch) * x * r_.transpose();
      if (rule.null != 0) {
        br_.noalias() = b_ * r_;
        grad_.noalias() += (static_cast<T>(2 * rule.null) * inv_batch) * br_ * r_.transpose();
      }
    }
    if (rule.sparse != 0) {
      xb_.noalias() = x.transpose() * b_;
      grad_.noalias() += (static_cast<T>(2 * rule.sparse) * inv_batch) * x * xb_;
    }
    if (rule.self != 0) grad_ -= static_cast<T>(rule.self) * w.transpose();
    b_ -= lr * grad_;
  }

  // cos(B, Wᵀ) over all entries: 1 when B is a positive multiple of the readout's transpose.
  double alignment(const Eigen::Ref<const Mat<T>>& w) const {
    const double nb = static_cast<double>(b_.norm()), nw = static_cast<double>(w.norm());
    if (nb == 0 || nw == 0) return 0;
    return static_cast<double>((b_.array() * w.transpose().array()).sum()) / (nb * nw);
  }

 private:
  Mat<T> b_, last_w_, grad_, r_, br_, xb_;
  bool following_ = false;
};

}  // namespace credo
