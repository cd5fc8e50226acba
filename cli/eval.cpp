// credo eval and credo params: evaluating a saved network, and its parameters per block as numpy arrays.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/evaluate.h"
#include "framework/graph.h"
#include "framework/npy.h"
#include "framework/options.h"
#include "framework/params.h"
#include "framework/program.h"
#include "framework/record.h"
#include "framework/results.h"
#include "framework/task.h"
#include "framework/trainer.h"

namespace po = boost::program_options;

namespace credo::cli {

namespace {

// A trained network as a run keeps it: its configuration (the model, the run's settings) and its parameters,
// from a run folder (config.json, params.npz) or a checkpoint file (both inside).
struct SavedRun {
  nlohmann::json config;
  ModelGraph graph;
  std::string params;  // params.npz or the checkpoint
};

SavedRun read_run(const std::string& path, const char* option) {
  namespace fs = std::filesystem;
  std::error_code ec;
  SavedRun r;
  std::string config_path = path + "/config.json";
  if (fs::is_regular_file(path, ec)) {
    const Checkpoint ck = read_checkpoint(path);
    if (!ck.meta.contains("config")) fail("{}: the checkpoint holds no configuration", path);
    r.config = ck.meta["config"];
    r.params = config_path = path;
  } else {
    if (!fs::is_directory(path, ec))
      fail("{} {}: neither a run folder nor a checkpoint file (give the --out folder of a credo train run)", option,
           path);
    try {
      r.config = nlohmann::json::parse(npy::read_file(config_path));
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not valid JSON ({})", config_path, e.what());
    }
    r.params = path + "/params.npz";
    if (!fs::exists(r.params, ec)) fail("{}: missing (a run writes it when it finishes)", r.params);
  }
  if (!r.config.is_object() || !r.config.contains("model_dot") || !r.config["model_dot"].is_string())
    fail("{}: no 'model_dot' (not the configuration of a credo train run)", config_path);
  r.graph = parse_model(r.config["model_dot"].get<std::string>(), config_path);
  return r;
}

// A setting from the run's config.json, if it holds one of the right type.
template <class V>
std::optional<V> setting(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  try {
    return config.at(key).get<V>();
  } catch (const nlohmann::json::exception&) {
    fail("config.json: '{}' has the wrong type", key);
  }
}

// Sizes do not depend on the loss: an output's loss=auto (chosen by the task when training) becomes mse just to
// build the Program.
ModelGraph without_auto_losses(ModelGraph g) {
  for (auto& p : g.populations) {
    auto it = p.attributes.find("loss");
    if (it != p.attributes.end() && it->second == "auto") it->second = "mse";
  }
  return g;
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t;
  for (auto d : s) t += fmt::format("{}{}", t.empty() ? "" : ", ", d);
  return "(" + t + (s.size() == 1 ? ",)" : ")");
}

template <class T>
void print_blocks(const Program<T>& prog) {
  fmt::print("{:<36} {:>12} {:>11} {:>11} {:>11} {:>11} {:>11}\n", "block", "shape", "mean", "sd", "min", "max",
             "norm");
  for (const auto& b : prog.param_blocks()) {
    const auto v = prog.params().segment(b.offset, b.size).template cast<double>();
    const double mean = v.mean();
    const double sd = b.size > 1 ? std::sqrt((v.array() - mean).square().sum() / (b.size - 1)) : 0;
    fmt::print("{:<36} {:>12} {:>11.4g} {:>11.4g} {:>11.4g} {:>11.4g} {:>11.4g}\n", b.name,
               b.is_bias ? shape_text({b.size}) : shape_text({b.rows, b.cols}), mean, sd, v.minCoeff(), v.maxCoeff(),
               v.norm());
  }
}

template <class T>
int params_run(const ModelGraph& g, const std::string& load, std::uint64_t seed, const std::string& out) {
  Program<T> prog(without_auto_losses(g));
  std::mt19937_64 rng(seed);
  prog.init_params(rng);
  if (!load.empty()) {
    const auto set = load_parameters(prog, load);
    fmt::print("{}: set {} of {} parameter blocks{}\n", load, set.size(), prog.param_blocks().size(),
               set.size() < prog.param_blocks().size() ? fmt::format(" (the others as initialized with seed {})", seed)
                                                        : "");
  } else {
    fmt::print("model '{}': parameters as `credo train --seed {}` initializes them\n", g.name, seed);
  }
  print_blocks(prog);
  if (!out.empty()) {
    npy::write_npz(out, params_to_arrays(prog));
    fmt::print("wrote {} (np.load(path)[block] gives each block)\n", out);
  }
  return 0;
}

}  // namespace

void resolve_sizes_with_task(ModelGraph& g, const std::string& task, const std::vector<std::string>& task_opts) {
  if (task.empty()) return;
  const auto t = make_task(task, parse_key_values(task_opts, "--task-opt"), 1);
  resolve_auto_sizes(g, t->input_size(), t->output_size(), task);
}

int params_command(const Args& args) {
  std::string source, load, out, precision, task;
  std::vector<std::string> task_opts;
  std::uint64_t seed = 1;
  po::options_description d("credo params options");
  d.add_options()("help,h", "show this help")(
      "source", po::value(&source)->required(),
      "a model (DOT file), the --out folder of a credo train run, or one of its checkpoints (.ckpt)")(
      "load", po::value(&load), "set blocks from this .npz (np.savez(path, **blocks)); others keep their values")(
      "seed", po::value(&seed)->default_value(1), "initialize as credo train --seed does (before --load)")(
      "precision", po::value(&precision)->default_value("float"), "float | double: the dtype of --export")(
      "export", po::value(&out), "write every block to this .npz")(
      "task", po::value(&task), "the task that sizes the model's size=auto inputs and outputs (a run's: its own)")(
      "task-opt", po::value(&task_opts)->composing(), "task option key=value (repeatable)");
  po::positional_options_description pos;
  pos.add("source", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(d).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: credo params MODEL.dot|RUN_DIR|CHECKPOINT.ckpt [--load FILE] [--seed N] [--export OUT.npz]\n\n"
              << "A run folder's parameters are its trained ones (params.npz), a checkpoint's those it saved (e.g.\n"
              << "RUN/checkpoints/update-N.ckpt, weights over training); a model's are its initial ones.\n"
              << "Blocks are named as credo names them: W[a -> b] is a (rows, cols) matrix with drive = W @ a's "
                 "output,\nb[a] a vector of a's biases.\n\n"
              << d << "\n";
    return 0;
  }
  po::notify(vm);
  ModelGraph g;
  std::error_code ec;
  const bool checkpoint = source.size() > 5 && source.substr(source.size() - 5) == ".ckpt";
  if (std::filesystem::is_directory(source, ec) || checkpoint) {
    const SavedRun run = read_run(source, "source");
    g = run.graph;
    if (load.empty()) load = run.params;
    if (vm["precision"].defaulted())
      if (auto p = setting<std::string>(run.config, "precision")) precision = *p;
    // The run's own task sizes its model, unless another is named.
    if (task.empty()) {
      task = setting<std::string>(run.config, "task").value_or("");
      for (const auto& [k, v] : setting<std::map<std::string, std::string>>(run.config, "task_options").value_or(
               std::map<std::string, std::string>{}))
        task_opts.insert(task_opts.begin(), k + "=" + v);
    }
  } else {
    g = read_model(source);
  }
  resolve_sizes_with_task(g, task, task_opts);
  if (!out.empty() && out.size() < 4) fail("--export {}: give a file name ending in .npz", out);
  if (!out.empty() && out.substr(out.size() - 4) != ".npz") fail("--export {}: give a file name ending in .npz", out);
  if (precision == "float") return params_run<float>(g, load, seed, out);
  if (precision == "double") return params_run<double>(g, load, seed, out);
  fail("--precision is '{}', must be float or double", precision);
}

namespace {

struct EvalArgs {
  TrainConfig config;  // the task, its options, the seed and the evaluation settings
  ModelGraph graph;
  std::string params, source;
  std::string out;
  RecordOptions record;
  bool recording = false;
};

template <class T>
int eval_run(EvalArgs& a) {
  const TrainConfig& c = a.config;
  auto task = make_task(c.task, c.task_options, c.seed);
  ModelGraph g = a.graph;
  resolve_auto_sizes(g, task->input_size(), task->output_size(), c.task);
  resolve_output_losses(g, task->loss(), c.task);
  Program<T> prog(g);
  if (prog.input_size() != task->input_size() || prog.output_size() != task->output_size())
    fail("{}: the model takes {} inputs and gives {} outputs, but task '{}' has {} and {}", a.source,
         prog.input_size(), prog.output_size(), c.task, task->input_size(), task->output_size());
  std::mt19937_64 rng(c.seed);
  prog.init_params(rng);
  const auto set = load_parameters(prog, a.params);
  if (set.size() != prog.param_blocks().size())
    fmt::print(stderr, "credo eval: warning: {} sets {} of {} parameter blocks; the others are as initialized\n",
               a.params, set.size(), prog.param_blocks().size());
  Evaluator<T> evaluator(prog, c, *task);
  std::unique_ptr<Recorder<T>> recorder;
  nlohmann::json about = {{"model", a.source}, {"params", a.params}, {"task", c.task},
                          {"task_options", c.task_options}, {"eval_task_options", c.eval_task_options},
                          {"seed", c.seed}, {"precision", c.precision}};
  if (a.recording)
    recorder = std::make_unique<Recorder<T>>(prog, a.record, evaluator.steps(), evaluator.batch(), evaluator.warmup(),
                                             a.out + "/record", about);
  else if (!a.out.empty())
    prepare_output_dir(a.out);
  const Evaluation e = evaluator.run(recorder.get());
  const double chance = evaluator.task().chance_loss();
  nlohmann::json summary = about;
  summary["eval_loss"] = std::isfinite(e.loss) ? nlohmann::json(e.loss) : nlohmann::json(nullptr);
  summary["chance_loss"] = chance;
  summary["eval_accuracy"] = e.accuracy >= 0 ? nlohmann::json(e.accuracy) : nlohmann::json(nullptr);
  summary["eval_metrics"] = nlohmann::json::object();
  for (const auto& m : e.metrics) summary["eval_metrics"][m.name] = m.value;
  summary["sequences"] = evaluator.batch();
  summary["steps"] = evaluator.steps();
  fmt::print("{} on {}: eval loss {:.4f} (chance {:.4f}){}\n", a.source, c.task, e.loss, chance,
             e.accuracy >= 0 ? fmt::format(", accuracy {:.3f}", e.accuracy) : std::string());
  for (const auto& m : e.metrics) fmt::print("{}: {:.4g}\n", m.name, m.value);
  if (!a.out.empty()) {
    write_atomic(a.out + "/eval.json", summary.dump(2) + "\n");
    fmt::print("results: {}/eval.json{}\n", a.out,
               recorder ? fmt::format(", {}/index.json ({:.1f} MB)", recorder->dir(), recorder->bytes() / 1048576.0)
                        : "");
  }
  return 0;
}

}  // namespace

int eval_command(const Args& args) {
  EvalArgs a;
  auto& c = a.config;
  std::string run_dir, checkpoint, model, task, precision, record_items;
  std::vector<std::string> task_opts, eval_task_opts;
  std::uint64_t seed = 1;
  long eval_batch = 0, eval_steps = 0;
  po::options_description d("credo eval options");
  d.add_options()("help,h", "show this help")(
      "run", po::value(&run_dir),
      "the --out folder of a credo train run, or one of its checkpoints: its model, parameters and settings")(
      "checkpoint", po::value(&checkpoint), "a checkpoint file (RUN/checkpoint.ckpt, RUN/checkpoints/update-N.ckpt): "
                                            "the same as --run with that file")(
      "model", po::value(&model), "model graph (DOT file), with --params")(
      "params", po::value(&a.params), "parameters: an .npz of blocks (credo params --export) or a checkpoint")(
      "task", po::value(&task), "task name (default: the run's)")(
      "task-opt", po::value(&task_opts)->composing(), "task option key=value (repeatable; over the run's)")(
      "eval-task-opt", po::value(&eval_task_opts)->composing(),
      "task option key=value for evaluation only (repeatable; over the run's)")(
      "seed", po::value(&seed), "seed (default: the run's, else 1); the held-out data follows it")(
      "eval-batch", po::value(&eval_batch), "held-out sequences of an episodic task (default: the run's, else 256)")(
      "eval-steps", po::value(&eval_steps), "held-out stream length of a streaming task (default: the run's, else 2000)")(
      "precision", po::value(&precision), "float | double (default: the run's, else float)")(
      "record", po::value(&record_items)->implicit_value("states,outputs,loss"),
      "record per step: states, outputs, loss, grad_norm, traces, or all (all but traces) (comma-separated; alone: states,outputs,loss) "
      "into OUT/record")(
      "record-sequences", po::value(&a.record.sequences)->default_value(16), "sequences (streams) to record")(
      "record-algo", po::value(&a.record.algorithm)->default_value("bptt"),
      "the algorithm whose gradient norms (grad_norm) and trace summaries (traces) are recorded, name or name:k=v")(
      "record-limit-mb", po::value(&a.record.limit_mb)->default_value(1024.0),
      "refuse a recording larger than this (MB)")(
      "out", po::value(&a.out), "results folder: eval.json and record/ (needed with --record)");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(d).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: credo eval --run DIR [--task NAME] [--task-opt k=v] [--record ITEMS --out DIR]\n"
              << "       credo eval --checkpoint FILE.ckpt [--task NAME] [options]\n"
              << "       credo eval --model FILE.dot --params FILE.npz --task NAME [options]\n\n"
              << "Evaluates a network on the held-out data a training run evaluates on (the same sequences for the "
                 "same\ntask, options and seed), or on another variant of the task.\n\n"
              << d << "\n";
    return 0;
  }
  po::notify(vm);
  if (!checkpoint.empty()) {
    if (!run_dir.empty()) fail("give --run or --checkpoint, not both");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(checkpoint, ec))
      fail("--checkpoint {}: not a file (a run folder holds its checkpoint as checkpoint.ckpt)", checkpoint);
    run_dir = checkpoint;
  }
  nlohmann::json config = nlohmann::json::object();
  if (!run_dir.empty()) {
    if (!model.empty() || !a.params.empty())
      fail("--run takes the model and parameters from the run folder: give --run or --model with --params, not both");
    SavedRun run = read_run(run_dir, "--run");
    config = run.config;
    a.graph = run.graph;
    a.params = run.params;
    a.source = run_dir;
  } else {
    if (model.empty() || a.params.empty()) fail("give --run DIR, or --model FILE.dot with --params FILE.npz");
    a.graph = read_model(model);
    a.source = model;
  }
  const auto run_task = setting<std::string>(config, "task");
  c.task = !task.empty() ? task : run_task.value_or("");
  if (c.task.empty()) fail("--task is required with --model");
  // The run's task options carry over when the task is the run's.
  if (run_task && *run_task == c.task) {
    c.task_options = setting<std::map<std::string, std::string>>(config, "task_options").value_or(c.task_options);
    c.eval_task_options =
        setting<std::map<std::string, std::string>>(config, "eval_task_options").value_or(c.eval_task_options);
  }
  for (const auto& [k, v] : parse_key_values(task_opts, "--task-opt")) c.task_options[k] = v;
  for (const auto& [k, v] : parse_key_values(eval_task_opts, "--eval-task-opt")) c.eval_task_options[k] = v;
  c.seed = vm.count("seed") ? seed : setting<std::uint64_t>(config, "seed").value_or(1);
  c.eval_batch = static_cast<int>(vm.count("eval-batch") ? eval_batch : setting<long>(config, "eval_batch").value_or(256));
  c.eval_steps =
      static_cast<int>(vm.count("eval-steps") ? eval_steps : setting<long>(config, "eval_steps").value_or(2000));
  c.precision = !precision.empty() ? precision : setting<std::string>(config, "precision").value_or("float");
  if (vm.count("eval-batch") && (eval_batch < 1 || eval_batch > 1'000'000))
    fail("--eval-batch is {}, must be in [1, 1000000]", eval_batch);
  if (vm.count("eval-steps") && (eval_steps < 1 || eval_steps > 100'000'000))
    fail("--eval-steps is {}, must be in [1, 100000000]", eval_steps);
  if (!record_items.empty()) {
    a.record.what = parse_record_items(record_items);
    a.recording = true;
    if (a.out.empty()) fail("--record needs --out: the folder the recording goes to (OUT/record)");
  }
  if (c.precision == "float") return eval_run<float>(a);
  if (c.precision == "double") return eval_run<double>(a);
  fail("--precision is '{}', must be float or double", c.precision);
}

}  // namespace credo::cli
