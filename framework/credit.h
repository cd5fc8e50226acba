// The credit-algorithm interface: how an algorithm carries "which parameter, used when, caused this loss".
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/options.h"
#include "framework/program.h"
#include "framework/registry.h"

namespace credo {

// A credit algorithm runs the Program forward one step at a time and turns the losses into parameter
// gradients, each in its own way (storing the trajectory, carrying an influence matrix, eligibility traces).
// It owns the carried state s, so several algorithms can follow the same trajectory side by side.
//
// Call order: reset(B) at the start of an independent sequence, then step() for each time step, then
// end_chunk() after the last step of an episode (episode_end = true) or of a chunk of a stream (false).
// Gradients are of sum_t sum_b mask_tb * loss_tb / B (mean over the batch, sum over time).
template <class T>
class CreditAlgorithm {
 public:
  explicit CreditAlgorithm(Program<T>& program) : prog_(program) {}
  virtual ~CreditAlgorithm() = default;

  virtual void reset(int batch) = 0;
  // One time step. Adds into grad whatever gradient became available at this step and returns true if it
  // added anything (online algorithms: every step; TBPTT: every k1 steps; BPTT: never).
  virtual bool step(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
                    Vec<T>& grad) = 0;
  // Adds any gradient still pending at the end of an episode or stream chunk; true if it added anything.
  virtual bool end_chunk(bool episode_end, Vec<T>& grad) {
    (void)episode_end, (void)grad;
    return false;
  }

  // Summed masked loss of the last step (before the 1/B scale).
  double last_loss() const { return last_loss_; }

  // Empty, or what this instance costs beyond what the algorithm's description promises, and why: the path it
  // fell back to on this model (SnAp-1 on populations joined by delay-0 projections runs RTRL's dense path). The
  // trainer prints it at the start of a run and records it in summary.json.
  virtual std::string cost_note() const { return {}; }

 protected:
  // Runs the step forward from s_ into frame_, records the loss and writes the scaled output cotangent dy_.
  void forward_and_loss(const ConstMatRef<T>& x, const ConstMatRef<T>& target, const ConstMatRef<T>& mask) {
    forward_and_loss(s_, x, target, mask);
  }
  // The same from another previous state (an algorithm that keeps its frames can step from the last one
  // without copying it into s_).
  void forward_and_loss(const ConstMatRef<T>& s_prev, const ConstMatRef<T>& x, const ConstMatRef<T>& target,
                        const ConstMatRef<T>& mask) {
    prog_.forward(s_prev, x, frame_);
    last_loss_ = static_cast<double>(prog_.loss(frame_, target, mask, &dy_, T(1) / T(x.cols())));
  }

  Program<T>& prog_;
  Mat<T> s_;    // s_{t-1} before step(), s_t after
  Frame<T> frame_;
  Mat<T> dy_;
  double last_loss_ = 0;
};

// A registered algorithm: its options, which population kinds it can train (empty: all), whether its
// gradient is exact (checked against BPTT by `credo check`), and how to make one in float or double.
struct AlgorithmKind {
  std::vector<std::string> supports;
  bool exact = false;
  bool online = false;  // gives a gradient every step
  std::function<std::unique_ptr<CreditAlgorithm<float>>(Program<float>&, const Options&)> make_float;
  std::function<std::unique_ptr<CreditAlgorithm<double>>(Program<double>&, const Options&)> make_double;
  // Relies on unit-local structure (per-unit influence, per-block biases): refuses models with memory modules.
  bool unit_local = false;
};
using AlgorithmRegistry = Registry<AlgorithmKind>;

// Makes algorithm `name` with options (errors name the algorithm and option) for `program`, failing with a
// clear message when the model holds a population kind the algorithm cannot train.
template <class T>
std::unique_ptr<CreditAlgorithm<T>> make_algorithm(const std::string& name,
                                                   const std::map<std::string, std::string>& options,
                                                   Program<T>& program);

}  // namespace credo

// Registers CLASS<T>, constructible as CLASS<T>(Program<T>&, const Options&). An optional last argument
// `true` marks an algorithm that relies on unit-local structure (AlgorithmKind::unit_local).
#define CREDO_REGISTER_ALGORITHM(NAME, CLASS, HELP, OPTIONS, SUPPORTS, EXACT, ONLINE, ...)                 \
  static const bool CREDO_CONCAT(credo_algorithm_registered_, __LINE__) =                                 \
      ::credo::AlgorithmRegistry::get().add(                                                              \
          {NAME, HELP, OPTIONS,                                                                           \
           ::credo::AlgorithmKind{                                                                        \
               SUPPORTS, EXACT, ONLINE,                                                                   \
               [](::credo::Program<float>& p, const ::credo::Options& o) {                               \
                 return std::unique_ptr<::credo::CreditAlgorithm<float>>(new CLASS<float>(p, o));        \
               },                                                                                         \
               [](::credo::Program<double>& p, const ::credo::Options& o) {                              \
                 return std::unique_ptr<::credo::CreditAlgorithm<double>>(new CLASS<double>(p, o));      \
               },                                                                                         \
               __VA_ARGS__}})
