// The extension authors' task and algorithm suites (framework/testing.h) on every built-in task and credit
// algorithm; the population and module suites run on the built-in kinds in extension_test.cpp.
#include <cctype>

#include "framework/testing.h"

namespace credo::testing {

namespace {
std::string name_of(const std::string& param) {
  std::string s;
  for (char c : param) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
}
}  // namespace

INSTANTIATE_TEST_SUITE_P(Builtin, TaskSuite,
                         ::testing::Values("copy", "copy length=3 delay=2", "adding length=6", "add",
                                           "delayed_recall", "delayed_recall items=3 distractors=1",
                                           "assoc_retrieval", "assoc_recall", "bit_copy", "bit_copy max_length=4"),
                         [](const auto& info) { return name_of(info.param); });

INSTANTIATE_TEST_SUITE_P(Builtin, AlgorithmSuite,
                         ::testing::Values("bptt", "tbptt:k1=2:k2=3", "tbptt:k1=1:k2=1", "replay:every=2", "rtrl",
                                           "uoro", "kf_rtrl", "snap:n=1", "snap:n=2", "rflo", "readout", "sab"),
                         [](const auto& info) { return name_of(info.param); });

}  // namespace credo::testing
