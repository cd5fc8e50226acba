// Plugins: shared libraries of self-registered population kinds, memory modules, tasks and credit algorithms,
// loaded into the credo program before it runs a command.
#pragma once

#include <string>
#include <vector>

namespace credo::cli {

// The plugins named by `--plugin PATH` (or --plugin=PATH) options before the command, which are taken out of
// `args`, after those of the CREDO_PLUGINS environment variable (paths separated by ':').
std::vector<std::string> plugin_paths(std::vector<std::string>& args);

// Loads each plugin (dlopen, symbols global); it must register at least one component, none under a name
// already taken. A plugin that cannot be loaded, registers nothing or clashes is an InputError naming it.
void load_plugins(const std::vector<std::string>& paths);

// What was loaded, in order (absolute paths where the file was found as given).
const std::vector<std::string>& loaded_plugins();

}  // namespace credo::cli
