#include <fmt/format.h>

#include "framework/task.h"

namespace credo {

std::unique_ptr<Task> make_task(const std::string& name, const std::map<std::string, std::string>& options,
                                std::uint64_t seed) {
  const auto& e = TaskRegistry::get().find(name, "task");
  return e.make(Options(fmt::format("task '{}'", name), e.options, options), seed);
}

}  // namespace credo
