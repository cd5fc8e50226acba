// Model graphs from DOT: inputs and outputs in file order, and the checks that name what is wrong.
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/program.h"
#include "framework/task.h"

namespace credo {
namespace {

TEST(Graph, InputsAndOutputsTakeTheTaskVectorsInFileOrder) {
  // Boost's reader sorts vertices by name; the file order must win.
  ModelGraph g = parse_model(R"(
    // a comment naming alpha and ya first must not matter
    digraph zeta { zeta [kind=input size=4]; alpha [kind=input size=2];
      h [kind=tanh size=3 label="alpha"];
      yb [kind=output size=2 loss=mse]; ya [kind=output size=1 loss=mse];
      zeta -> h; alpha -> h; h -> h [delay=1]; h -> yb; h -> ya; })",
                             "order.dot");
  Program<double> prog(g);
  auto io = [&](const char* name) { return prog.populations()[g.find(name)].io_offset; };
  EXPECT_EQ(g.populations[0].name, "zeta");
  EXPECT_EQ(io("zeta"), 0);
  EXPECT_EQ(io("alpha"), 4);
  EXPECT_EQ(io("yb"), 0);
  EXPECT_EQ(io("ya"), 2);
}

TEST(Graph, OrderFollowsFirstMentionInEdgesQuotedIdsAndSubgraphs) {
  ModelGraph g = parse_model(R"(digraph "m" {
      subgraph cluster_in { "in b" [kind=input size=1]; }
      c -> y [delay=1];
      a [kind=input size=1];
      c [kind=tanh size=2]; "in b" -> c; a -> c -> y; y [kind=output size=1 loss=mse]; })",
                             "order2.dot");
  ASSERT_EQ(g.populations.size(), 4u);
  EXPECT_EQ(g.populations[0].name, "in b");
  EXPECT_EQ(g.populations[1].name, "c");
  EXPECT_EQ(g.populations[2].name, "y");
  EXPECT_EQ(g.populations[3].name, "a");
}

TEST(Graph, RoundTripKeepsOrderAndGain) {
  ModelGraph g = parse_model(R"(digraph m { z [kind=input size=2]; a [kind=input size=1]; h [kind=tanh size=3];
      y [kind=output size=1]; z -> h [gain=0.123456789]; a -> h; h -> y; h -> h [delay=2]; })",
                             "rt.dot");
  ModelGraph back = parse_model(write_model(g), "rt2.dot");
  ASSERT_EQ(back.populations.size(), g.populations.size());
  for (size_t i = 0; i < g.populations.size(); ++i) EXPECT_EQ(back.populations[i].name, g.populations[i].name);
  bool found = false;
  for (const auto& e : back.projections)
    if (back.populations[e.source].name == "z") {
      found = true;
      EXPECT_EQ(e.gain, 0.123456789);
    }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace credo

namespace credo {
namespace {

const char* kRnn = R"(x [kind=input size=2]; h [kind=tanh size=3]; y [kind=output size=2 loss=mse];
  x -> h; h -> h [delay=1]; h -> y;)";

std::string error_of(const std::string& dot, const ModelLimits& limits = {}) {
  try {
    parse_model(dot, "m.dot", limits);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Graph, StrictDigraphKeepsTheRecurrentSelfLoop) {
  // Boost's reader drops self-loops in a strict graph, which made this RNN feed-forward without a word.
  ModelGraph g = parse_model(std::string("strict digraph m {") + kRnn + "}", "strict.dot");
  ASSERT_EQ(g.projections.size(), 3u);
  int self = 0;
  for (const auto& e : g.projections) self += e.source == e.target && e.delay == 1;
  EXPECT_EQ(self, 1);
  Program<double> prog(g);
  EXPECT_EQ(prog.state_size(), 3);
  // With a comment before it, in capitals, and with the graph's name quoted.
  EXPECT_EQ(parse_model(std::string("/* c */ STRICT digraph \"m\" {") + kRnn + "}", "s.dot").projections.size(), 3u);
}

TEST(Graph, StrictDigraphRefusesTwoEdgesGraphvizWouldMerge) {
  const std::string e = error_of(std::string("strict digraph m {") + kRnn + " h -> y [delay=1]; }");
  EXPECT_NE(e.find("edge 'h -> y': appears twice in a strict digraph"), std::string::npos) << e;
}

TEST(Graph, ParallelProjectionsGetNamesOfTheirOwn) {
  // An identity plus a small random part: two projections h -> h [delay=1], whose weights add up.
  ModelGraph g = parse_model(std::string("digraph m {") + kRnn +
                                 " h -> h [delay=1 init=identity]; h -> h [delay=1 init=normal gain=0.1]; }",
                             "parallel.dot");
  ASSERT_EQ(g.projections.size(), 5u);
  std::set<std::string> names;
  for (const auto& e : g.projections) EXPECT_TRUE(names.insert(g.edge_name(e)).second) << g.edge_name(e);
  EXPECT_TRUE(names.count("h -> h [delay=1] #3")) << fmt::format("{}", fmt::join(names, "; "));
  Program<double> prog(g);
  std::set<std::string> blocks;
  for (const auto& b : prog.param_blocks()) EXPECT_TRUE(blocks.insert(b.name).second) << b.name;
  // Written and read back, the copies keep their order and attributes.
  ModelGraph back = parse_model(write_model(g), "back.dot");
  ASSERT_EQ(back.projections.size(), g.projections.size());
  for (size_t k = 0; k < g.projections.size(); ++k) {
    EXPECT_EQ(back.edge_name(back.projections[k]), g.edge_name(g.projections[k]));
    EXPECT_EQ(back.projections[k].init, g.projections[k].init);
    EXPECT_EQ(back.projections[k].gain, g.projections[k].gain);
  }
}

TEST(Graph, NumbersInScientificNotationQuotedOrNot) {
  ModelGraph g = parse_model(R"(digraph m { x [kind=input size=2e0]; h [kind=tanh size="1.2E1" alpha=5e-1];
      y [kind=output size=2 loss=mse]; x -> h [gain=-2.5e-1]; h -> h [delay=1e0 gain="1E+0"]; h -> y [gain=.5e1]; })",
                             "sci.dot");
  EXPECT_EQ(g.populations[g.find("x")].size, 2);
  EXPECT_EQ(g.populations[g.find("h")].size, 12);
  EXPECT_EQ(g.populations[g.find("h")].attributes.at("alpha"), "5e-1");
  std::map<std::string, double> gain;
  for (const auto& e : g.projections) gain[g.edge_name(e)] = e.gain;
  EXPECT_EQ(gain.at("x -> h"), -0.25);
  EXPECT_EQ(gain.at("h -> h [delay=1]"), 1.0);
  EXPECT_EQ(gain.at("h -> y"), 5.0);
  // Unquoted size=1e3 used to be read as size=1 and an attribute 'e3'.
  ModelGraph big = parse_model("digraph m { x [kind=input size=2]; h [kind=tanh size=1e3]; y [kind=output size=2]; "
                               "x -> h; h -> y; }",
                               "big.dot");
  EXPECT_EQ(big.populations[big.find("h")].size, 1000);
}

TEST(Graph, EveryNumberIsRangeChecked) {
  auto with_edge = [](const std::string& attrs) {
    return std::string("digraph m {") + kRnn + " x -> y [" + attrs + "]; }";
  };
  for (const auto& [attrs, needle] : std::vector<std::pair<std::string, std::string>>{
           {"gain=\"1e308\"", "gain is 1e308, must be a number in [-100, 100]"},
           {"gain=1e308", "gain is 1e308"},
           {"gain=nan", "gain is 'nan'"},
           {"gain=inf", "gain is 'inf'"},
           {"gain=1e999", "gain is '1e999'"},
           {"delay=1.5", "delay is 1.5, must be an integer >= 0"},
           {"delay=-1", "delay is -1, must be an integer >= 0"},
           {"delay=1e300", "delay is 1e300, above the limit of 1000"}}) {
    const std::string e = error_of(with_edge(attrs));
    EXPECT_NE(e.find("edge 'x -> y'"), std::string::npos) << attrs << ": " << e;
    EXPECT_NE(e.find(needle), std::string::npos) << attrs << ": " << e;
  }
  for (const auto& [size, needle] : std::vector<std::pair<std::string, std::string>>{
           {"0", "size is 0, must be an integer >= 1"},
           {"2.5", "size is 2.5"},
           {"1e7", "size is 1e7, above the limit of 1000000"},
           {"99999999999999999999", "size is 99999999999999999999, above the limit"},
           {"x", "size is 'x'"}}) {
    const std::string e =
        error_of("digraph m { x [kind=input size=2]; h [kind=tanh size=" + size + "]; y [kind=output size=2]; "
                 "x -> h; h -> y; }");
    EXPECT_NE(e.find("node 'h': " + needle), std::string::npos) << size << ": " << e;
  }
}

TEST(Graph, LimitsNameWhatTheModelAsksForAndHowToAllowIt) {
  const std::string dot = std::string("digraph m {") + kRnn + " h -> h [delay=100000]; }";
  const std::string e = error_of(dot);
  EXPECT_NE(e.find("edge 'h -> h': delay is 100000, above the limit of 1000 (a model may ask for more with "
                   "--limit delay=N)"),
            std::string::npos)
      << e;
  ModelLimits more;
  more.delay = 100000;
  EXPECT_EQ(parse_model(dot, "m.dot", more).projections.size(), 4u);
  more.delay_units = 1000;
  EXPECT_NE(error_of(dot, more).find("units in delay lines is 299997, above the limit of 1000"), std::string::npos)
      << error_of(dot, more);
  ModelLimits few;
  few.populations = 2;
  EXPECT_NE(error_of(dot, few).find("the number of populations is 3, above the limit of 2"), std::string::npos);
  few = {};
  few.weights = 10;
  const std::string rnn = std::string("digraph m {") + kRnn + "}";
  EXPECT_NE(error_of(rnn, few).find("the number of weights (sum of source size x target size) is 21, above the limit "
                                    "of 10 (a model may ask for more with --limit weights=N)"),
            std::string::npos)
      << error_of(rnn, few);
  // A memory module's slots count too.
  const std::string ntm = R"(digraph m { x [kind=input size=2]; h [kind=tanh size=3];
      mem [kind=ntm size=4 slots=1000]; y [kind=output size=2]; x -> h; h -> mem [port=read]; h -> mem [port=write];
      mem -> h [delay=1]; h -> y; })";
  ModelLimits small;
  small.module_state = 1000;
  EXPECT_NE(error_of(ntm, small).find("the modules' state and work rows is"), std::string::npos) << error_of(ntm, small);
  EXPECT_NE(error_of(ntm, small).find("--limit module_state=N"), std::string::npos);
  // From the command line's name=value pairs, checked like any option.
  EXPECT_EQ(model_limits({{"delay", "5000"}}).delay, 5000);
  EXPECT_THROW(model_limits({{"dealy", "5000"}}), InputError);
  EXPECT_THROW(model_limits({{"delay", "-1"}}), InputError);
}

TEST(Graph, FindUsesTheIndexAndStaysRightAfterChanges) {
  ModelGraph g = parse_model(std::string("digraph m {") + kRnn + "}", "m.dot");
  EXPECT_EQ(g.index.size(), 3u);
  EXPECT_EQ(g.find("h"), 1);
  EXPECT_EQ(g.find("nope"), -1);
  g.populations[1].name = "renamed";
  EXPECT_EQ(g.find("h"), -1);
  EXPECT_EQ(g.find("renamed"), 1);
}

}  // namespace
}  // namespace credo

namespace credo {
namespace {

// Node attributes are the kinds' options: each numeric one must have a finite range, or a value like 1e308
// would pass the check and turn into NaN at the first step. Tasks' and algorithms' options likewise.
template <class Registry>
void expect_bounded(const Registry& registry, const char* what) {
  for (const auto& [name, entry] : registry.all())
    for (const auto& o : entry.options) {
      if (!o.choices.empty()) continue;
      EXPECT_TRUE(std::isfinite(o.min) && std::isfinite(o.max))
          << what << " '" << name << "': option '" << o.name << "' has no finite range";
    }
}

TEST(Registries, EveryNumericOptionHasAFiniteRange) {
  expect_bounded(PopulationRegistry::get(), "population kind");
  expect_bounded(AlgorithmRegistry::get(), "credit algorithm");
  expect_bounded(TaskRegistry::get(), "task");
  for (const auto& o : model_limit_specs()) EXPECT_TRUE(std::isfinite(o.max)) << o.name;
}

}  // namespace
}  // namespace credo
