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

// The module suite on the test module registered in module_program_test.cpp; the built-in modules are
// instantiated beside their own tests.
INSTANTIATE_TEST_SUITE_P(Program, ModuleSuite, ::testing::Values("kind=test_mix", "kind=test_mix decay=1"),
                         [](const auto& info) { return info.index == 0 ? std::string("test_mix") : "test_mix_no_decay"; });

}  // namespace credo::testing
