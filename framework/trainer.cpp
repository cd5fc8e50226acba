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
#include <optional>
#include <regex>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "framework/checkpoint.h"
#include "framework/credit.h"
#include "framework/error.h"
#include "framework/evaluate.h"
#include "framework/optimizer.h"
#include "framework/params.h"
#include "framework/program.h"
#include "framework/progress.h"
#include "framework/record.h"
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

TrainConfig config_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail("{}: not a JSON object (give a run's config.json)", where);
  TrainConfig c;
  auto get = [&](const char* key, auto& into) {
    if (!j.contains(key) || j[key].is_null()) return;
    try {
      into = j[key].get<std::decay_t<decltype(into)>>();
    } catch (const nlohmann::json::exception&) {
      fail("{}: '{}' has the wrong type ({})", where, key, j[key].dump());
    }
  };
  // Option maps hold strings; a number written by hand is taken as its text.
  auto options = [&](const char* key, std::map<std::string, std::string>& into) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_object()) fail("{}: '{}' must be an object of options", where, key);
    for (const auto& [k, v] : j[key].items()) into[k] = v.is_string() ? v.get<std::string>() : v.dump();
  };
  static const std::vector<std::string> known = {
      "model",     "model_dot",   "task",         "task_options", "eval_task_options", "algorithm",
      "algorithm_options",        "steps",        "batch",        "optimizer",         "lr",
      "lr_schedule", "warmup",    "weight_decay", "clip",         "seed",              "update",
      "precision", "eval_every",  "eval_batch",   "eval_steps",   "chunk",             "divergence_factor",
      "limits",    "checkpoint_every",            "init_from",    "threads",      "stop_when"};
  for (const auto& [k, v] : j.items())
    if (std::find(known.begin(), known.end(), k) == known.end()) fail("{}: unknown setting '{}'", where, k);
  get("model", c.model);
  get("model_dot", c.model_text);
  get("task", c.task);
  options("task_options", c.task_options);
  options("eval_task_options", c.eval_task_options);
  get("algorithm", c.algorithm);
  options("algorithm_options", c.algorithm_options);
  get("steps", c.steps);
  get("batch", c.batch);
  get("optimizer", c.optimizer);
  get("lr", c.lr);
  get("lr_schedule", c.lr_schedule);
  get("warmup", c.warmup);
  get("weight_decay", c.weight_decay);
  get("clip", c.clip);
  get("seed", c.seed);
  get("update", c.update);
  get("precision", c.precision);
  get("eval_every", c.eval_every);
  get("eval_batch", c.eval_batch);
  get("eval_steps", c.eval_steps);
  get("chunk", c.chunk);
  get("divergence_factor", c.divergence_factor);
  get("stop_when", c.stop_when);
  options("limits", c.limits);
  get("checkpoint_every", c.checkpoint_every);
  get("init_from", c.init_from);
  // An algorithm's own seed recorded as the run's follows the run's (so --seed on a rerun changes both).
  auto it = c.algorithm_options.find("seed");
  if (it != c.algorithm_options.end() && it->second == std::to_string(c.seed)) c.algorithm_options.erase(it);
  return c;
}

namespace {

// --stop-when METRIC>=V or METRIC<=V.
struct StopWhen {
  std::string metric;
  bool at_least = true;
  double value = 0;

  bool met(double v) const { return std::isfinite(v) && (at_least ? v >= value : v <= value); }
  std::string text() const { return fmt::format("{} {} {}", metric, at_least ? ">=" : "<=", value); }
};

StopWhen parse_stop_when(const std::string& text) {
  static const std::regex form(R"(^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=)\s*(\S+)\s*$)");
  std::smatch m;
  if (!std::regex_match(text, m, form))
    fail("--stop-when '{}': write METRIC>=VALUE or METRIC<=VALUE (e.g. decision_accuracy>=0.93, eval_loss<=0.05)",
         text);
  StopWhen w;
  w.metric = m[1];
  w.at_least = m[2] == ">=";
  const std::string number = m[3];
  char* end = nullptr;
  w.value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(w.value))
    fail("--stop-when '{}': '{}' is not a finite number", text, number);
  return w;
}

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

// Where a run stands between two time steps: the episodes (stream chunks) drawn so far, the next step of the last
// one, and whether that one is finished (its end_chunk and update done). A checkpoint saves it; resuming draws the
// same episodes again (a task's data follow its seed) and goes on from there.
struct Position {
  long episodes = 0;
  int next_step = 0;
  bool episode_done = true;
};

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
double number_or_nan(const nlohmann::json& j) {
  return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

template <class T>
TrainResult run(const TrainConfig& c, ModelGraph graph) {
  // Everything is checked before the first step, so a mistake never leaves half a run behind.
  auto task = make_task(c.task, c.task_options, c.seed);
  // The model as the run records it (size=auto stays auto, so the file serves every setting of the task).
  const std::string model_dot = write_model(graph);
  resolve_auto_sizes(graph, task->input_size(), task->output_size(), c.task, model_limits(c.limits));
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
  oc.schedule = c.lr_schedule, oc.warmup = c.warmup, oc.weight_decay = c.weight_decay, oc.total = c.steps;
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
  if (!c.stop_when.empty()) parse_stop_when(c.stop_when);
  if (c.divergence_factor != 0 && !(c.divergence_factor >= 1 && std::isfinite(c.divergence_factor)))
    fail("--divergence-factor is {}, must be >= 1 (0: only non-finite losses and parameters count)",
         c.divergence_factor);
  if (c.checkpoint_every < 0) fail("--checkpoint-every is {}, must be >= 0 (0: only at the end)", c.checkpoint_every);
  if (!(c.progress_every > 0)) fail("--progress-every is {}, must be a positive number of seconds", c.progress_every);
  if (!c.resume.empty() && !c.init_from.empty()) fail("--resume continues a run; --init-from starts a new one: not both");
  if (!c.resume.empty() && c.out.empty()) fail("--resume needs the run's folder");

  const bool streaming = task->streaming();
  const bool online = c.update == "online" || (c.update == "auto" && streaming);
  const long eval_every = c.eval_every > 0 ? c.eval_every : std::max<long>(1, c.steps / 20);
  std::mt19937_64 rng(c.seed);
  prog.init_params(rng);
  // --init-from: a checkpoint must be of this very model; an .npz may set any subset of blocks.
  if (!c.init_from.empty()) {
    const auto set = load_parameters(prog, c.init_from);
    if (set.size() < prog.param_blocks().size())
      fmt::print(stderr, "credo: --init-from {} sets {} of {} parameter blocks; the others start as initialized\n",
                 c.init_from, set.size(), prog.param_blocks().size());
  }
  Evaluator<T> evaluator(prog, c, *task);
  // The recording of the final evaluation, checked now (its items, algorithm and size) so a run never fails at
  // its end for it.
  std::unique_ptr<Recorder<T>> recorder;
  if (!c.record.empty()) {
    if (c.out.empty()) fail("--record needs --out");
    RecordOptions ro;
    ro.what = parse_record_items(c.record);
    ro.sequences = c.record_sequences;
    ro.limit_mb = c.record_limit_mb;
    ro.algorithm = c.record_algorithm.empty() ? c.algorithm : c.record_algorithm;
    recorder = std::make_unique<Recorder<T>>(prog, ro, evaluator.steps(), evaluator.batch(), evaluator.warmup(),
                                             c.out + "/record",
                                             nlohmann::json{{"run", c.out}, {"task", c.task}, {"seed", c.seed}});
  }
  // A checkpoint to resume: of this model and precision, read before anything is written.
  Checkpoint resume;
  if (!c.resume.empty()) {
    resume = read_checkpoint(c.resume);
    check_same_blocks(resume, prog, c.resume);
    if (resume.meta.value("precision", std::string()) != c.precision)
      fail("{}: a {} checkpoint; the run is {}", c.resume, resume.meta.value("precision", std::string("?")),
           c.precision);
  }
  if (c.dry_run) {
    if (!c.out.empty() && c.resume.empty()) check_output_dir(c.out, c.overwrite);
    return {};
  }
  // Refuses a folder holding another run's results (unless --overwrite); on failure takes back exactly what
  // this run wrote and the folders it created. A resumed run's folder is its own and keeps what it holds.
  RunFolder folder = c.out.empty()      ? RunFolder()
                     : c.resume.empty() ? RunFolder(c.out, c.overwrite)
                                        : RunFolder::adopt(c.out);

  // What the run is, written before the first step, so an interrupted or failed run still records it.
  nlohmann::json config = {
      {"model", c.model},
      {"model_dot", model_dot},
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
      {"lr_schedule", c.lr_schedule},
      {"warmup", c.warmup},
      {"weight_decay", c.weight_decay},
      {"clip", c.clip},
      {"seed", c.seed},
      {"update", online ? "online" : "episode"},
      {"precision", c.precision},
      {"eval_every", eval_every},
      {"eval_batch", c.eval_batch},
      {"eval_steps", c.eval_steps},
      {"chunk", c.chunk},
      {"divergence_factor", c.divergence_factor},
      {"stop_when", c.stop_when},
      {"limits", Options("--limit", model_limit_specs(), c.limits).values()},
      {"checkpoint_every", c.checkpoint_every},
      {"init_from", c.init_from},
      {"threads", 1}};
  if (folder.active() && c.resume.empty()) {
    folder.write("config.json", config.dump(2) + "\n");
    folder.write("model.dot", model_dot);
  }

  TrainResult r;
  r.chance_loss = evaluator.task().chance_loss();
  // An algorithm that falls back to a costlier path than its description promises says so.
  const std::string cost_note = algo->cost_note();
  if (!cost_note.empty()) fmt::print(stderr, "credo: note: {}\n", cost_note);
  // The header ends with the task's own metrics, named by the first evaluation.
  std::string csv = "step,train_loss,eval_loss,eval_accuracy,wall_seconds";
  std::vector<Metric> metrics;
  auto t0 = Clock::now();
  double elapsed_before = 0;  // wall seconds of the sessions before this one (a resumed run)
  double loss_sum = 0, mask_sum = 0, episode_mask = 0;
  const bool tty = ::isatty(2);
  std::unique_ptr<Progress> progress;
  if (c.progress)
    progress = std::make_unique<Progress>(stderr, tty, c.steps, fmt::format("{} {}", c.algorithm, c.task),
                                          c.progress_every);
  std::string status_text;
  long updates = 0;
  // Divergence: a non-finite loss or parameter at once, or an evaluation loss above divergence_factor x chance
  // at kDivergencePatience evaluations in a row or at the last one.
  constexpr int kDivergencePatience = 3;
  int far_above = 0;
  const std::optional<StopWhen> stop_when =
      c.stop_when.empty() ? std::nullopt : std::optional<StopWhen>(parse_stop_when(c.stop_when));
  auto stop = [&](const char* status, std::string reason) {
    if (r.status == "finished") r.status = status, r.reason = std::move(reason);
  };
  auto wall = [&] { return elapsed_before + seconds_since(t0); };
  auto evaluate = [&](long step, EvalObserver<T>* observer) {
    const Evaluation e = evaluator.run(observer);
    if (step == 0) {
      for (const auto& m : e.metrics) csv += fmt::format(",{}", m.name);
      csv += "\n";
    }
    const double train_loss = mask_sum > 0 ? loss_sum / mask_sum : std::numeric_limits<double>::quiet_NaN();
    csv += fmt::format("{},{},{},{},{:.3f}", step, csv_number(train_loss), csv_number(e.loss),
                       e.accuracy < 0 ? "" : csv_number(e.accuracy), wall());
    for (const auto& m : e.metrics) csv += fmt::format(",{}", csv_number(m.value));
    csv += "\n";
    metrics = e.metrics;
    loss_sum = mask_sum = 0;
    r.eval_loss = e.loss;
    r.eval_accuracy = e.accuracy;
    r.eval_step = step;
    status_text = fmt::format("eval loss {:.4f} (chance {:.4f}){}", e.loss, r.chance_loss,
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
    if (stop_when && r.status == "finished") {
      double v = std::numeric_limits<double>::quiet_NaN();
      bool known = true;
      if (stop_when->metric == "eval_loss") v = e.loss;
      else if (stop_when->metric == "eval_accuracy") known = e.accuracy >= 0, v = e.accuracy;
      else {
        const auto it = std::find_if(e.metrics.begin(), e.metrics.end(),
                                     [&](const auto& m) { return m.name == stop_when->metric; });
        known = it != e.metrics.end();
        if (known) v = it->value;
      }
      if (!known) {
        std::vector<std::string> names = {"eval_loss"};
        if (e.accuracy >= 0) names.push_back("eval_accuracy");
        for (const auto& m : e.metrics) names.push_back(m.name);
        fail("--stop-when: {} reports no metric '{}' (it reports {})", c.task, stop_when->metric,
             fmt::join(names, ", "));
      }
      if (stop_when->met(v)) {
        r.stopped_early = true;
        r.reason = fmt::format("{} = {:.6g} at step {} ({})", stop_when->metric, v, step, stop_when->text());
      }
    }
  };

  Vec<T> grad = Vec<T>::Zero(prog.param_count());
  bool first = true;
  Position pos;
  double train_seconds_before = 0, eval_seconds = 0;
  Clock::time_point train_t0 = Clock::now();

  // The whole state of the run between two time steps (framework/checkpoint.h).
  auto save_checkpoint = [&]() {
    if (!folder.active()) return;
    Checkpoint ck;
    ck.meta["config"] = config;
    ck.meta["precision"] = c.precision;
    ck.meta["blocks"] = block_list(prog);
    ck.meta["status"] = r.status;
    ck.meta["position"] = {{"episodes", pos.episodes}, {"next_step", pos.next_step},
                           {"episode_done", pos.episode_done}, {"first", first}};
    ck.meta["progress"] = {{"updates", updates},
                           {"time_steps", r.time_steps},
                           {"loss_sum", loss_sum},
                           {"mask_sum", mask_sum},
                           {"episode_mask", episode_mask},
                           {"far_above", far_above},
                           {"eval_loss", number_or_null(r.eval_loss)},
                           {"eval_accuracy", r.eval_accuracy},
                           {"eval_step", r.eval_step},
                           {"wall_seconds", wall()},
                           {"train_seconds", train_seconds_before + seconds_since(train_t0) - eval_seconds},
                           {"eval_seconds", eval_seconds}};
    nlohmann::json ms = nlohmann::json::array();
    for (const auto& m : metrics) ms.push_back({{"name", m.name}, {"value", number_or_null(m.value)}});
    ck.meta["progress"]["metrics"] = ms;
    ck.add_array("theta", npy::make_array(prog.params().data(), {prog.param_count()}));
    ck.add_array("grad", npy::make_array(grad.data(), {prog.param_count()}));
    const OptimizerState<T> os = opt.state();
    ck.meta["optimizer"] = {{"updates", os.updates}};
    ck.add_array("optimizer/m", npy::make_array(os.m.data(), {os.m.size()}));
    ck.add_array("optimizer/v", npy::make_array(os.v.data(), {os.v.size()}));
    StateSaver<T> saver(ck, "algorithm/");
    ck.meta["algorithm_state_complete"] = algo->visit_state(saver);
    ck.add("metrics.csv", csv);
    const std::string path = c.out + "/checkpoint.ckpt";
    write_checkpoint(path, ck);
    folder.track("checkpoint.ckpt");
    if (c.keep_checkpoints) {
      std::error_code ec;
      std::filesystem::create_directories(c.out + "/checkpoints", ec);
      if (ec) fail("{}/checkpoints: cannot create the folder ({})", c.out, ec.message());
      const std::string name = fmt::format("checkpoints/update-{}.ckpt", updates);
      write_checkpoint(c.out + "/" + name, ck);
      folder.track(name);
    }
  };

  // Resuming: θ, the optimizer, the algorithm's carried state, the accumulators, the metrics so far, and the task
  // drawn up to where the checkpoint stood.
  Episode current;  // the episode being run when the checkpoint was taken, if it was not finished
  bool resume_inside = false;
  if (!c.resume.empty()) {
    const std::string& where = c.resume;
    const auto& m = resume.meta;
    try {
      const auto theta = resume.array("theta", where).to_doubles(where);
      const auto g = resume.array("grad", where).to_doubles(where);
      if (static_cast<int>(theta.size()) != prog.param_count() || static_cast<int>(g.size()) != prog.param_count())
        fail("{}: θ or the gradient has the wrong size", where);
      for (int k = 0; k < prog.param_count(); ++k)
        prog.params()[k] = static_cast<T>(theta[static_cast<size_t>(k)]), grad[k] = static_cast<T>(g[static_cast<size_t>(k)]);
      OptimizerState<T> os;
      os.updates = m.at("optimizer").at("updates").get<long>();
      auto vec = [&](const char* name) {
        const auto v = resume.array(name, where).to_doubles(where);
        Vec<T> out(static_cast<Eigen::Index>(v.size()));
        for (size_t k = 0; k < v.size(); ++k) out[static_cast<Eigen::Index>(k)] = static_cast<T>(v[k]);
        return out;
      };
      os.m = vec("optimizer/m");
      os.v = vec("optimizer/v");
      opt.set_state(os, where);
      const auto& p = m.at("position");
      pos.episodes = p.at("episodes").get<long>();
      pos.next_step = p.at("next_step").get<int>();
      pos.episode_done = p.at("episode_done").get<bool>();
      first = p.at("first").get<bool>();
      const auto& q = m.at("progress");
      updates = q.at("updates").get<long>();
      r.time_steps = q.at("time_steps").get<long>();
      loss_sum = q.at("loss_sum").get<double>();
      mask_sum = q.at("mask_sum").get<double>();
      episode_mask = q.at("episode_mask").get<double>();
      far_above = q.at("far_above").get<int>();
      r.eval_loss = number_or_nan(q.at("eval_loss"));
      r.eval_accuracy = q.at("eval_accuracy").get<double>();
      r.eval_step = q.at("eval_step").get<long>();
      elapsed_before = q.at("wall_seconds").get<double>();
      train_seconds_before = q.at("train_seconds").get<double>();
      for (const auto& x : q.at("metrics")) metrics.push_back({x.at("name").get<std::string>(), number_or_nan(x.at("value"))});
      csv = resume.get("metrics.csv", where);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: malformed checkpoint ({})", where, e.what());
    }
    if (updates >= c.steps)
      fail("{}: the run already made its {} updates; resume it with more --steps to train further", where, updates);
    // The algorithm: its carried state, unless the checkpoint stands at an episode boundary (reset() comes next)
    // and the algorithm draws no random numbers of its own.
    const bool complete = m.value("algorithm_state_complete", false);
    const auto& opts = AlgorithmRegistry::get().find(c.algorithm, "credit algorithm").options;
    const bool draws = std::any_of(opts.begin(), opts.end(), [](const OptionSpec& o) { return o.name == "seed"; });
    if (!complete && (!pos.episode_done || streaming || draws))
      fail("{}: algorithm '{}' does not declare everything it carries between steps (CreditAlgorithm::visit_state), "
           "so this checkpoint, taken {}, cannot be resumed exactly",
           where, c.algorithm, streaming ? "in a stream" : draws ? "after it drew random numbers" : "inside an episode");
    if (complete) {
      algo->reset(c.batch);
      StateLoader<T> loader(resume, "algorithm/", where);
      algo->visit_state(loader);
    }
    // The task's data follow its seed: draw again what was drawn.
    for (long k = 0; k + 1 < pos.episodes; ++k) task->sample(c.batch, c.chunk);
    if (pos.episodes > 0) {
      current = task->sample(c.batch, c.chunk);
      resume_inside = !pos.episode_done;
    }
    folder.write("metrics.csv", csv);
    fmt::print(stderr, "credo: resuming {} at update {} of {}\n", c.out, updates, c.steps);
  }

  auto after_update = [&]() {
    ++updates;
    if (!prog.params().allFinite()) {
      stop("diverged", fmt::format("a parameter is not finite after update {}", updates));
      return;
    }
    if (updates % eval_every == 0 || updates == c.steps) {
      const auto e0 = Clock::now();
      evaluate(updates, nullptr);
      eval_seconds += seconds_since(e0);
    }
    if (c.checkpoint_every > 0 && updates % c.checkpoint_every == 0 && updates < c.steps) save_checkpoint();
    if (progress) progress->update(updates, status_text);
  };
  auto stopped = [&] {
    if (r.status != "finished" || r.stopped_early) return true;
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
    if (c.resume.empty()) evaluate(0, nullptr);
    while ((updates < c.steps || resume_inside) && !stopped()) {
      int t0_step = 0;
      if (resume_inside) {
        resume_inside = false;
        t0_step = pos.next_step;
      } else {
        current = task->sample(c.batch, c.chunk);
        ++pos.episodes;
        pos.next_step = 0;
        pos.episode_done = false;
        episode_mask = 0;
        if (!streaming || first) algo->reset(current.batch);
        first = false;
      }
      const Episode& ep = current;
      const Mat<T> xs = ep.x.cast<T>(), ts = ep.target.cast<T>(), ms = ep.mask.cast<T>();
      const int B = ep.batch;
      bool done = updates >= c.steps;
      for (int t = t0_step; t < ep.steps && !done; ++t) {
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
        pos.next_step = t + 1;
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
      pos.episode_done = true;
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
    // The run's last state, whatever ended it: a finished run can be extended (--resume with more --steps), an
    // interrupted one continued.
    save_checkpoint();
  } catch (const std::exception& e) {
    // Nothing measured beyond the start: the folder is taken back to what it was. Otherwise what was measured
    // stays, with a summary saying the run failed and where.
    if (folder.active()) {
      if (updates > 0 || !c.resume.empty()) {
        try {
          nlohmann::json failed = {{"model", c.model},       {"task", c.task},       {"algorithm", c.algorithm},
                                   {"status", "failed"},     {"step", updates},      {"reason", e.what()},
                                   {"eval_step", r.eval_step}, {"chance_loss", r.chance_loss}};
          failed["eval_loss"] = std::isfinite(r.eval_loss) ? nlohmann::json(r.eval_loss) : nlohmann::json(nullptr);
          folder.write("summary.json", failed.dump(2) + "\n");
          folder.keep();
          fmt::print(stderr, "{}credo: the run failed at step {}; what it measured is kept in {} (summary.json: "
                             "\"status\": \"failed\")\n", tty && progress ? "\n" : "", updates, folder.dir());
        } catch (const std::exception&) {
          folder.roll_back();
        }
      } else {
        folder.roll_back();
        fmt::print(stderr, "{}credo: the run failed before its first update; nothing of it is kept in {}\n",
                   tty && progress ? "\n" : "", folder.dir());
      }
    }
    throw;
  }
  const double train_seconds = train_seconds_before + seconds_since(train_t0) - eval_seconds;
  // A run stopped between evaluations keeps the training loss it measured since the last one.
  if (r.status != "finished" && updates > r.eval_step && mask_sum > 0) {
    csv += fmt::format("{},{},,,{:.3f}{}\n", updates, csv_number(loss_sum / mask_sum), wall(),
                       std::string(metrics.size(), ','));
    folder.write("metrics.csv", csv);
  }
  if (progress) progress->finish(updates, status_text);
  // The final evaluation recorded step by step.
  if (recorder && r.status == "finished") {
    evaluator.run(recorder.get());
    fmt::print(stderr, "credo: recorded the final evaluation in {}/record ({:.1f} MB)\n", c.out,
               recorder->bytes() / 1048576.0);
  }
  r.updates = updates;
  r.wall_seconds = wall();
  r.steps_per_second = train_seconds > 0 ? static_cast<double>(r.time_steps) / train_seconds : 0;
  r.peak_rss_mb = peak_rss_mb();
  if (r.stopped_early)
    fmt::print(stderr, "credo: stopped early: {}\n", r.reason);
  else if (r.status == "diverged")
    fmt::print(stderr, "credo: training diverged: {} (try a smaller --lr, or --clip)\n", r.reason);
  else if (r.status == "interrupted")
    fmt::print(stderr, "credo: interrupted by {}{}\n", r.reason,
               folder.active() ? fmt::format("; continue it with credo train --resume {}", c.out) : "");

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
  if (!c.stop_when.empty()) summary["stopped_early"] = r.stopped_early;
  if (!cost_note.empty()) summary["cost_note"] = cost_note;
  summary["eval_accuracy"] = r.eval_accuracy >= 0 ? nlohmann::json(r.eval_accuracy) : nlohmann::json(nullptr);
  summary["eval_metrics"] = nlohmann::json::object();
  for (const auto& m : metrics) summary["eval_metrics"][m.name] = number(m.value);
  const auto references = evaluator.task().reference_losses();
  if (!references.empty()) {
    summary["reference_losses"] = nlohmann::json::object();
    for (const auto& m : references) summary["reference_losses"][m.name] = m.value;
  }
  r.summary = summary;
  // The parameters as the run ended, per block, in numpy's format.
  folder.write("params.npz", npy::encode_npz(params_to_arrays(prog)));
  folder.write("summary.json", summary.dump(2) + "\n");
  folder.keep();
  return r;
}

}  // namespace

TrainResult train(const TrainConfig& c) {
  ModelGraph graph = c.model_text.empty() ? read_model(c.model, model_limits(c.limits))
                                          : parse_model(c.model_text, c.model, model_limits(c.limits));
  if (c.precision == "float") return run<float>(c, graph);
  if (c.precision == "double") return run<double>(c, graph);
  fail("--precision is '{}', must be float or double", c.precision);
}

}  // namespace credo
