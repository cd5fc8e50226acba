#include "framework/evaluate.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <fmt/format.h>

#include "framework/error.h"

namespace credo {

std::unique_ptr<Task> make_eval_task(const TrainConfig& c, const Task& train_task) {
  auto options = c.task_options;
  for (const auto& [k, v] : c.eval_task_options) options[k] = v;
  std::unique_ptr<Task> t;
  try {
    t = make_task(c.task, options, c.seed ^ 0x9e3779b97f4a7c15ULL);
  } catch (const InputError& e) {
    if (c.eval_task_options.empty()) throw;
    fail("--eval-task-opt: {}", e.what());
  }
  if (t->input_size() != train_task.input_size() || t->output_size() != train_task.output_size() ||
      t->loss() != train_task.loss())
    fail("--eval-task-opt: task '{}' would then have {} inputs, {} outputs and loss {}, but it trains with {}, {} "
         "and {}: evaluation must fit the same model",
         c.task, t->input_size(), t->output_size(), t->loss(), train_task.input_size(), train_task.output_size(),
         train_task.loss());
  return t;
}

namespace {

// Metric names become CSV columns and JSON keys; a task breaking that is a bug in the task.
void check_metric_names(const std::vector<Metric>& metrics, const std::string& task) {
  for (size_t i = 0; i < metrics.size(); ++i) {
    const auto& n = metrics[i].name;
    const bool ok = !n.empty() && std::all_of(n.begin(), n.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    });
    for (size_t j = 0; j < i; ++j)
      if (metrics[j].name == n) throw std::logic_error(fmt::format("task '{}' reports metric '{}' twice", task, n));
    if (!ok) throw std::logic_error(fmt::format("task '{}': metric name '{}' is not letters, digits and _", task, n));
  }
}

}  // namespace

template <class T>
Evaluator<T>::Evaluator(Program<T>& prog, const TrainConfig& c, const Task& train_task)
    : prog_(prog),
      config_(c),
      train_task_(train_task),
      task_(make_eval_task(c, train_task)),
      streaming_(task_->streaming()),
      accuracy_(task_->has_accuracy()) {
  // One fixed held-out set, drawn once from its own seed.
  if (!streaming_) episode_ = task_->sample(c.eval_batch, 0);
}

template <class T>
int Evaluator<T>::steps() const {
  return streaming_ ? kWarmup + config_.eval_steps : episode_.steps;
}

template <class T>
int Evaluator<T>::batch() const {
  return streaming_ ? kStreams : episode_.batch;
}

template <class T>
Evaluation Evaluator<T>::run(EvalObserver<T>* observer) {
  Episode ep;
  const int warmup = this->warmup();
  if (streaming_) {
    // The same held-out stream every time; the first steps are unscored while the state fills.
    task_ = make_eval_task(config_, train_task_);
    ep = task_->sample(kStreams, warmup + config_.eval_steps);
  }
  const Episode& e = streaming_ ? ep : episode_;
  const int B = e.batch;
  Mat<T> s = prog_.zero_state(B);
  Frame<T> f = prog_.make_frame(B);
  double loss = 0, correct = 0, count = 0;
  // The outputs on the scored part of the episode, for the task's own metrics.
  Eigen::MatrixXd outputs(prog_.output_size(), static_cast<Eigen::Index>(e.steps - warmup) * B);
  Mat<T> y;
  if (observer) observer->begin(e, warmup);
  for (int t = 0; t < e.steps; ++t) {
    const Mat<T> x = e.x.middleCols(static_cast<Eigen::Index>(t) * B, B).cast<T>();
    prog_.forward(s, x, f);
    if (observer) observer->step(t, s, x, f);
    s = f.s;
    if (t < warmup) continue;
    prog_.outputs(f, y);
    outputs.middleCols(static_cast<Eigen::Index>(t - warmup) * B, B) = y.template cast<double>();
    const Mat<T> target = e.target.middleCols(static_cast<Eigen::Index>(t) * B, B).cast<T>();
    const Mat<T> mask = e.mask.middleCols(static_cast<Eigen::Index>(t) * B, B).cast<T>();
    loss += static_cast<double>(prog_.loss(f, target, mask, nullptr, T(1)));
    if (accuracy_) correct += prog_.correct(f, target, mask);
    count += static_cast<double>(mask.sum());
  }
  if (observer) observer->end();
  Evaluation r;
  r.loss = count > 0 ? loss / count : 0;
  if (accuracy_) r.accuracy = count > 0 ? correct / count : 0;
  if (warmup == 0) {
    r.metrics = task_->metrics(e, outputs);
  } else {
    const Eigen::Index skip = static_cast<Eigen::Index>(warmup) * B;
    const Episode scored{e.steps - warmup, B, e.x.rightCols(e.x.cols() - skip),
                         e.target.rightCols(e.target.cols() - skip), e.mask.rightCols(e.mask.cols() - skip)};
    r.metrics = task_->metrics(scored, outputs);
  }
  check_metric_names(r.metrics, config_.task);
  return r;
}

template class Evaluator<float>;
template class Evaluator<double>;

}  // namespace credo
