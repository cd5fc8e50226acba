#include "cli/plugins.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/options.h"
#include "framework/population.h"
#include "framework/task.h"

namespace credo::cli {

namespace {

std::vector<std::string>& loaded() {
  static std::vector<std::string> l;
  return l;
}

// Every registered name, as "what 'name'", for telling what a plugin added.
std::set<std::string> registered() {
  std::set<std::string> out;
  for (const auto& [name, e] : PopulationRegistry::get().all())
    out.insert(fmt::format("{} '{}'", e.make.is_module() ? "memory module" : "population kind", name));
  for (const auto& [name, e] : TaskRegistry::get().all()) out.insert(fmt::format("task '{}'", name));
  for (const auto& [name, e] : AlgorithmRegistry::get().all()) out.insert(fmt::format("credit algorithm '{}'", name));
  return out;
}

size_t clash_count() {
  return PopulationRegistry::get().clashes().size() + TaskRegistry::get().clashes().size() +
         AlgorithmRegistry::get().clashes().size();
}

std::string last_clash() {
  for (const auto* c : {&PopulationRegistry::get().clashes(), &TaskRegistry::get().clashes(),
                        &AlgorithmRegistry::get().clashes()})
    if (!c->empty()) return c->back();
  return {};
}

}  // namespace

std::vector<std::string> plugin_paths(std::vector<std::string>& args) {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("CREDO_PLUGINS"))
    for (const auto& p : split_list(env, ":")) paths.push_back(p);
  size_t i = 0;
  while (i < args.size()) {
    if (args[i] == "--plugin") {
      if (i + 1 >= args.size()) fail("--plugin needs a path: credo --plugin libmine.so COMMAND ...");
      paths.push_back(args[i + 1]);
      i += 2;
    } else if (args[i].rfind("--plugin=", 0) == 0) {
      paths.push_back(args[i].substr(9));
      ++i;
    } else {
      break;
    }
  }
  args.erase(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(i));
  return paths;
}

void load_plugins(const std::vector<std::string>& paths) {
  for (const auto& given : paths) {
    if (given.empty()) fail("--plugin: an empty path");
    // A file that exists as given is loaded from there (dlopen alone would search only the library path for a
    // bare file name); anything else goes to dlopen's search.
    std::error_code ec;
    std::string path = given;
    if (std::filesystem::is_regular_file(given, ec)) path = std::filesystem::absolute(given, ec).string();
    if (std::find(loaded().begin(), loaded().end(), path) != loaded().end()) continue;
    const auto before = registered();
    const size_t clashes = clash_count();
    // Global symbols: the plugin's registrations reach the program's registries, and one plugin may use
    // another's.
    if (!::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
      const char* why = ::dlerror();
      fail("plugin {}: cannot load it ({})", given, why ? why : "unknown reason");
    }
    if (clash_count() != clashes)
      fail("plugin {}: registers '{}', a name already taken (by credo or an earlier plugin); rename it", given,
           last_clash());
    const auto after = registered();
    if (after.size() == before.size())
      fail("plugin {}: registers no population kind, memory module, task or credit algorithm (were its "
           "CREDO_REGISTER_* lines compiled into it? build it with credo_add_plugin)",
           given);
    loaded().push_back(path);
  }
}

const std::vector<std::string>& loaded_plugins() { return loaded(); }

}  // namespace credo::cli
