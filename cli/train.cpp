// credo train and credo compare: the training options shared by both, and the side-by-side table.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <cmath>
#include <cstdio>
#include <limits>
#include <fstream>

#include <filesystem>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "framework/credit.h"
#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/npy.h"
#include "framework/options.h"
#include "framework/graph.h"
#include "framework/results.h"
#include "framework/signals.h"
#include "framework/trainer.h"

namespace po = boost::program_options;

namespace credo::cli {

namespace {

struct Parsed {
  TrainConfig config;
  std::vector<std::string> task_opts, eval_task_opts, algo_opts, limits;
  std::string algos, seed = "1";
};

po::options_description training_options(Parsed& p, bool several) {
  auto& c = p.config;
  po::options_description d(several ? "credo compare options" : "credo train options");
  // train may take the model, task and algorithm from --config or --resume instead: it checks them itself.
  auto needed = [several](auto* v) { return several ? v->required() : v; };
  d.add_options()("help,h", "show this help")(
      "model", needed(po::value(&c.model)),
      several ? "model graph (DOT file), or several comma-separated: every algorithm runs on each"
              : "model graph (DOT file), e.g. models/elman.dot")(
      "task", needed(po::value(&c.task)), "task name (credo list shows them)")(
      "task-opt", po::value(&p.task_opts)->composing(), "task option key=value (repeatable)")(
      "eval-task-opt", po::value(&p.eval_task_opts)->composing(),
      "task option key=value for evaluation only, overriding --task-opt (repeatable), e.g. a longer length");
  if (several)
    d.add_options()("algos", po::value(&p.algos)->required(),
                    "comma-separated algorithms, each name or name:k=v:k=v, e.g. rtrl,bptt,tbptt:k1=5:k2=10");
  else
    d.add_options()("algo", po::value(&c.algorithm),
                    "credit algorithm, name or name:k=v:k=v, e.g. snap:n=1 (credo list shows them)")(
        "algo-opt", po::value(&p.algo_opts)->composing(), "algorithm option key=value (repeatable)");
  d.add_options()("steps", po::value(&c.steps)->default_value(1000),
                  "parameter updates (online algorithms on a stream: one per time step)")(
      "batch", po::value(&c.batch)->default_value(16), "sequences per batch")(
      "optimizer", po::value(&c.optimizer)->default_value("adam"), "sgd | adam")(
      "lr", po::value(&c.lr)->default_value(1e-3), "learning rate")(
      "clip", po::value(&c.clip)->default_value(0.0), "clip the gradient norm to this (0: off)")(
      "seed", po::value(&p.seed)->default_value("1"), "random seed, an integer >= 0 (same seed, same numbers)")(
      "update", po::value(&c.update)->default_value("auto"),
      "online (apply each gradient as it comes) | episode (once per episode) | auto (online on streams)")(
      "precision", po::value(&c.precision)->default_value("float"), "float | double")(
      "eval-every", po::value(&c.eval_every)->default_value(0), "updates between evaluations (0: steps/20)")(
      "eval-batch", po::value(&c.eval_batch)->default_value(256), "held-out sequences (episodic tasks)")(
      "eval-steps", po::value(&c.eval_steps)->default_value(2000), "held-out stream length (streaming tasks)")(
      "chunk", po::value(&c.chunk)->default_value(100), "steps per sample of a streaming task")(
      "divergence-factor", po::value(&c.divergence_factor)->default_value(100),
      "stop as diverged when the eval loss exceeds this many times chance at 3 evaluations in a row or at the last "
      "(0: only a non-finite loss or parameter counts)")(
      "stop-when", po::value(&c.stop_when),
      "stop at the first evaluation that meets METRIC>=V or METRIC<=V (eval_loss, eval_accuracy or a task metric, "
      "e.g. decision_accuracy>=0.93)")(
      "limit", po::value(&p.limits)->composing(),
      "raise a model limit, name=value (repeatable; credo list shows the limits)")(
      "lr-schedule", po::value(&c.lr_schedule)->default_value("constant"),
      "constant | step[:every=N][:factor=F] (lr x F every N updates) | cosine[:min=F] (down to F x lr at the end)")(
      "warmup", po::value(&c.warmup)->default_value(0), "updates over which the rate rises linearly (0: none)")(
      "weight-decay", po::value(&c.weight_decay)->default_value(0.0),
      "decoupled weight decay: each update first shrinks θ by lr x this")(
      "checkpoint-every", po::value(&c.checkpoint_every)->default_value(0),
      "updates between checkpoints (OUT/checkpoint.ckpt; 0: only when the run ends)")(
      "keep-checkpoints", po::bool_switch(&c.keep_checkpoints),
      "also keep every checkpoint as OUT/checkpoints/update-N.ckpt (weights over training)")(
      "progress-every", po::value(&c.progress_every)->default_value(30),
      "seconds between progress lines when stderr is not a terminal")(
      "out", po::value(&c.out)->default_value(several ? "results/compare" : "results/train"), "results folder")(
      "overwrite", po::bool_switch(&c.overwrite), "replace the results a previous run left in --out");
  return d;
}

// The config's parts given as text on the command line, checked.
void resolve(Parsed& p) {
  p.config.task_options = parse_key_values(p.task_opts, "--task-opt");
  p.config.eval_task_options = parse_key_values(p.eval_task_opts, "--eval-task-opt");
  p.config.algorithm_options = parse_key_values(p.algo_opts, "--algo-opt");
  p.config.limits = parse_key_values(p.limits, "--limit");
  model_limits(p.config.limits);
  p.config.seed = parse_seed(p.seed, "--seed");
}

bool parse(const Args& args, po::options_description& d, const char* usage, po::variables_map* out = nullptr) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(d).run(), vm);
  if (vm.count("help")) {
    std::cout << usage << "\n\n" << d << "\n";
    return false;
  }
  po::notify(vm);
  if (out) *out = vm;
  return true;
}

// --algo name:k=v:k=v, with any --algo-opt beside it (the same option twice with two values is an error).
void split_algorithm(TrainConfig& c) {
  if (c.algorithm.find(':') == std::string::npos && c.algorithm.find(',') == std::string::npos) return;
  auto [name, options] = parse_algorithm_spec(c.algorithm);
  for (const auto& [k, v] : c.algorithm_options) {
    auto it = options.find(k);
    if (it != options.end() && it->second != v)
      fail("--algo {} sets {}={}, but --algo-opt sets {}={}", c.algorithm, k, it->second, k, v);
    options[k] = v;
  }
  c.algorithm = name;
  c.algorithm_options = options;
}

// A number for a CSV cell; empty when not finite.
std::string csv_value(double v) { return std::isfinite(v) ? fmt::format("{}", v) : ""; }

std::string label(const std::string& spec) {
  std::string s = spec;
  for (char& ch : s)
    if (ch == ':' || ch == ',' || ch == '=') ch = ch == '=' ? '-' : '_';
  return s;
}

}  // namespace

int train_command(const Args& args) {
  Parsed p;
  auto d = training_options(p, false);
  std::string config_file, resume;
  d.add_options()("config", po::value(&config_file),
                  "rerun the run a config.json describes (its model, task, algorithm, every setting); options given "
                  "beside it override it")(
      "resume", po::value(&resume),
      "continue the run in this folder from its checkpoint (after a kill, or with more --steps): it ends with the "
      "numbers of the run never interrupted")(
      "init-from", po::value(&p.config.init_from),
      "start from the parameters of a checkpoint, a run folder or an .npz of blocks (a new run)")(
      "record", po::value(&p.config.record)->implicit_value("states,outputs,loss"),
      "record the final evaluation step by step into OUT/record: states, outputs, loss, grad_norm, traces, or all (all but traces)")(
      "record-sequences", po::value(&p.config.record_sequences)->default_value(16), "sequences (streams) to record")(
      "record-algo", po::value(&p.config.record_algorithm),
      "the algorithm whose gradient norms (grad_norm) and trace summaries (traces) are recorded (default: the run's)")(
      "record-limit-mb", po::value(&p.config.record_limit_mb)->default_value(1024.0),
      "refuse a recording larger than this (MB)");
  po::variables_map vm;
  if (!parse(args, d,
             "usage: credo train --model FILE.dot --task NAME --algo NAME[:k=v...] [options]\n"
             "       credo train --config RUN/config.json [options that override it]\n"
             "       credo train --resume RUN [--steps N]",
             &vm))
    return 0;
  resolve(p);
  auto given = [&](const char* name) { return vm.count(name) > 0 && !vm[name].defaulted(); };
  TrainConfig c = p.config;
  if (!resume.empty()) {
    // The run as it was configured, from its checkpoint; only how long it runs and how it reports may change.
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(resume, ec)) fail("--resume {}: nothing there (give the folder of the run to continue)", resume);
    const std::string file = fs::is_directory(resume, ec) ? (fs::path(resume) / "checkpoint.ckpt").string() : resume;
    const Checkpoint ck = read_checkpoint(file);
    if (!ck.meta.contains("config")) fail("{}: the checkpoint holds no configuration", file);
    c = config_from_json(ck.meta["config"], file);
    for (const auto& [name, value] : vm) {
      (void)value;
      static const std::vector<std::string> allowed = {"resume",           "steps",           "checkpoint-every",
                                                       "keep-checkpoints", "progress-every",  "record",
                                                       "record-sequences", "record-algo",     "record-limit-mb"};
      if (given(name.c_str()) && std::find(allowed.begin(), allowed.end(), name) == allowed.end())
        fail("--resume continues the run as it was configured; --{} would change it (to start a new run from its "
             "weights, use --init-from {})",
             name, resume);
    }
    if (given("steps")) c.steps = p.config.steps;
    if (given("checkpoint-every")) c.checkpoint_every = p.config.checkpoint_every;
    c.keep_checkpoints = p.config.keep_checkpoints;
    c.progress_every = p.config.progress_every;
    c.record = p.config.record;
    c.record_sequences = p.config.record_sequences;
    c.record_algorithm = p.config.record_algorithm;
    c.record_limit_mb = p.config.record_limit_mb;
    c.resume = file;
    c.out = fs::is_directory(resume, ec) ? resume : fs::path(file).parent_path().string();
  } else if (!config_file.empty()) {
    // The configuration of a run, then every option given beside it.
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(npy::read_file(config_file));
    } catch (const nlohmann::json::exception& e) {
      fail("--config {}: not valid JSON ({})", config_file, e.what());
    }
    c = config_from_json(j, config_file);
    const TrainConfig& g = p.config;
    if (given("model")) c.model = g.model, c.model_text.clear();
    if (given("task") && g.task != c.task) c.task = g.task, c.task_options.clear(), c.eval_task_options.clear();
    for (const auto& [k, v] : g.task_options) c.task_options[k] = v;
    for (const auto& [k, v] : g.eval_task_options) c.eval_task_options[k] = v;
    if (given("algo")) c.algorithm = g.algorithm, c.algorithm_options.clear();
    for (const auto& [k, v] : g.algorithm_options) c.algorithm_options[k] = v;
    for (const auto& [k, v] : g.limits) c.limits[k] = v;
    if (given("steps")) c.steps = g.steps;
    if (given("batch")) c.batch = g.batch;
    if (given("optimizer")) c.optimizer = g.optimizer;
    if (given("lr")) c.lr = g.lr;
    if (given("clip")) c.clip = g.clip;
    if (given("seed")) c.seed = g.seed;
    if (given("update")) c.update = g.update;
    if (given("precision")) c.precision = g.precision;
    if (given("eval-every")) c.eval_every = g.eval_every;
    if (given("eval-batch")) c.eval_batch = g.eval_batch;
    if (given("eval-steps")) c.eval_steps = g.eval_steps;
    if (given("chunk")) c.chunk = g.chunk;
    if (given("divergence-factor")) c.divergence_factor = g.divergence_factor;
    if (given("stop-when")) c.stop_when = g.stop_when;
    if (given("lr-schedule")) c.lr_schedule = g.lr_schedule;
    if (given("warmup")) c.warmup = g.warmup;
    if (given("weight-decay")) c.weight_decay = g.weight_decay;
    if (given("checkpoint-every")) c.checkpoint_every = g.checkpoint_every;
    if (given("init-from")) c.init_from = g.init_from;
    c.keep_checkpoints = g.keep_checkpoints;
    c.progress_every = g.progress_every;
    c.out = g.out;
    c.overwrite = g.overwrite;
    c.record = g.record, c.record_sequences = g.record_sequences, c.record_algorithm = g.record_algorithm;
    c.record_limit_mb = g.record_limit_mb;
  } else {
    if (c.model.empty()) fail("--model is required (or --config RUN/config.json, or --resume RUN)");
    if (c.task.empty()) fail("--task is required");
    if (c.algorithm.empty()) fail("--algo is required");
  }
  split_algorithm(c);
  c.progress = true;
  if (c.out.empty()) fail("--out is empty: give a folder for the results");
  install_stop_handlers();
  const TrainResult r = train(c);
  fmt::print("{} on {} with {}: {}eval loss {:.4f} at step {} (chance {:.4f}){}, {:.0f} steps/s, peak RSS {:.0f} MB\n",
             c.model, c.task, c.algorithm, r.status == "finished" ? "" : r.status + ", ", r.eval_loss, r.eval_step,
             r.chance_loss, r.eval_accuracy >= 0 ? fmt::format(", accuracy {:.3f}", r.eval_accuracy) : std::string(),
             r.steps_per_second, r.peak_rss_mb);
  if (r.summary.contains("eval_metrics"))
    for (const auto& [name, value] : r.summary.at("eval_metrics").items())
      fmt::print("{}: {}\n", name, value.is_number() ? fmt::format("{:.4g}", value.get<double>()) : "-");
  fmt::print("results: {}/summary.json, metrics.csv, config.json, params.npz, checkpoint.ckpt\n", c.out);
  return exit_status(r);
}

namespace {

// "0.001,0.01" -> numbers; an item that is not a number is an error naming the option.
std::vector<double> number_list(const std::string& text, const char* option) {
  std::vector<double> out;
  for (const auto& item : split_list(text, ",")) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::logic_error&) {
      used = 0;
    }
    if (used != item.size() || !std::isfinite(v)) fail("{}: '{}' is not a number", option, item);
    out.push_back(v);
  }
  if (out.empty()) fail("{} is empty", option);
  return out;
}

// How one run of a sweep ended, and what it measured.
struct Outcome {
  std::string status;  // finished | diverged | interrupted | failed
  TrainResult result;
};

// One training run in its own process, so its peak memory is its own; its summary is read back. A run that
// fails or diverges is reported as such and the sweep goes on.
Outcome train_in_child(const TrainConfig& c, const std::string& name) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) fail("cannot start a process for '{}'", name);
  if (pid == 0) {
    // A process group of its own: a Ctrl-C at the terminal reaches compare alone, which passes it on once
    // (below), so the run stops cleanly instead of being killed by a second signal. If compare itself dies,
    // the run is stopped as by SIGTERM.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) request_stop(SIGTERM);
    int status = kBadInput;
    try {
      status = exit_status(train(c));
    } catch (const InputError& e) {
      fmt::print(stderr, "credo compare: error: {}: {}\n", name, e.what());
    } catch (const std::bad_alloc&) {
      fmt::print(stderr, "credo compare: error: {}: out of memory\n", name);
    } catch (const std::exception& e) {
      fmt::print(stderr, "credo compare: internal error: {}: {}\n", name, e.what());
      status = kInternal;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(status);
  }
  int status = 0;
  bool passed_on = false;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) fail("lost the process of '{}'", name);
    if (const int sig = stop_signal(); sig != 0 && !passed_on) {
      ::kill(pid, sig);
      passed_on = true;
    }
    ::usleep(20'000);
  }
  Outcome o;
  o.status = "failed";
  std::ifstream in(c.out + "/summary.json");
  nlohmann::json js;
  if (in) js = nlohmann::json::parse(in, nullptr, false);
  if (js.is_object()) {
    // A diverged run's loss may be non-finite, which JSON writes as null.
    auto number = [&](const char* key, double if_null) {
      auto it = js.find(key);
      return it != js.end() && it->is_number() ? it->get<double>() : if_null;
    };
    const double nan = std::numeric_limits<double>::quiet_NaN();
    TrainResult& r = o.result;
    r.eval_loss = number("eval_loss", nan);
    r.chance_loss = number("chance_loss", nan);
    r.eval_accuracy = number("eval_accuracy", -1.0);
    r.steps_per_second = number("steps_per_second", nan);
    r.peak_rss_mb = number("peak_rss_mb", nan);
    r.updates = static_cast<long>(number("step", 0));
    if (auto it = js.find("status"); it != js.end() && it->is_string()) o.status = it->get<std::string>();
    if (auto it = js.find("reason"); it != js.end() && it->is_string()) o.result.reason = it->get<std::string>();
  }
  if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && o.status == "finished")) o.status = "failed";
  return o;
}

}  // namespace

int compare_command(const Args& args) {
  Parsed p;
  auto d = training_options(p, true);
  std::string lrs_text, seeds_text;
  d.add_options()("lrs", po::value(&lrs_text), "comma-separated learning rates to sweep (instead of --lr)")(
      "seeds", po::value(&seeds_text), "comma-separated seeds to repeat each run with (instead of --seed)");
  if (!parse(args, d, "usage: credo compare --model FILE.dot[,FILE.dot...] --task NAME --algos A,B,... [--lrs ..] [--seeds ..]"))
    return 0;
  resolve(p);
  // Several models (--model a.dot,b.dot) compare architectures: every algorithm runs on every model, and a
  // run is named model/algorithm.
  const auto models = split_list(p.config.model, ",");
  if (models.empty()) fail("--model is empty: give a DOT model file (or several, comma-separated)");
  std::vector<std::string> specs, spec_model;
  for (const auto& m : models)
    for (const auto& a : split_algorithm_list(p.algos)) {
      specs.push_back(models.size() > 1 ? std::filesystem::path(m).stem().string() + "/" + a : a);
      spec_model.push_back(m);
    }
  // Check every algorithm name, option and list before training any.
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> parsed;
  for (const auto& s : specs) {
    parsed.push_back(parse_algorithm_spec(s.substr(s.find('/') == std::string::npos ? 0 : s.find('/') + 1)));
    const auto& e = AlgorithmRegistry::get().find(parsed.back().first, "credit algorithm");
    Options(fmt::format("algorithm '{}'", parsed.back().first), e.options, parsed.back().second);
  }
  const std::vector<double> lrs = lrs_text.empty() ? std::vector<double>{p.config.lr} : number_list(lrs_text, "--lrs");
  std::vector<std::uint64_t> seeds;
  for (double v : seeds_text.empty() ? std::vector<double>{static_cast<double>(p.config.seed)}
                                     : number_list(seeds_text, "--seeds")) {
    if (v < 0 || v != std::floor(v) || v > 1e15) fail("--seeds: {} is not a non-negative integer", v);
    seeds.push_back(static_cast<std::uint64_t>(v));
  }
  const bool grid = lrs.size() > 1 || seeds.size() > 1;
  // The model, task and every algorithm (including whether it supports the model's kinds) are checked here,
  // before the first run, so a mistake in the last algorithm does not come after the others have trained.
  for (size_t i = 0; i < specs.size(); ++i) {
    TrainConfig c = p.config;
    c.model = spec_model[i];
    c.algorithm = parsed[i].first;
    c.algorithm_options = parsed[i].second;
    c.out.clear();
    c.dry_run = true;
    train(c);
  }
  struct Run {
    size_t algo;
    double lr;
    std::uint64_t seed;
    TrainConfig config;
  };
  std::vector<Run> runs;
  for (size_t i = 0; i < specs.size(); ++i)
    for (double lr : lrs)
      for (auto seed : seeds) {
        TrainConfig c = p.config;
        c.model = spec_model[i];
        c.algorithm = parsed[i].first;
        c.algorithm_options = parsed[i].second;
        c.lr = lr;
        c.seed = seed;
        c.out = p.config.out + "/" + label(specs[i]) + (grid ? fmt::format("/lr{}_seed{}", lr, seed) : "");
        c.progress = true;
        runs.push_back({i, lr, seed, c});
      }
  // No run's folder may hold an earlier run's results (unless --overwrite): all checked before the first run.
  for (const auto& run : runs) check_output_dir(run.config.out, p.config.overwrite);
  RunFolder folder(p.config.out, p.config.overwrite);
  install_stop_handlers();

  struct Cell {
    size_t algo;
    std::string name;
    double lr;
    std::vector<Outcome> runs;
  };
  std::vector<Cell> cells;
  std::string csv = "algorithm,lr,seed,status,step,eval_loss,chance_loss,eval_accuracy,steps_per_second,peak_rss_mb\n";
  bool all_finished = true;
  for (const auto& run : runs) {
    if (stop_signal() != 0) break;
    if (cells.empty() || cells.back().algo != run.algo || cells.back().lr != run.lr)
      cells.push_back({run.algo, specs[run.algo], run.lr, {}});
    const Outcome o = train_in_child(run.config, specs[run.algo]);
    const TrainResult& r = o.result;
    all_finished = all_finished && o.status == "finished";
    // An algorithm spec may hold commas (tbptt:k1=1,k2=10): quote it.
    csv += fmt::format("\"{}\",{},{},{},{},{},{},{},{},{}\n", specs[run.algo], run.lr, run.seed, o.status, r.updates,
                       csv_value(r.eval_loss), csv_value(r.chance_loss),
                       r.eval_accuracy >= 0 ? fmt::format("{}", r.eval_accuracy) : "", csv_value(r.steps_per_second),
                       csv_value(r.peak_rss_mb));
    cells.back().runs.push_back(o);
  }
  folder.write("summary.csv", csv);
  folder.keep();

  fmt::print("\n{} on {} ({} updates, batch {}, {}, {} seed{})\n", p.config.model, p.config.task, p.config.steps,
             p.config.batch, p.config.optimizer, seeds.size(), seeds.size() > 1 ? "s" : "");
  fmt::print("{:<22} {:>8} {:>18} {:>8} {:>9} {:>12} {:>8}  {}\n", "algorithm", "lr", "eval loss", "chance",
             "accuracy", "steps/s", "RSS MB", "runs");
  for (const auto& cell : cells) {
    // Figures over the runs that finished; the others are counted by how they ended.
    std::vector<const TrainResult*> ok;
    std::map<std::string, int> other;
    for (const auto& o : cell.runs) {
      if (o.status == "finished") ok.push_back(&o.result);
      else ++other[o.status];
    }
    std::string ended = fmt::format("{}/{} finished", ok.size(), cell.runs.size());
    for (const auto& [status, count] : other) ended += fmt::format(", {} {}", count, status);
    if (ok.empty()) {
      fmt::print("{:<22} {:>8.3g} {:>18} {:>8} {:>9} {:>12} {:>8}  {}\n", cell.name, cell.lr, "-", "-", "-", "-", "-",
                 ended);
      continue;
    }
    double mean = 0, sq = 0, acc = 0, sps = 0, rss = 0;
    for (const auto* r : ok) {
      mean += r->eval_loss;
      acc += r->eval_accuracy;
      sps += r->steps_per_second;
      rss = std::max(rss, r->peak_rss_mb);
    }
    const double n = static_cast<double>(ok.size());
    mean /= n;
    for (const auto* r : ok) sq += (r->eval_loss - mean) * (r->eval_loss - mean);
    const std::string loss = ok.size() > 1 ? fmt::format("{:.4f} ± {:.4f}", mean, std::sqrt(sq / (n - 1)))
                                           : fmt::format("{:.4f}", mean);
    const double a = acc / n;
    fmt::print("{:<22} {:>8.3g} {:>18} {:>8.4f} {:>9} {:>12.0f} {:>8.0f}  {}\n", cell.name, cell.lr, loss,
               ok[0]->chance_loss, ok[0]->eval_accuracy >= 0 ? fmt::format("{:.3f}", a) : "-", sps / n, rss, ended);
  }
  fmt::print("results: {}/summary.csv and {}/<algorithm>/{}{{summary.json,metrics.csv,config.json}}\n",
             p.config.out, p.config.out, grid ? "lr<lr>_seed<seed>/" : "");
  if (const int sig = stop_signal()) {
    fmt::print(stderr, "credo compare: interrupted; the runs above are those that had started\n");
    return exit_status_for_signal(sig);
  }
  if (!all_finished) {
    fmt::print(stderr, "credo compare: some runs diverged or failed (status column of {}/summary.csv)\n",
               p.config.out);
    return kDiverged;
  }
  return 0;
}

}  // namespace credo::cli
