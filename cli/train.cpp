// credo train and credo compare: the training options shared by both, and the side-by-side table.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
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
  std::vector<std::string> task_opts, algo_opts;
  std::string algos;
};

po::options_description training_options(Parsed& p, bool several) {
  auto& c = p.config;
  po::options_description d(several ? "credo compare options" : "credo train options");
  d.add_options()("help,h", "show this help")(
      "model", po::value(&c.model)->required(), "model graph (DOT file), e.g. models/elman.dot")(
      "task", po::value(&c.task)->required(), "task name (credo list shows them)")(
      "task-opt", po::value(&p.task_opts)->composing(), "task option key=value (repeatable)");
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
  p.config.algorithm_options = parse_key_values(p.algo_opts, "--algo-opt");
  p.config.progress = true;
  const TrainResult r = train(p.config);
  fmt::print("{} on {} with {}: eval loss {:.4f} (chance {:.4f}){}, {:.0f} steps/s, peak RSS {:.0f} MB\n",
             p.config.model, p.config.task, p.config.algorithm, r.eval_loss, r.chance_loss,
             r.eval_accuracy >= 0 ? fmt::format(", accuracy {:.3f}", r.eval_accuracy) : std::string(),
             r.steps_per_second, r.peak_rss_mb);
  fmt::print("results: {}/summary.json, metrics.csv, config.json\n", p.config.out);
  return 0;
}

int compare_command(const Args& args) {
  Parsed p;
  auto d = training_options(p, true);
  if (!parse(args, d, "usage: credo compare --model FILE.dot --task NAME --algos A,B,... [options]")) return 0;
  p.config.task_options = parse_key_values(p.task_opts, "--task-opt");
  const auto specs = split_algorithm_list(p.algos);
  // Check every algorithm name and option before training any.
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> parsed;
  for (const auto& s : specs) {
    parsed.push_back(parse_algorithm_spec(s));
    const auto& e = AlgorithmRegistry::get().find(parsed.back().first, "credit algorithm");
    Options(fmt::format("algorithm '{}'", parsed.back().first), e.options, parsed.back().second);
  }
  prepare_output_dir(p.config.out);
  struct Row {
    std::string name;
    TrainResult r;
  };
  std::vector<Row> rows;
  for (size_t i = 0; i < specs.size(); ++i) {
    TrainConfig c = p.config;
    c.algorithm = parsed[i].first;
    c.algorithm_options = parsed[i].second;
    c.out = p.config.out + "/" + label(specs[i]);
    c.progress = true;
    // Each run in its own process, so its peak memory is its own.
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0) fail("cannot start a process for '{}'", specs[i]);
    if (pid == 0) {
      int status = 0;
      try {
        train(c);
      } catch (const InputError& e) {
        fmt::print(stderr, "credo compare: error: {}: {}\n", specs[i], e.what());
        status = 2;
      } catch (const std::exception& e) {
        fmt::print(stderr, "credo compare: internal error: {}: {}\n", specs[i], e.what());
        status = 1;
      }
      std::fflush(stderr);
      ::_exit(status);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    std::ifstream in(c.out + "/summary.json");
    const auto js = nlohmann::json::parse(in);
    TrainResult r;
    r.eval_loss = js.at("eval_loss");
    r.chance_loss = js.at("chance_loss");
    r.eval_accuracy = js.at("eval_accuracy").is_null() ? -1.0 : js.at("eval_accuracy").get<double>();
    r.steps_per_second = js.at("steps_per_second");
    r.peak_rss_mb = js.at("peak_rss_mb");
    rows.push_back({specs[i], r});
  }
  const std::string task = p.config.task;
  fmt::print("\n{} on {} ({} updates, batch {}, {} {}, seed {})\n", p.config.model, task, p.config.steps,
             p.config.batch, p.config.optimizer, p.config.lr, p.config.seed);
  fmt::print("{:<18} {:>10} {:>10} {:>9} {:>12} {:>9}\n", "algorithm", "eval loss", "chance", "accuracy",
             "steps/s", "RSS MB");
  for (const auto& row : rows)
    fmt::print("{:<18} {:>10.4f} {:>10.4f} {:>9} {:>12.0f} {:>9.0f}\n", row.name, row.r.eval_loss,
               row.r.chance_loss, row.r.eval_accuracy >= 0 ? fmt::format("{:.3f}", row.r.eval_accuracy) : "-",
               row.r.steps_per_second, row.r.peak_rss_mb);
  fmt::print("results: {}/<algorithm>/{{summary.json,metrics.csv,config.json}}\n", p.config.out);
  return 0;
}

}  // namespace credo::cli
