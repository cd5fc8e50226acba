// The extension authors' task and algorithm suites (framework/testing.h) on every built-in task and credit
// algorithm; the population and module suites run on the built-in kinds in extension_test.cpp.
#include <cctype>
#include <cmath>

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
                                           "uoro", "kf_rtrl", "snap:n=1", "snap:n=2", "rflo", "readout", "sab", "eprop",
                                           "eprop:feedback=symmetric", "eprop:feedback=adaptive"),
                         [](const auto& info) { return name_of(info.param); });

}  // namespace credo::testing

namespace credo::testing {

// credo check --algo with an approximate algorithm: its readout gradient is checked against BPTT's, the rest
// reported beside it.
TEST(CheckApproximate, ReadoutCheckedTheRestReported) {
  CheckOptions o;
  o.algorithms = {"uoro", "readout"};
  const auto rows = check_gradients(parse_model(population_models("kind=tanh")[0], "m.dot"), o);
  int readout = 0, reported = 0;
  for (const auto& r : rows) {
    if (r.check.rfind("uoro", 0) != 0 && r.check.rfind("readout", 0) != 0) continue;
    if (r.check.find("(readout)") != std::string::npos) {
      ++readout;
      EXPECT_EQ(r.tolerance, o.exact_tolerance);
      EXPECT_TRUE(r.ok()) << r.check << " " << r.what << " " << r.error;
      EXPECT_TRUE(r.what == "W[h -> y]" || r.what == "population y") << r.what;
    } else {
      ++reported;
      EXPECT_TRUE(std::isinf(r.tolerance)) << r.check;
      EXPECT_NE(r.check.find("(approx.)"), std::string::npos) << r.check;
    }
  }
  EXPECT_EQ(readout, 4);
  EXPECT_EQ(reported, 6);
  // Outputs feeding back: nothing is owed, everything is reported.
  const auto fb = check_gradients(parse_model(population_models("kind=tanh")[3], "fb.dot"), o);
  for (const auto& r : fb)
    if (r.check.rfind("uoro", 0) == 0) {
      EXPECT_TRUE(std::isinf(r.tolerance)) << r.what;
    }
}

}  // namespace credo::testing

namespace credo::testing {

// An algorithm that falls back to a costlier path says so: SnAp-1 is O(P) per step only when no population feeds
// another carried one through delay-0 projections.
TEST(CostNote, SnapOneSaysWhenItRunsTheDensePath) {
  const auto models = population_models("kind=tanh");
  Program<double> alone(parse_model(models[0], "alone.dot")), stacked(parse_model(models[2], "stacked.dot"));
  EXPECT_EQ(make_algorithm<double>("snap", {{"n", "1"}}, alone)->cost_note(), "");
  const std::string note = make_algorithm<double>("snap", {{"n", "1"}}, stacked)->cost_note();
  EXPECT_NE(note.find("O(N^2 P)"), std::string::npos) << note;
  EXPECT_NE(note.find("population 'h' reaches another carried population"), std::string::npos) << note;
  EXPECT_NE(make_algorithm<double>("snap", {{"n", "1"}, {"dense", "1"}}, alone)->cost_note().find("dense=1"),
            std::string::npos);
  // n >= 2 is the dense masked path by design, as its description says.
  EXPECT_EQ(make_algorithm<double>("snap", {{"n", "2"}}, stacked)->cost_note(), "");
  EXPECT_EQ(make_algorithm<double>("rtrl", {}, stacked)->cost_note(), "");
}

}  // namespace credo::testing
