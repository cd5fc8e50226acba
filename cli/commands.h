// The credo subcommands; each parses its own options and returns the process exit status.
#pragma once

#include <string>
#include <vector>

namespace credo::cli {

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

}  // namespace credo::cli
