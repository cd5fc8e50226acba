// A task: a seeded generator of input sequences, targets and loss masks, with its chance-level loss.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "framework/options.h"
#include "framework/registry.h"

namespace credo {

// A batch of sequences, time-major: step t of sequence b is column t * batch + b of each matrix.
struct Episode {
  int steps = 0;
  int batch = 0;
  Eigen::MatrixXd x;       // input_size  x (steps * batch)
  Eigen::MatrixXd target;  // output_size x (steps * batch); one-hot or soft probabilities for cross-entropy
  Eigen::MatrixXd mask;    // 1 x (steps * batch): 1 where the output is scored, 0 elsewhere

  // An all-zero episode (nothing scored) of the given shape, for a generator to fill in.
  static Episode zeros(int inputs, int outputs, int steps, int batch) {
    const Eigen::Index cols = static_cast<Eigen::Index>(steps) * batch;
    return {steps, batch, Eigen::MatrixXd::Zero(inputs, cols), Eigen::MatrixXd::Zero(outputs, cols),
            Eigen::MatrixXd::Zero(1, cols)};
  }
  // The column of step t of sequence b.
  Eigen::Index col(int t, int b) const { return static_cast<Eigen::Index>(t) * batch + b; }
};

// A number a task reports about an evaluation beside the loss and accuracy, e.g. error bits per sequence.
struct Metric {
  std::string name;  // letters, digits and '_': a column of metrics.csv and a key of summary.json
  double value = 0;
};

// Tasks are generators. A streaming task (`add`) is one endless sequence per batch column: consecutive
// calls to sample() continue it, and the trainer keeps the network's state across them. An episodic task
// returns independent sequences and the trainer resets the state before each.
class Task {
 public:
  virtual ~Task() = default;
  virtual int input_size() const = 0;
  virtual int output_size() const = 0;
  // The output loss the task is scored with: "mse", "softmax_xent" or "sigmoid_xent".
  virtual std::string loss() const = 0;
  virtual bool streaming() const { return false; }
  // Whether accuracy (argmax for softmax, threshold 0.5 for sigmoid) means something for this task.
  virtual bool has_accuracy() const = 0;
  // Expected loss per scored output of the best predictor that has no memory of earlier inputs.
  virtual double chance_loss() const = 0;
  // A batch of `batch` sequences. Episodic tasks choose their own length; streaming tasks return the next
  // `steps` steps of each stream (steps > 0 required for streaming, ignored otherwise).
  virtual Episode sample(int batch, int steps) = 0;
  // Extra evaluation metrics of an episode this task generated, given the network's outputs on it (laid out like
  // e.target; logits for the cross-entropy losses). The same names in the same order on every call; default none.
  virtual std::vector<Metric> metrics(const Episode& /*e*/, const Eigen::MatrixXd& /*outputs*/) const { return {}; }
  // Named loss levels worth comparing with besides chance, e.g. the best loss of a predictor that remembers only
  // part of what the task needs (summary.json records them; credo plot draws them). Default none.
  virtual std::vector<Metric> reference_losses() const { return {}; }
};

// Makes a task from its resolved options and a seed; the task owns its random generator.
using TaskFactory = std::function<std::unique_ptr<Task>(const Options&, std::uint64_t seed)>;
using TaskRegistry = Registry<TaskFactory>;

// Looks the task up by name, resolves its options (errors name the task and option) and makes it.
std::unique_ptr<Task> make_task(const std::string& name, const std::map<std::string, std::string>& options,
                                std::uint64_t seed);

}  // namespace credo

// Registers a task class constructible as CLASS(const Options&, std::uint64_t seed).
#define CREDO_REGISTER_TASK(NAME, CLASS, HELP, ...)                                                        \
  static const bool CREDO_CONCAT(credo_task_registered_, __LINE__) = ::credo::TaskRegistry::get().add(   \
      {NAME, HELP, __VA_ARGS__, [](const ::credo::Options& o, std::uint64_t seed) -> std::unique_ptr<::credo::Task> { \
         return std::make_unique<CLASS>(o, seed);                                                          \
       }})
