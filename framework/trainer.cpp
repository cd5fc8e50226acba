#include "framework/trainer.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <limits>
#include <cctype>
#include <memory>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/evaluate.h"
#include "framework/optimizer.h"
#include "framework/params.h"
#include "framework/program.h"
#include "framework/results.h"
#include "framework/signals.h"
#include "framework/task.h"

namespace credo {

std::pair<std::string, std::map<std::string, std::string>> parse_algorithm_spec(const std::string& spec) {
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  if (name.empty()) fail("algorithm list: empty algorithm name in '{}'", spec);
  // Options follow the name, separated by ':' (as on the command line, where ',' separates algorithms) or ','.
  const auto items = colon == std::string::npos ? std::vector<std::string>{} : split_list(spec.substr(colon + 1), ":,");
  return {name, parse_key_values(items, fmt::format("algorithm '{}'", name))};
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// An algorithm with a random draw of its own (UORO's signs, RFLO's feedback) follows --seed unless its
// `seed` option is given, so repeating a run with other seeds repeats it with other draws.
std::map<std::string, std::string> algorithm_options(const TrainConfig& c) {
  auto opts = c.algorithm_options;
  const auto& spec = AlgorithmRegistry::get().find(c.algorithm, "credit algorithm").options;
  const bool has_seed = std::any_of(spec.begin(), spec.end(), [](const OptionSpec& o) { return o.name == "seed"; });
  if (has_seed && !opts.count("seed")) opts["seed"] = std::to_string(c.seed);
  return opts;
}

std::string csv_number(double v) { return std::isnan(v) ? "" : fmt::format("{:.6g}", v); }

template <class T>
TrainResult run(const TrainConfig& c, ModelGraph graph) {
  // Everything is checked before the first step, so a mistake never leaves half a run behind.
  auto task = make_task(c.task, c.task_options, c.seed);
  resolve_output_losses(graph, task->loss(), c.task);
  Program<T> prog(graph);
  if (prog.input_size() != task->input_size())
    fail("{}: the input populations hold {} units in all, but task '{}' gives {} inputs", c.model, prog.input_size(),
         c.task, task->input_size());
  if (prog.output_size() != task->output_size())
    fail("{}: the output populations hold {} units in all, but task '{}' has {} outputs", c.model,
         prog.output_size(), c.task, task->output_size());
  make_eval_task(c, *task);
  auto algo = make_algorithm<T>(c.algorithm, algorithm_options(c), prog);
  OptimizerConfig oc;
  oc.name = c.optimizer, oc.lr = c.lr, oc.clip = c.clip;
  Optimizer<T> opt(oc, prog.param_count());
  if (c.steps < 1) fail("--steps is {}, must be >= 1", c.steps);
  if (c.eval_every < 0) fail("--eval-every is {}, must be >= 0 (0: steps / 20)", c.eval_every);
  if (c.batch < 1 || c.batch > 1'000'000) fail("--batch is {}, must be in [1, 1000000]", c.batch);
  if (c.update != "auto" && c.update != "online" && c.update != "episode")
    fail("--update is '{}', must be auto, online or episode", c.update);
  if (c.chunk < 1 || c.chunk > 1'000'000) fail("--chunk is {}, must be in [1, 1000000]", c.chunk);
  if (c.eval_batch < 1 || c.eval_batch > 1'000'000) fail("--eval-batch is {}, must be in [1, 1000000]", c.eval_batch);
  if (c.eval_steps < 1 || c.eval_steps > 100'000'000)
    fail("--eval-steps is {}, must be in [1, 100000000]", c.eval_steps);
  if (c.divergence_factor != 0 && !(c.divergence_factor >= 1 && std::isfinite(c.divergence_factor)))
    fail("--divergence-factor is {}, must be >= 1 (0: only non-finite losses and parameters count)",
         c.divergence_factor);
  if (c.dry_run) {
    if (!c.out.empty()) check_output_dir(c.out, c.overwrite);
    return {};
  }
  // Refuses a folder holding another run's results (unless --overwrite); on failure takes back exactly what
  // this run wrote and the folders it created.
  RunFolder folder = c.out.empty() ? RunFolder() : RunFolder(c.out, c.overwrite);

  const bool streaming = task->streaming();
  const bool online = c.update == "online" || (c.update == "auto" && streaming);
  const long eval_every = c.eval_every > 0 ? c.eval_every : std::max<long>(1, c.steps / 20);
  std::mt19937_64 rng(c.seed);
  prog.init_params(rng);
  Evaluator<T> evaluator(prog, c, *task);

  // What the run is, written before the first step, so an interrupted or failed run still records it.
  if (folder.active()) {
    nlohmann::json config = {
        {"model", c.model},
        {"model_dot", write_model(graph)},
        {"task", c.task},
        {"task_options", Options("task", TaskRegistry::get().find(c.task, "task").options, c.task_options).values()},
        {"eval_task_options", c.eval_task_options},
        {"algorithm", c.algorithm},
        {"algorithm_options",
         Options("algorithm", AlgorithmRegistry::get().find(c.algorithm, "credit algorithm").options,
                 algorithm_options(c))
             .values()},
        {"steps", c.steps},
        {"batch", c.batch},
        {"optimizer", c.optimizer},
        {"lr", c.lr},
        {"clip", c.clip},
        {"seed", c.seed},
        {"update", online ? "online" : "episode"},
        {"precision", c.precision},
        {"eval_every", eval_every},
        {"eval_batch", c.eval_batch},
        {"eval_steps", c.eval_steps},
        {"chunk", c.chunk},
        {"divergence_factor", c.divergence_factor},
        {"limits", Options("--limit", model_limit_specs(), c.limits).values()},
        {"threads", 1}};
    folder.write("config.json", config.dump(2) + "\n");
    folder.write("model.dot", write_model(graph));
  }

  TrainResult r;
  r.chance_loss = evaluator.task().chance_loss();
  // The header ends with the task's own metrics, named by the first evaluation.
  std::string csv = "step,train_loss,eval_loss,eval_accuracy,wall_seconds";
  std::vector<Metric> metrics;
  const auto t0 = Clock::now();
  double loss_sum = 0, mask_sum = 0;
  const bool tty = c.progress && ::isatty(2);
  long updates = 0;
  // Divergence: a non-finite loss or parameter at once, or an evaluation loss above divergence_factor x chance
  // at kDivergencePatience evaluations in a row or at the last one.
  constexpr int kDivergencePatience = 3;
  int far_above = 0;
  auto stop = [&](const char* status, std::string reason) {
    if (r.status == "finished") r.status = status, r.reason = std::move(reason);
  };
  auto evaluate = [&](long step) {
    const Evaluation e = evaluator.run();
    if (step == 0) {
      for (const auto& m : e.metrics) csv += fmt::format(",{}", m.name);
      csv += "\n";
    }
    const double train_loss = mask_sum > 0 ? loss_sum / mask_sum : std::numeric_limits<double>::quiet_NaN();
    csv += fmt::format("{},{},{},{},{:.3f}", step, csv_number(train_loss), csv_number(e.loss),
                       e.accuracy < 0 ? "" : csv_number(e.accuracy), seconds_since(t0));
    for (const auto& m : e.metrics) csv += fmt::format(",{}", csv_number(m.value));
    csv += "\n";
    metrics = e.metrics;
    loss_sum = mask_sum = 0;
    r.eval_loss = e.loss;
    r.eval_accuracy = e.accuracy;
    r.eval_step = step;
    if (tty)
      fmt::print(stderr, "\r{} {}  step {}/{}  eval loss {:.4f} (chance {:.4f}){}    ", c.algorithm, c.task, step,
                 c.steps, e.loss, r.chance_loss,
                 e.accuracy >= 0 ? fmt::format("  accuracy {:.3f}", e.accuracy) : std::string());
    folder.write("metrics.csv", csv);
    if (!std::isfinite(e.loss)) {
      stop("diverged", fmt::format("the evaluation loss is {} at step {}", std::isnan(e.loss) ? "NaN" : "infinite",
                                   step));
    } else if (c.divergence_factor > 0 && r.chance_loss > 0 && e.loss > c.divergence_factor * r.chance_loss) {
      if (++far_above >= kDivergencePatience || step >= c.steps)
        stop("diverged", fmt::format("the evaluation loss is {:.4g} at step {}, over {} x the chance loss {:.4g}{}",
                                     e.loss, step, c.divergence_factor, r.chance_loss,
                                     far_above > 1 ? fmt::format(" ({} evaluations in a row)", far_above) : ""));
    } else {
      far_above = 0;
    }
  };

  Vec<T> grad = Vec<T>::Zero(prog.param_count());
  bool first = true;
  Clock::time_point train_t0 = Clock::now();
  double eval_seconds = 0;
  auto after_update = [&]() {
    ++updates;
    if (!prog.params().allFinite()) {
      stop("diverged", fmt::format("a parameter is not finite after update {}", updates));
      return;
    }
    if (updates % eval_every == 0 || updates == c.steps) {
      const auto e0 = Clock::now();
      evaluate(updates);
      eval_seconds += seconds_since(e0);
    }
  };
  auto stopped = [&] {
    if (r.status != "finished") return true;
    if (const int sig = stop_signal()) {
      stop("interrupted", fmt::format("{} at step {}", sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM"
                                                                                                 : "a signal",
                                      updates));
      r.stop_signal = sig;
      return true;
    }
    return false;
  };
  try {
    evaluate(0);
    while (updates < c.steps && !stopped()) {
      const Episode ep = task->sample(c.batch, c.chunk);
      const Mat<T> xs = ep.x.cast<T>(), ts = ep.target.cast<T>(), ms = ep.mask.cast<T>();
      const int B = ep.batch;
      if (!streaming || first) algo->reset(B);
      first = false;
      double episode_mask = 0;
      bool done = false;
      for (int t = 0; t < ep.steps && !done; ++t) {
        const auto cols = static_cast<Eigen::Index>(t) * B;
        const bool added = algo->step(xs.middleCols(cols, B), ts.middleCols(cols, B), ms.middleCols(cols, B), grad);
        const double loss = algo->last_loss();
        if (!std::isfinite(loss))
          stop("diverged", fmt::format("the training loss is {} at step {}", std::isnan(loss) ? "NaN" : "infinite",
                                       updates));
        loss_sum += loss;
        const double m = static_cast<double>(ms.middleCols(cols, B).sum());
        mask_sum += m;
        episode_mask += m;
        ++r.time_steps;
        if (online && added && r.status == "finished") {
          prog.mask(grad), opt.apply(prog.params(), grad);
          grad.setZero();
          after_update();
          done = updates >= c.steps;
        }
        done = done || stopped();
      }
      if (done) break;
      const bool added = algo->end_chunk(!streaming, grad);
      if (online) {
        if (added) {
          prog.mask(grad), opt.apply(prog.params(), grad);
          grad.setZero();
          after_update();
        }
      } else {
        // Episode updates average over the scored steps of a sequence, so the step size does not grow with
        // the episode's length.
        const double per_sequence = episode_mask / B;
        if (per_sequence > 0) grad /= static_cast<T>(per_sequence);
        prog.mask(grad), opt.apply(prog.params(), grad);
        grad.setZero();
        after_update();
      }
    }
  } catch (const std::exception& e) {
    // Nothing measured beyond the start: the folder is taken back to what it was. Otherwise what was measured
    // stays, with a summary saying the run failed and where.
    if (folder.active()) {
      if (updates > 0) {
        try {
          nlohmann::json failed = {{"model", c.model},       {"task", c.task},       {"algorithm", c.algorithm},
                                   {"status", "failed"},     {"step", updates},      {"reason", e.what()},
                                   {"eval_step", r.eval_step}, {"chance_loss", r.chance_loss}};
          failed["eval_loss"] = std::isfinite(r.eval_loss) ? nlohmann::json(r.eval_loss) : nlohmann::json(nullptr);
          folder.write("summary.json", failed.dump(2) + "\n");
          folder.keep();
          fmt::print(stderr, "{}credo: the run failed at step {}; what it measured is kept in {} (summary.json: "
                             "\"status\": \"failed\")\n", tty ? "\n" : "", updates, folder.dir());
        } catch (const std::exception&) {
          folder.roll_back();
        }
      } else {
        folder.roll_back();
        fmt::print(stderr, "{}credo: the run failed before its first update; nothing of it is kept in {}\n",
                   tty ? "\n" : "", folder.dir());
      }
    }
    throw;
  }
  const double train_seconds = seconds_since(train_t0) - eval_seconds;
  // A run stopped between evaluations keeps the training loss it measured since the last one.
  if (r.status != "finished" && updates > r.eval_step && mask_sum > 0) {
    csv += fmt::format("{},{},,,{:.3f}{}\n", updates, csv_number(loss_sum / mask_sum), seconds_since(t0),
                       std::string(metrics.size(), ','));
    folder.write("metrics.csv", csv);
  }
  if (tty) fmt::print(stderr, "\n");
  r.updates = updates;
  r.wall_seconds = seconds_since(t0);
  r.steps_per_second = train_seconds > 0 ? static_cast<double>(r.time_steps) / train_seconds : 0;
  r.peak_rss_mb = peak_rss_mb();
  if (r.status == "diverged")
    fmt::print(stderr, "credo: training diverged: {} (try a smaller --lr, or --clip)\n", r.reason);
  else if (r.status == "interrupted")
    fmt::print(stderr, "credo: interrupted by {}\n", r.reason);

  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json summary = {{"model", c.model},
                            {"task", c.task},
                            {"algorithm", c.algorithm},
                            {"status", r.status},
                            {"step", r.updates},
                            {"eval_loss", number(r.eval_loss)},
                            {"eval_step", r.eval_step},
                            {"chance_loss", r.chance_loss},
                            {"steps_per_second", r.steps_per_second},
                            {"peak_rss_mb", r.peak_rss_mb},
                            {"updates", r.updates},
                            {"time_steps", r.time_steps},
                            {"wall_seconds", r.wall_seconds},
                            {"state_size", prog.state_size()},
                            {"param_count", prog.param_count()}};
  if (!r.reason.empty()) summary["reason"] = r.reason;
  summary["eval_accuracy"] = r.eval_accuracy >= 0 ? nlohmann::json(r.eval_accuracy) : nlohmann::json(nullptr);
  summary["eval_metrics"] = nlohmann::json::object();
  for (const auto& m : metrics) summary["eval_metrics"][m.name] = number(m.value);
  r.summary = summary;
  // The parameters as the run ended, per block, in numpy's format.
  folder.write("params.npz", npy::encode_npz(params_to_arrays(prog)));
  folder.write("summary.json", summary.dump(2) + "\n");
  folder.keep();
  return r;
}

}  // namespace

TrainResult train(const TrainConfig& c) {
  ModelGraph graph = read_model(c.model, model_limits(c.limits));
  if (c.precision == "float") return run<float>(c, graph);
  if (c.precision == "double") return run<double>(c, graph);
  fail("--precision is '{}', must be float or double", c.precision);
}

}  // namespace credo
