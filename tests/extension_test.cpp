// The extension authors' suites (framework/testing.h) run on every built-in hidden population kind.
#include <cctype>

#include "framework/testing.h"

namespace credo::testing {

INSTANTIATE_TEST_SUITE_P(Builtin, PopulationSuite,
                         ::testing::Values("kind=tanh", "kind=tanh alpha=0.3", "kind=gru", "kind=lstm",
                                           "kind=lstm forget_bias=-1"),
                         [](const auto& info) {
                           std::string s;
                           for (char c : info.param) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

}  // namespace credo::testing
