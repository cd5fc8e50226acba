// GoogleTest suites for extension authors: a new population kind gets credo's gradient and reset checks by
// instantiating one suite. Include this header in exactly one test file of a test binary.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/program.h"

namespace credo::testing {

// Models that put a population (given by its node attributes, e.g. "kind=lstm forget_bias=0.5") in every
// position the Program treats differently: alone with a recurrent projection; read by a delay-2 projection;
// feeding another carried population at delay 0 (the general immediate-influence path); receiving an
// output's delayed feedback; and twice in one model.
inline std::vector<std::string> population_models(const std::string& attrs) {
  const std::string p = fmt::format("[{} size=3]", attrs);
  return {
      fmt::format("digraph alone {{ x [kind=input size=2]; h {}; y [kind=output size=2 loss=softmax_xent];"
                  " x -> h; h -> h [delay=1]; h -> y; }}", p),
      fmt::format("digraph delayed {{ x [kind=input size=1]; h {}; y [kind=output size=1 loss=mse];"
                  " x -> h; h -> h [delay=2]; h -> y; }}", p),
      fmt::format("digraph stacked {{ x [kind=input size=2]; h {}; g [kind=tanh size=2 alpha=0.5];"
                  " y [kind=output size=1 loss=sigmoid_xent]; x -> h; h -> g; g -> g [delay=1]; g -> y; }}", p),
      fmt::format("digraph feedback {{ x [kind=input size=1]; h {}; y [kind=output size=2 loss=mse];"
                  " x -> h; h -> y; y -> h [delay=1]; }}", p),
      fmt::format("digraph twice {{ x [kind=input size=2]; a {}; b {}; y [kind=output size=2 loss=mse];"
                  " x -> a; a -> b; b -> a [delay=1]; b -> y; a -> y [delay=2]; }}", p, p),
  };
}

// Every row of credo's gradient check within its tolerance: VJP, JVP, state Jacobian and immediate influence
// against finite differences; BPTT against finite differences; every exact algorithm against BPTT.
inline void expect_gradients_ok(const ModelGraph& g, const CheckOptions& o = {}) {
  const auto rows = check_gradients(g, o);
  ASSERT_FALSE(rows.empty());
  for (const auto& r : rows) EXPECT_LE(r.error, r.tolerance) << g.name << ": " << r.check << " / " << r.what;
}

// Parameter: a population's node attributes.
class PopulationSuite : public ::testing::TestWithParam<std::string> {};

TEST_P(PopulationSuite, GradientsAgreeInEveryPosition) {
  for (const auto& dot : population_models(GetParam())) {
    SCOPED_TRACE(dot);
    expect_gradients_ok(parse_model(dot, "suite.dot"));
  }
}

// Nothing of an episode may survive reset(): the same episode twice gives the same gradient bit for bit.
TEST_P(PopulationSuite, ResetForgetsTheLastEpisode) {
  ModelGraph g = parse_model(population_models(GetParam())[0], "suite.dot");
  Program<double> prog(g);
  std::mt19937_64 rng(3);
  prog.init_params(rng);
  auto algo = make_algorithm<double>("bptt", {}, prog);
  const int B = 2, T = 7;
  Mat<double> target = Mat<double>::Zero(2, B), mask = Mat<double>::Ones(1, B);
  target(0, 0) = target(1, 1) = 1;
  std::vector<Mat<double>> xs;
  std::normal_distribution<double> n(0, 1);
  for (int t = 0; t < T; ++t) {
    Mat<double> x(2, B);
    for (auto& v : x.reshaped()) v = n(rng);
    xs.push_back(x);
  }
  auto episode = [&] {
    Vec<double> grad = Vec<double>::Zero(prog.param_count());
    algo->reset(B);
    for (const auto& x : xs) algo->step(x, target, mask, grad);
    algo->end_chunk(true, grad);
    return grad;
  };
  const Vec<double> first = episode();
  const Vec<double> second = episode();
  EXPECT_GT(first.norm(), 0);
  EXPECT_EQ(first, second);
}

}  // namespace credo::testing
