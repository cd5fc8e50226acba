// The credo subcommands; each parses its own options and returns the process exit status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/graph.h"
#include "framework/trainer.h"

namespace credo::cli {

// Exit statuses (README): a run stopped by SIGINT or SIGTERM exits with 128 + the signal (130, 143).
enum ExitStatus {
  kOk = 0,
  kCheckFailed = 1,  // credo check: a gradient beyond tolerance
  kBadInput = 2,     // bad input, an unwritable or occupied --out, out of memory
  kInternal = 3,     // a bug in credo
  kDiverged = 4,     // training diverged (compare, align: some run diverged or failed)
};

// A run's exit status from how it ended.
int exit_status(const TrainResult& r);

// A seed as typed: an integer in [0, 2^64 - 1]; anything else (a negative number, too) is an InputError.
std::uint64_t parse_seed(const std::string& text, const char* option);

using Args = std::vector<std::string>;

struct Command {
  const char* help;
  int (*run)(const Args&);
};

// "a,b:k=v:k=v" -> ["a", "b:k=v:k=v"]: algorithm lists on the command line.
std::vector<std::string> split_algorithm_list(const std::string& list);

int train_command(const Args& args);
int compare_command(const Args& args);
int align_command(const Args& args);
int check_command(const Args& args);
int graph_command(const Args& args);
int list_command(const Args& args);
// Gives a model's size=auto inputs and outputs their sizes from `task` with its options ("k=v" as typed), if a task
// is named; a model with auto sizes and no task is refused when built.
void resolve_sizes_with_task(ModelGraph& g, const std::string& task, const std::vector<std::string>& task_opts);

int eval_command(const Args& args);
int params_command(const Args& args);
int plot_command(const Args& args);
int report_command(const Args& args);

}  // namespace credo::cli
