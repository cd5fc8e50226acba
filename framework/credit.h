// The credit-algorithm interface: how an algorithm carries "which parameter, used when, caused this loss".
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "framework/options.h"
#include "framework/program.h"
#include "framework/registry.h"

namespace credo {

// Sees everything a credit algorithm carries from one step to the next besides θ, for checkpoints: the same
// visitor type saves (reads each member) or restores (overwrites it, shape and all). Names are unique within an
// algorithm.
template <class T>
class StateVisitor {
 public:
  virtual ~StateVisitor() = default;
  virtual void matrix(const std::string& name, Mat<T>& m) = 0;
  virtual void vector(const std::string& name, Vec<T>& v) = 0;
  virtual void number(const std::string& name, std::int64_t& v) = 0;
  virtual void number(const std::string& name, std::uint64_t& v) = 0;
  virtual void real(const std::string& name, double& v) = 0;
  virtual void generator(const std::string& name, std::mt19937_64& g) = 0;
  // The count first, so restoring sizes the list.
  void matrices(const std::string& name, std::vector<Mat<T>>& ms) {
    std::int64_t n = static_cast<std::int64_t>(ms.size());
    number(name + ".count", n);
    ms.resize(static_cast<size_t>(n));
    for (size_t k = 0; k < ms.size(); ++k) matrix(name + "." + std::to_string(k), ms[k]);
  }
  void vectors(const std::string& name, std::vector<Vec<T>>& vs) {
    std::int64_t n = static_cast<std::int64_t>(vs.size());
    number(name + ".count", n);
    vs.resize(static_cast<size_t>(n));
    for (size_t k = 0; k < vs.size(); ++k) vector(name + "." + std::to_string(k), vs[k]);
  }
  void frame(const std::string& name, Frame<T>& f) {
    matrix(name + ".z", f.z);
    matrix(name + ".jac", f.jac);
    matrix(name + ".s", f.s);
  }
  void number(const std::string& name, int& v) {
    std::int64_t x = v;
    number(name, x);
    v = static_cast<int>(x);
  }
};

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

  // Named numbers about the algorithm's own state, for reports (e-prop: each learned feedback matrix's alignment
  // with its readout's transpose). Default: none.
  virtual std::vector<std::pair<std::string, double>> diagnostics() const { return {}; }

  // Empty, or what this instance costs beyond what the algorithm's description promises, and why: the path it
  // fell back to on this model (SnAp-1 on populations joined by delay-0 projections runs RTRL's dense path). The
  // trainer prints it at the start of a run and records it in summary.json.
  virtual std::string cost_note() const { return {}; }

  // Shows `v` everything the algorithm carries between steps (the carried state, an influence matrix, traces,
  // stored frames, a random generator) and returns true: a checkpoint then resumes it exactly, even in the middle
  // of a stream. Restoring follows reset(batch), which sizes the work buffers. The default shows the carried state
  // s_ only and returns false: such an algorithm resumes exactly only at an episode boundary, and only if it draws
  // no random numbers.
  virtual bool visit_state(StateVisitor<T>& v) {
    v.matrix("s", s_);
    return false;
  }

  // The credit-carrying quantities worth watching over a sequence (eligibility traces, an influence matrix and
  // its approximations, learned feedback weights), shown to `v` by name; `--record traces` summarises each per
  // step. Default: none (BPTT, truncations and replay carry stored trajectories, not traces).
  virtual void visit_traces(StateVisitor<T>& v) { (void)v; }

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
