// credo align: gradient alignment of several algorithms along one trajectory.
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "framework/align.h"
#include "framework/error.h"
#include "framework/options.h"
#include "framework/signals.h"
#include "framework/trainer.h"

namespace po = boost::program_options;

namespace credo::cli {

int align_command(const Args& args) {
  AlignConfig c;
  std::string algos, drive, seed;
  std::vector<std::string> task_opts, limits;
  po::options_description d("credo align options");
  d.add_options()("help,h", "show this help")("model", po::value(&c.model)->required(), "model graph (DOT file)")(
      "task", po::value(&c.task)->required(), "task name")("task-opt", po::value(&task_opts)->composing(),
                                                            "task option key=value (repeatable)")(
      "algos", po::value(&algos)->required(),
      "comma-separated algorithms to compare, each name or name:k=v:k=v, e.g. rtrl,uoro,snap:n=1,tbptt:k1=1:k2=10")(
      "drive", po::value(&drive)->default_value("rtrl"), "the algorithm whose gradients update the weights")(
      "steps", po::value(&c.steps)->default_value(1000), "time steps")(
      "batch", po::value(&c.batch)->default_value(1), "sequences per batch")(
      "optimizer", po::value(&c.optimizer)->default_value("sgd"), "sgd | adam")(
      "lr", po::value(&c.lr)->default_value(0.01), "learning rate of the driving algorithm")(
      "clip", po::value(&c.clip)->default_value(0.0), "clip the driving gradient's norm (0: off)")(
      "seed", po::value(&seed)->default_value("1"), "random seed, an integer >= 0")(
      "limit", po::value(&limits)->composing(), "raise a model limit, name=value (repeatable; see credo list)")(
      "overwrite", po::bool_switch(&c.overwrite), "replace the results a previous run left in --out")(
      "chunk", po::value(&c.chunk)->default_value(100), "steps per sample of a streaming task")(
      "precision", po::value(&c.precision)->default_value("double"), "float | double")(
      "out", po::value(&c.out)->default_value("results/align"), "results folder");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(d).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: credo align --model FILE.dot --task NAME --algos A,B,... [--drive NAME] [options]\n\n"
              << d << "\n";
    return 0;
  }
  po::notify(vm);
  c.task_options = parse_key_values(task_opts, "--task-opt");
  c.limits = parse_key_values(limits, "--limit");
  c.seed = parse_seed(seed, "--seed");
  c.algorithms = split_algorithm_list(algos);
  auto [dname, dopts] = parse_algorithm_spec(split_algorithm_list(drive).at(0));
  c.drive = dname;
  c.drive_options = dopts;
  AlignOutcome outcome;
  install_stop_handlers();
  const auto rows = align(c, &outcome);
  fmt::print("\n{} on {}, driven by {}, {} steps; reference: RTRL's exact online gradient\n", c.model, c.task,
             drive, c.steps);
  fmt::print("{:<22} {:>8} {:>12} {:>14} {:>16} {:>16}\n", "algorithm", "samples", "mean cosine", "median cosine",
             "mean norm ratio", "recurrent cosine");
  for (const auto& r : rows) {
    fmt::print("{:<22} {:>8} {:>12.4f} {:>14.4f} {:>16.4f} {:>16.4f}\n", r.algorithm, r.samples, r.mean_cosine,
               r.median_cosine, r.mean_norm_ratio, r.mean_cosine_recurrent);
    for (const auto& [name, first_last] : r.diagnostics)
      fmt::print("  {:<30} {:.4f} at the first step, {:.4f} at the last\n", name, first_last.first, first_last.second);
  }
  fmt::print("recurrent cosine: over the parameters that drive hidden populations (the readout left out)\n");
  fmt::print("results: {0}/alignment.csv, {0}/diagnostics.csv, {0}/summary.json, {0}/config.json\n", c.out);
  if (outcome.status == "interrupted") {
    fmt::print(stderr, "credo align: interrupted by {}\n", outcome.reason);
    return exit_status_for_signal(outcome.stop_signal);
  }
  if (outcome.status == "diverged") {
    fmt::print(stderr, "credo align: the driving algorithm diverged: {}\n", outcome.reason);
    return kDiverged;
  }
  return 0;
}

}  // namespace credo::cli
