// credo train and credo compare: the training options shared by both, and the side-by-side table.
#include <sys/wait.h>
#include <unistd.h>

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
#include "framework/error.h"
#include "framework/options.h"
#include "framework/results.h"
#include "framework/trainer.h"

namespace po = boost::program_options;

namespace credo::cli {

namespace {

struct Parsed {
  TrainConfig config;
  std::vector<std::string> task_opts, eval_task_opts, algo_opts;
  std::string algos;
};

po::options_description training_options(Parsed& p, bool several) {
  auto& c = p.config;
  po::options_description d(several ? "credo compare options" : "credo train options");
  d.add_options()("help,h", "show this help")(
      "model", po::value(&c.model)->required(), "model graph (DOT file), e.g. models/elman.dot")(
      "task", po::value(&c.task)->required(), "task name (credo list shows them)")(
      "task-opt", po::value(&p.task_opts)->composing(), "task option key=value (repeatable)")(
      "eval-task-opt", po::value(&p.eval_task_opts)->composing(),
      "task option key=value for evaluation only, overriding --task-opt (repeatable), e.g. a longer length");
  if (several)
    d.add_options()("algos", po::value(&p.algos)->required(),
                    "comma-separated algorithms, each name or name:k=v:k=v, e.g. rtrl,bptt,tbptt:k1=5:k2=10");
  else
    d.add_options()("algo", po::value(&c.algorithm)->required(), "credit algorithm (credo list shows them)")(
        "algo-opt", po::value(&p.algo_opts)->composing(), "algorithm option key=value (repeatable)");
  d.add_options()("steps", po::value(&c.steps)->default_value(1000),
                  "parameter updates (online algorithms on a stream: one per time step)")(
      "batch", po::value(&c.batch)->default_value(16), "sequences per batch")(
      "optimizer", po::value(&c.optimizer)->default_value("adam"), "sgd | adam")(
      "lr", po::value(&c.lr)->default_value(1e-3), "learning rate")(
      "clip", po::value(&c.clip)->default_value(0.0), "clip the gradient norm to this (0: off)")(
      "seed", po::value(&c.seed)->default_value(1), "random seed (same seed, same numbers)")(
      "update", po::value(&c.update)->default_value("auto"),
      "online (apply each gradient as it comes) | episode (once per episode) | auto (online on streams)")(
      "precision", po::value(&c.precision)->default_value("float"), "float | double")(
      "eval-every", po::value(&c.eval_every)->default_value(0), "updates between evaluations (0: steps/20)")(
      "eval-batch", po::value(&c.eval_batch)->default_value(256), "held-out sequences (episodic tasks)")(
      "eval-steps", po::value(&c.eval_steps)->default_value(2000), "held-out stream length (streaming tasks)")(
      "chunk", po::value(&c.chunk)->default_value(100), "steps per sample of a streaming task")(
      "out", po::value(&c.out)->default_value(several ? "results/compare" : "results/train"), "results folder");
  return d;
}

bool parse(const Args& args, po::options_description& d, const char* usage) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(d).run(), vm);
  if (vm.count("help")) {
    std::cout << usage << "\n\n" << d << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

// A child run that failed; its exit status becomes compare's.
struct ChildFailed {
  int status;
};

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
  if (!parse(args, d, "usage: credo train --model FILE.dot --task NAME --algo NAME [options]")) return 0;
  p.config.task_options = parse_key_values(p.task_opts, "--task-opt");
  p.config.eval_task_options = parse_key_values(p.eval_task_opts, "--eval-task-opt");
  p.config.algorithm_options = parse_key_values(p.algo_opts, "--algo-opt");
  p.config.progress = true;
  if (p.config.out.empty()) fail("--out is empty: give a folder for the results");
  const TrainResult r = train(p.config);
  fmt::print("{} on {} with {}: eval loss {:.4f} (chance {:.4f}){}, {:.0f} steps/s, peak RSS {:.0f} MB\n",
             p.config.model, p.config.task, p.config.algorithm, r.eval_loss, r.chance_loss,
             r.eval_accuracy >= 0 ? fmt::format(", accuracy {:.3f}", r.eval_accuracy) : std::string(),
             r.steps_per_second, r.peak_rss_mb);
  if (r.summary.contains("eval_metrics"))
    for (const auto& [name, value] : r.summary.at("eval_metrics").items())
      fmt::print("{}: {}\n", name, value.is_number() ? fmt::format("{:.4g}", value.get<double>()) : "-");
  fmt::print("results: {}/summary.json, metrics.csv, config.json\n", p.config.out);
  return 0;
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

// One training run in its own process, so its peak memory is its own; its summary is read back.
TrainResult train_in_child(const TrainConfig& c, const std::string& name) {
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) fail("cannot start a process for '{}'", name);
  if (pid == 0) {
    int status = 0;
    try {
      train(c);
    } catch (const InputError& e) {
      fmt::print(stderr, "credo compare: error: {}: {}\n", name, e.what());
      status = 2;
    } catch (const std::bad_alloc&) {
      fmt::print(stderr, "credo compare: error: {}: out of memory; nothing was written for this run\n", name);
      status = 2;
    } catch (const std::exception& e) {
      fmt::print(stderr, "credo compare: internal error: {}: {}\n", name, e.what());
      status = 3;
    }
    std::fflush(stderr);
    ::_exit(status);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw ChildFailed{WIFEXITED(status) ? WEXITSTATUS(status) : 1};
  std::ifstream in(c.out + "/summary.json");
  const auto js = nlohmann::json::parse(in);
  // A diverged run has a NaN loss, which JSON writes as null.
  auto number = [&](const char* key, double if_null) {
    const auto& v = js.at(key);
    return v.is_number() ? v.get<double>() : if_null;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  TrainResult r;
  r.eval_loss = number("eval_loss", nan);
  r.chance_loss = number("chance_loss", nan);
  r.eval_accuracy = number("eval_accuracy", -1.0);
  r.steps_per_second = number("steps_per_second", nan);
  r.peak_rss_mb = number("peak_rss_mb", nan);
  return r;
}

}  // namespace

int compare_command(const Args& args) {
  Parsed p;
  auto d = training_options(p, true);
  std::string lrs_text, seeds_text;
  d.add_options()("lrs", po::value(&lrs_text), "comma-separated learning rates to sweep (instead of --lr)")(
      "seeds", po::value(&seeds_text), "comma-separated seeds to repeat each run with (instead of --seed)");
  if (!parse(args, d, "usage: credo compare --model FILE.dot --task NAME --algos A,B,... [--lrs ..] [--seeds ..]"))
    return 0;
  p.config.task_options = parse_key_values(p.task_opts, "--task-opt");
  p.config.eval_task_options = parse_key_values(p.eval_task_opts, "--eval-task-opt");
  const auto specs = split_algorithm_list(p.algos);
  // Check every algorithm name, option and list before training any.
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> parsed;
  for (const auto& s : specs) {
    parsed.push_back(parse_algorithm_spec(s));
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
    c.algorithm = parsed[i].first;
    c.algorithm_options = parsed[i].second;
    c.dry_run = true;
    train(c);
  }
  prepare_output_dir(p.config.out);

  struct Cell {
    std::string name;
    double lr;
    std::vector<TrainResult> runs;
  };
  std::vector<Cell> cells;
  std::string csv = "algorithm,lr,seed,eval_loss,chance_loss,eval_accuracy,steps_per_second,peak_rss_mb\n";
  try {
    for (size_t i = 0; i < specs.size(); ++i)
      for (double lr : lrs) {
        Cell cell{specs[i], lr, {}};
        for (auto seed : seeds) {
          TrainConfig c = p.config;
          c.algorithm = parsed[i].first;
          c.algorithm_options = parsed[i].second;
          c.lr = lr;
          c.seed = seed;
          c.out = p.config.out + "/" + label(specs[i]) + (grid ? fmt::format("/lr{}_seed{}", lr, seed) : "");
          c.progress = true;
          const TrainResult r = train_in_child(c, specs[i]);
          // An algorithm spec may hold commas (tbptt:k1=1,k2=10): quote it.
          csv += fmt::format("\"{}\",{},{},{},{},{},{},{}\n", specs[i], lr, seed, r.eval_loss, r.chance_loss,
                             r.eval_accuracy >= 0 ? fmt::format("{}", r.eval_accuracy) : "", r.steps_per_second,
                             r.peak_rss_mb);
          cell.runs.push_back(r);
        }
        cells.push_back(std::move(cell));
      }
  } catch (const ChildFailed& f) {
    return f.status;
  }
  write_atomic(p.config.out + "/summary.csv", csv);

  fmt::print("\n{} on {} ({} updates, batch {}, {}, {} seed{})\n", p.config.model, p.config.task, p.config.steps,
             p.config.batch, p.config.optimizer, seeds.size(), seeds.size() > 1 ? "s" : "");
  fmt::print("{:<22} {:>8} {:>18} {:>8} {:>9} {:>12} {:>8}\n", "algorithm", "lr", "eval loss", "chance",
             "accuracy", "steps/s", "RSS MB");
  for (const auto& cell : cells) {
    double mean = 0, sq = 0, acc = 0, sps = 0, rss = 0;
    for (const auto& r : cell.runs) {
      mean += r.eval_loss;
      acc += r.eval_accuracy;
      sps += r.steps_per_second;
      rss = std::max(rss, r.peak_rss_mb);
    }
    const double n = static_cast<double>(cell.runs.size());
    mean /= n;
    for (const auto& r : cell.runs) sq += (r.eval_loss - mean) * (r.eval_loss - mean);
    const std::string loss = cell.runs.size() > 1 ? fmt::format("{:.4f} ± {:.4f}", mean, std::sqrt(sq / (n - 1)))
                                                   : fmt::format("{:.4f}", mean);
    const double a = acc / n;
    fmt::print("{:<22} {:>8.3g} {:>18} {:>8.4f} {:>9} {:>12.0f} {:>8.0f}\n", cell.name, cell.lr, loss,
               cell.runs[0].chance_loss, cell.runs[0].eval_accuracy >= 0 ? fmt::format("{:.3f}", a) : "-", sps / n,
               rss);
  }
  fmt::print("results: {}/summary.csv and {}/<algorithm>/{}{{summary.json,metrics.csv,config.json}}\n",
             p.config.out, p.config.out, grid ? "lr<lr>_seed<seed>/" : "");
  return 0;
}

}  // namespace credo::cli
