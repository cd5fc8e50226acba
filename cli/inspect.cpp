// credo check, credo graph and credo list: looking at models and at what is registered.
#include <charconv>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "framework/credit.h"
#include "framework/error.h"
#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/population.h"
#include "framework/program.h"
#include "framework/results.h"
#include "framework/signals.h"
#include "framework/task.h"
#include "framework/trainer.h"

namespace po = boost::program_options;

namespace credo::cli {

namespace {

bool parse(const Args& args, po::options_description& d, const po::positional_options_description* pos,
           const char* usage) {
  po::variables_map vm;
  po::command_line_parser parser(args);
  parser.options(d);
  if (pos) parser.positional(*pos);
  po::store(parser.run(), vm);
  if (vm.count("help")) {
    std::cout << usage << "\n\n" << d << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

}  // namespace

int exit_status(const TrainResult& r) {
  if (r.status == "interrupted") return exit_status_for_signal(r.stop_signal);
  if (r.status == "diverged") return kDiverged;
  return kOk;
}

std::uint64_t parse_seed(const std::string& text, const char* option) {
  std::uint64_t seed = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, seed);
  if (text.empty() || ec != std::errc() || p != end)
    fail("{} is '{}', must be an integer in [0, 18446744073709551615]", option, text);
  return seed;
}

std::vector<std::string> split_algorithm_list(const std::string& list) {
  // Inside one algorithm, options are separated by ':' (name:k=v:k=v), so the list itself can use commas.
  auto out = split_list(list, ",");
  if (out.empty()) fail("the algorithm list '{}' is empty", list);
  return out;
}

int graph_command(const Args& args) {
  std::string file, write_dot, task;
  std::vector<std::string> limits, task_opts;
  po::options_description d("credo graph options");
  d.add_options()("help,h", "show this help")("model", po::value(&file)->required(), "model graph (DOT file)")(
      "write-dot", po::value(&write_dot), "write the normalized graph as DOT to this file")(
      "task", po::value(&task), "the task that sizes size=auto inputs and outputs")(
      "task-opt", po::value(&task_opts)->composing(), "task option key=value (repeatable)")(
      "limit", po::value(&limits)->composing(), "raise a model limit, name=value (repeatable; see credo list)");
  po::positional_options_description pos;
  pos.add("model", 1);
  if (!parse(args, d, &pos, "usage: credo graph FILE.dot [--write-dot OUT.dot]")) return 0;
  ModelGraph g = read_model(file, model_limits(parse_key_values(limits, "--limit")));
  resolve_sizes_with_task(g, task, task_opts);
  // Sizes do not depend on the loss: explicit losses stay as they are, loss=auto (chosen by the task at
  // training time) becomes mse just to build the Program.
  ModelGraph resolved = g;
  for (auto& p : resolved.populations) {
    auto it = p.attributes.find("loss");
    if (it != p.attributes.end() && it->second == "auto") it->second = "mse";
  }
  Program<float> prog(resolved);
  fmt::print("model '{}' from {}\n\npopulations (in-step order):\n", g.name, file);
  for (int i : g.order) {
    const auto& p = prog.populations()[i];
    std::string attrs;
    for (const auto& [k, v] : g.populations[i].attributes) attrs += fmt::format(" {}={}", k, v);
    const int state = (p.state_offset >= 0 ? p.shape.slots * p.shape.units : 0) +
                      (p.module_state_offset >= 0 ? p.module_shape.state : 0);
    std::string ports;
    for (const auto& q : p.module_shape.ports) ports += fmt::format("{}{}({})", ports.empty() ? "" : " ", q.name, q.size);
    fmt::print("  {:<10} {:<7} size {:<5} state {:<5}{}{}\n", p.name, p.kind, p.shape.units, state, attrs,
               ports.empty() ? "" : fmt::format("  ports: {}", ports));
  }
  fmt::print("\nprojections:\n");
  for (size_t k = 0; k < g.projections.size(); ++k) {
    const auto& e = prog.projections()[k];
    fmt::print("  {:<28} {:>4} x {:<4} init={} gain={}\n", g.edge_name(g.projections[k]), e.rows, e.cols,
               g.projections[k].init, g.projections[k].gain);
  }
  fmt::print("\nstate size {} (carried between steps), parameters {}, inputs {}, outputs {}\n", prog.state_size(),
             prog.param_count(), prog.input_size(), prog.output_size());
  if (!write_dot.empty()) {
    write_atomic(write_dot, write_model(g));
    fmt::print("wrote {}\n", write_dot);
  }
  return 0;
}

int check_command(const Args& args) {
  std::string file, algos, seed;
  std::vector<std::string> limits;
  CheckOptions o;
  static const std::string fd_help = fmt::format(
      "finite differences on at most this many random coordinates per parameter block (0: every coordinate; "
      "-1: every coordinate up to {} parameters, else {})",
      CheckOptions::kFullCheckParams, CheckOptions::kSampledPerBlock);
  po::options_description d("credo check options");
  std::string task;
  std::vector<std::string> task_opts;
  d.add_options()("help,h", "show this help")("model", po::value(&file)->required(), "model graph (DOT file)")(
      "algo", po::value(&algos), "algorithms to compare with BPTT (comma-separated; default: every exact one)")(
      "task", po::value(&task), "the task that sizes size=auto inputs and outputs")(
      "task-opt", po::value(&task_opts)->composing(), "task option key=value (repeatable)")(
      "steps", po::value(&o.steps)->default_value(6), "sequence length")(
      "batch", po::value(&o.batch)->default_value(2), "sequences")(
      "seed", po::value(&seed)->default_value("1"), "random seed, an integer >= 0")(
      "limit", po::value(&limits)->composing(), "raise a model limit, name=value (repeatable; see credo list)")(
      "tolerance", po::value(&o.tolerance)->default_value(1e-6), "relative error allowed against finite differences")(
      "exact-tolerance", po::value(&o.exact_tolerance)->default_value(1e-9),
      "relative error allowed between exact algorithms and BPTT")(
      "fd-per-block", po::value(&o.fd_per_block)->default_value(-1), fd_help.c_str());
  po::positional_options_description pos;
  pos.add("model", 1);
  if (!parse(args, d, &pos, "usage: credo check --model FILE.dot [--algo NAME[,NAME...]]")) return 0;
  o.seed = parse_seed(seed, "--seed");
  const ModelLimits model_limit = model_limits(parse_key_values(limits, "--limit"));
  if (o.steps < 1 || o.steps > CheckOptions::kMaxSteps)
    fail("--steps must be in 1 .. {} (got {})", CheckOptions::kMaxSteps, o.steps);
  if (o.batch < 1 || o.batch > CheckOptions::kMaxBatch)
    fail("--batch must be in 1 .. {} (got {})", CheckOptions::kMaxBatch, o.batch);
  if (static_cast<long>(o.steps) * o.batch > CheckOptions::kMaxStepsTimesBatch)
    fail("--steps x --batch must be at most {} (got {} x {})", CheckOptions::kMaxStepsTimesBatch, o.steps, o.batch);
  if (o.fd_per_block < -1) fail("--fd-per-block must be -1 (automatic), 0 (every coordinate) or positive");
  if (!algos.empty()) o.algorithms = split_algorithm_list(algos);
  for (const auto& a : o.algorithms) AlgorithmRegistry::get().find(parse_algorithm_spec(a).first, "credit algorithm");
  ModelGraph g = read_model(file, model_limit);
  resolve_sizes_with_task(g, task, task_opts);
  CheckInfo info;
  const auto rows = check_gradients(g, o, &info);
  bool ok = true;
  fmt::print("gradient check of {} (double precision, {} steps, batch {}, seed {}; {} parameters, state {})\n", file,
             o.steps, o.batch, o.seed, info.param_count, info.state_size);
  if (info.fd_per_block > 0)
    fmt::print("finite differences on a random subset: at most {} coordinates per parameter block and per carried "
               "population ({} of {} parameters; --fd-per-block 0 checks all)\n",
               info.fd_per_block, info.fd_param_coordinates, info.param_count);
  else
    fmt::print("finite differences on every coordinate\n");
  if (!info.surrogate.empty())
    fmt::print("finite differences do not apply to {} (a spiking kind's surrogate derivative, or reaching one); "
               "their gradients are checked by every exact algorithm's agreement with BPTT\n",
               fmt::join(info.surrogate, ", "));
  fmt::print("rel. error per block = |a-b| / max(|a|, |b|, 1e-3 * max(|a_all|, |b_all|)), a_all, b_all: every block "
             "of that comparison\n");
  fmt::print("{:<30} {:<36} {:>12} {:>10}  \n", "check", "subject", "rel. error", "tolerance");
  for (const auto& r : rows) {
    fmt::print("{:<30} {:<36} {:>12.3e} {:>10.0e}  {}\n", r.check, r.what, r.error, r.tolerance,
               r.ok() ? "ok" : "FAIL");
    ok = ok && r.ok();
  }
  fmt::print("{}\n", ok ? "all gradients agree" : "some gradients are beyond tolerance");
  return ok ? 0 : 1;
}

int list_command(const Args& args) {
  po::options_description d("credo list options");
  d.add_options()("help,h", "show this help");
  if (!parse(args, d, nullptr, "usage: credo list")) return 0;
  auto opts = [](const std::vector<OptionSpec>& specs) {
    std::string s;
    for (const auto& o : specs) s += fmt::format("\n      {}={}  {}", o.name, o.default_value, o.help);
    return s;
  };
  fmt::print("population kinds (node kind=...):\n");
  for (const auto& [name, e] : PopulationRegistry::get().all())
    if (!e.make.is_module()) fmt::print("  {:<10} {}{}\n", name, e.help, opts(e.options));
  fmt::print("\nmemory modules (node kind=...; projections into them name a port: h -> m [port=query]):\n");
  for (const auto& [name, e] : PopulationRegistry::get().all()) {
    if (!e.make.is_module()) continue;
    // Port sizes depend on the node's size and options: shown for size=N with the default options.
    const int n = 16;
    const auto m = e.make.module_double(n, Options(fmt::format("module '{}'", name), e.options, {}));
    std::string ports;
    for (const auto& q : m->shape().ports)
      ports += fmt::format("\n      port {:<8} {} rows at size={}{}{}", q.name, q.size, n, q.required ? "" : " (optional)",
                           q.help.empty() ? "" : "  " + q.help);
    fmt::print("  {:<12} {}{}{}\n", name, e.help, ports, opts(e.options));
  }
  fmt::print("\ncredit algorithms (--algo):\n");
  for (const auto& [name, e] : AlgorithmRegistry::get().all()) {
    fmt::print("  {:<10} {}{}{}\n", name, e.help, e.make.exact ? " [exact]" : "", e.make.online ? " [online]" : "");
    const std::string kinds = e.make.supports.empty() ? "every population kind" : fmt::format("{}", fmt::join(e.make.supports, ", "));
    fmt::print("      supports: {}{}{}\n", kinds,
               e.make.unit_local ? " (unit-local only: no memory modules)"
                                 : (e.make.supports.empty() ? " and memory module" : ""),
               opts(e.options));
  }
  fmt::print("\ntasks (--task):\n");
  for (const auto& [name, e] : TaskRegistry::get().all()) fmt::print("  {:<15} {}{}\n", name, e.help, opts(e.options));
  fmt::print("\nmodel limits (--limit name=value raises one):{}\n", opts(model_limit_specs()));
  return 0;
}

}  // namespace credo::cli
