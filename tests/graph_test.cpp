// Model graphs from DOT: inputs and outputs in file order, and the checks that name what is wrong.
#include <gtest/gtest.h>

#include "framework/error.h"
#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/program.h"

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
