#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "framework/task.h"

namespace credo {

std::unique_ptr<Task> make_task(const std::string& name, const std::map<std::string, std::string>& options,
                                std::uint64_t seed) {
  const auto& e = TaskRegistry::get().find(name, "task");
  return e.make(Options(fmt::format("task '{}'", name), e.options, options), seed);
}

}  // namespace credo

#include "framework/credit.h"

namespace credo {

template <class T>
std::unique_ptr<CreditAlgorithm<T>> make_algorithm(const std::string& name,
                                                   const std::map<std::string, std::string>& options,
                                                   Program<T>& program) {
  const auto& e = AlgorithmRegistry::get().find(name, "credit algorithm");
  Options opts(fmt::format("algorithm '{}'", name), e.options, options);
  if (e.make.unit_local)
    if (const int m = program.first_module(); m >= 0)
      fail("algorithm '{}' relies on unit-local populations and cannot train node '{}', a {} memory module; use an "
           "exact algorithm (bptt, tbptt, replay, rtrl), uoro or sab",
           name, program.populations()[m].name, program.populations()[m].kind);
  const auto& supports = e.make.supports;
  if (!supports.empty())
    for (const auto& p : program.populations()) {
      if (p.role != Role::hidden) continue;
      if (std::find(supports.begin(), supports.end(), p.kind) == supports.end())
        fail("algorithm '{}' cannot train population '{}' of kind '{}' (it supports: {})", name, p.name, p.kind,
             fmt::join(supports, ", "));
    }
  if constexpr (std::is_same_v<T, float>) return e.make.make_float(program, opts);
  else return e.make.make_double(program, opts);
}

template std::unique_ptr<CreditAlgorithm<float>> make_algorithm<float>(const std::string&,
                                                                      const std::map<std::string, std::string>&,
                                                                      Program<float>&);
template std::unique_ptr<CreditAlgorithm<double>> make_algorithm<double>(const std::string&,
                                                                        const std::map<std::string, std::string>&,
                                                                        Program<double>&);

}  // namespace credo
