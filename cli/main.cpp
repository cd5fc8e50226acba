// The credo program: its commands, and the plugins loaded before one runs.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/plugins.h"
#include "framework/error.h"

namespace credo::cli {
namespace {

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> c = {
      {"train", {"train one credit algorithm on a task", train_command}},
      {"compare", {"train several algorithms on the same task and print them side by side", compare_command}},
      {"align", {"compare each algorithm's gradient with the exact one along one trajectory", align_command}},
      {"check", {"check a model's gradients against finite differences and BPTT", check_command}},
      {"graph", {"check a model and print its populations, projections and sizes", graph_command}},
      {"list", {"list population kinds, credit algorithms and tasks with their options", list_command}},
      {"eval", {"evaluate a trained network (a run folder, or a model and parameters), optionally recording it", eval_command}},
      {"params", {"show a model's or a run's parameters per block; export or import them as numpy .npz", params_command}},
      {"plot", {"draw figures of result folders (learning curves, seed spread, cost, alignment) with gnuplot", plot_command}},
      {"report", {"write one Markdown or HTML page of a sweep: settings, results over seeds, figures, runs", report_command}},
  };
  return c;
}

void usage(std::FILE* out) {
  fmt::print(out, "usage: credo [--plugin LIB.so]... COMMAND [options]   (credo COMMAND --help for a command's options)\n\n");
  for (const auto& [name, c] : commands()) fmt::print(out, "  {:<9} {}\n", name, c.help);
  fmt::print(out,
             "\n--plugin LIB.so loads a shared library of population kinds, memory modules, tasks or credit algorithms\n"
             "(built with credo_add_plugin) before the command; CREDO_PLUGINS=a.so:b.so does the same.\n");
}

}  // namespace
}  // namespace credo::cli

int main(int argc, char** argv) {
  using namespace credo::cli;
  std::vector<std::string> words(argv + 1, argv + argc);
  try {
    load_plugins(plugin_paths(words));
  } catch (const credo::InputError& e) {
    fmt::print(stderr, "credo: error: {}\n", e.what());
    return 2;
  }
  if (words.empty()) {
    usage(stderr);
    return 2;
  }
  const std::string name = words[0];
  if (name == "--help" || name == "-h" || name == "help") {
    usage(stdout);
    return 0;
  }
  auto it = commands().find(name);
  if (it == commands().end()) {
    fmt::print(stderr, "credo: unknown command '{}'\n\n", name);
    usage(stderr);
    return 2;
  }
  std::vector<std::string> args(words.begin() + 1, words.end());
  try {
    return it->second.run(args);
  } catch (const credo::InputError& e) {
    fmt::print(stderr, "credo {}: error: {}\n", name, e.what());
    return 2;
  } catch (const boost::program_options::error& e) {
    fmt::print(stderr, "credo {}: error: {} (see credo {} --help)\n", name, e.what(), name);
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr,
               "credo {}: error: out of memory: the model, batch, sequence or algorithm option asks for more memory "
               "than this machine has (RTRL keeps N x P numbers per sequence)\n",
               name);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "credo {}: internal error: {}\n", name, e.what());
    return 3;
  }
}
