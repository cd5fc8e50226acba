// The trainer: runs a credit algorithm on a task, applies the optimizer, evaluates, and writes results.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace credo {

struct TrainConfig {
  std::string model;  // path to the DOT model
  std::string task;
  std::map<std::string, std::string> task_options;
  std::map<std::string, std::string> eval_task_options;  // overrides of task_options for evaluation only
  std::string algorithm;
  std::map<std::string, std::string> algorithm_options;
  long steps = 1000;  // parameter updates
  int batch = 16;
  std::string optimizer = "adam";
  double lr = 1e-3;
  double clip = 0;
  std::uint64_t seed = 1;
  std::string out;            // results folder; empty: write nothing
  std::string update = "auto";  // auto | online | episode
  std::string precision = "float";  // float | double
  long eval_every = 0;        // updates between evaluations; 0: steps / 20
  int eval_batch = 256;       // held-out sequences (episodic tasks)
  int eval_steps = 2000;      // held-out stream length (8 streams, streaming tasks), after a warm-up
  int chunk = 100;            // steps per sample of a streaming task (BPTT's window there)
  bool progress = false;      // a progress line on stderr
  bool dry_run = false;       // check everything, train nothing, write nothing
  bool overwrite = false;     // replace the results a previous run left in `out` (else such a folder is refused)
  // The run counts as diverged when an evaluation loss exceeds this many times the task's chance loss at three
  // evaluations in a row or at the last one (0: only a non-finite loss or parameter counts).
  double divergence_factor = 100;
  // Early stopping: the run ends at the first evaluation that meets this, "METRIC>=V" or "METRIC<=V" (METRIC:
  // eval_loss, eval_accuracy or a metric the task reports, e.g. decision_accuracy>=0.93, as Bellec et al. stop
  // cue accumulation below 7 % error). Empty: run every step.
  std::string stop_when;
  std::map<std::string, std::string> limits;  // ModelLimits overrides (graph.h), name -> value

  std::string model_text;  // the model's DOT text; when set, used instead of reading `model` (a rerun's model_dot)
  // The learning rate over the run (OptimizerConfig): constant, step[:every=N][:factor=F] or cosine[:min=F], a
  // linear warm-up over the first `warmup` updates, and decoupled weight decay.
  std::string lr_schedule = "constant";
  long warmup = 0;
  double weight_decay = 0;
  // Checkpoints (framework/checkpoint.h): OUT/checkpoint.ckpt every `checkpoint_every` updates (0: only at the
  // end) and when the run ends; with keep_checkpoints, each also as OUT/checkpoints/update-N.ckpt.
  long checkpoint_every = 0;
  bool keep_checkpoints = false;
  std::string resume;     // continue the run this checkpoint file saved, in `out`
  std::string init_from;  // start from the parameters of a checkpoint, a run folder or an .npz of blocks
  // Record the final evaluation (framework/record.h) into OUT/record: items, sequences, size limit, and the
  // algorithm whose gradient norms grad_norm records (empty: the run's).
  std::string record;
  int record_sequences = 16;
  double record_limit_mb = 1024;
  std::string record_algorithm;
  double progress_every = 30;  // seconds between progress lines when stderr is not a terminal
};

// The configuration as config.json records it and back: `credo train --config DIR/config.json` reruns a run, and
// a checkpoint carries it. Fields missing from the JSON keep their defaults; one of the wrong type, or an unknown
// key, is an InputError naming `where`.
TrainConfig config_from_json(const nlohmann::json& j, const std::string& where);

struct TrainResult {
  // finished | diverged (a non-finite loss or parameter, or a loss far above chance: training stopped there) |
  // interrupted (SIGINT or SIGTERM: training stopped at the next time step)
  std::string status = "finished";
  std::string reason;   // what stopped a run that did not finish, or the criterion an early stop met
  bool stopped_early = false;  // finished because an evaluation met stop_when
  int stop_signal = 0;  // the signal that interrupted it
  long eval_step = 0;   // the update after which eval_loss was measured
  double eval_loss = 0;
  double eval_accuracy = -1;  // < 0: not applicable
  double chance_loss = 0;
  double steps_per_second = 0;  // time steps of the whole batch per second of training
  double peak_rss_mb = 0;
  double wall_seconds = 0;
  long updates = 0;
  long time_steps = 0;
  nlohmann::json summary;
};

// Checks everything (model, task, algorithm, options, output folder, a checkpoint to resume or start from)
// before the first step, then trains.
// Stops early, with the status saying why, on divergence or when a stop signal arrives (framework/signals.h).
// Writes config.json and model.dot before the first step, metrics.csv at every evaluation and summary.json
// at the end; if an error ends the run, what it wrote is removed, unless it had already updated the weights:
// then its measurements stay beside a summary.json with "status": "failed". A run resumed from a checkpoint
// ends with the same numbers, bit for bit, as the run that was not interrupted.
TrainResult train(const TrainConfig& config);

// "name", "name:k=v:k=v" or "name:k=v,k=v" -> name and options, as used by --algos lists.
std::pair<std::string, std::map<std::string, std::string>> parse_algorithm_spec(const std::string& spec);

}  // namespace credo
