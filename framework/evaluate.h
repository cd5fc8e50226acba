// Evaluation on held-out data: loss per scored output, accuracy and the task's own metrics, shared by training
// (its periodic evaluations) and by `credo eval` (a saved network), with an optional observer of every step.
#pragma once

#include <memory>
#include <vector>

#include "framework/program.h"
#include "framework/task.h"
#include "framework/trainer.h"

namespace credo {

struct Evaluation {
  double loss = 0;      // per scored output
  double accuracy = -1;  // < 0: the task has no accuracy
  std::vector<Metric> metrics;
};

// The task evaluation runs on: the training task with the --eval-task-opt overrides, seeded apart from training.
// It must fit the same model as the training task (an InputError naming --eval-task-opt otherwise).
std::unique_ptr<Task> make_eval_task(const TrainConfig& c, const Task& train_task);

// Sees every step of an evaluation (the recorder of `--record`).
template <class T>
class EvalObserver {
 public:
  virtual ~EvalObserver() = default;
  // The held-out episode; its first `warmup` steps are run but not scored.
  virtual void begin(const Episode& e, int warmup) = 0;
  // Step t: the state before it, the input and the frame the Program computed.
  virtual void step(int t, const Mat<T>& s_prev, const Mat<T>& x, const Frame<T>& f) = 0;
  virtual void end() = 0;
};

// The held-out data is fixed: an episodic task's sequences are drawn once, at construction, from the evaluation
// seed; a streaming task's streams (8 of them, whatever the batch) are regenerated from that seed at every
// evaluation, with 100 unscored warm-up steps while the state fills. So every evaluation of a run, and an
// evaluation of its saved network with the same settings, sees the same data.
template <class T>
class Evaluator {
 public:
  Evaluator(Program<T>& prog, const TrainConfig& c, const Task& train_task);
  Evaluation run(EvalObserver<T>* observer = nullptr);
  // The task evaluation runs on; its chance loss is the one eval losses compare with.
  const Task& task() const { return *task_; }
  // The shape of the held-out episode: steps (with the warm-up), sequences, warm-up steps.
  int steps() const;
  int batch() const;
  int warmup() const { return streaming_ ? kWarmup : 0; }

  static constexpr int kStreams = 8;   // held-out streams of a streaming task
  static constexpr int kWarmup = 100;  // their unscored first steps

 private:
  Program<T>& prog_;
  const TrainConfig& config_;
  const Task& train_task_;
  std::unique_ptr<Task> task_;
  bool streaming_, accuracy_;
  Episode episode_;
};

extern template class Evaluator<float>;
extern template class Evaluator<double>;

}  // namespace credo
