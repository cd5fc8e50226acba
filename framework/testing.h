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
#include "framework/module.h"
#include "framework/module_check.h"
#include "framework/population.h"
#include "framework/program.h"
#include "framework/test_models.h"

namespace credo::testing {

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

// Parameter: a memory module's node attributes (e.g. "kind=attention slots=4 top=2"). Its VJP and JVP are
// checked on their own against finite differences, then in every graph position (every product of the
// Program against finite differences, every exact algorithm against BPTT), and reset must forget.
class ModuleSuite : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Module<double>> make(int size = 3) const {
    std::map<std::string, std::string> attrs;
    std::string kind;
    for (const auto& kv : split_list(GetParam(), " ")) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) continue;
      if (kv.substr(0, eq) == "kind") kind = kv.substr(eq + 1);
      else attrs[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    const auto& entry = PopulationRegistry::get().find(kind, "population kind");
    EXPECT_TRUE(entry.make.is_module()) << kind << " is not a memory module";
    return entry.make.module_double(size, Options("suite", entry.options, attrs));
  }
  std::vector<std::string> ports() const {
    std::vector<std::string> names;
    const auto m = make();
    for (const auto& p : m->shape().ports) names.push_back(p.name);
    return names;
  }
};

TEST_P(ModuleSuite, VjpAndJvpAgreeWithFiniteDifferencesOnTheirOwn) {
  for (int warmup : {0, 1, 5}) {
    auto m = make();
    const ModuleCheck r = check_module(*m, warmup, 7);
    EXPECT_LE(r.jvp_error, 1e-6) << GetParam() << " after " << warmup << " steps";
    EXPECT_LE(r.vjp_error, 1e-6) << GetParam() << " after " << warmup << " steps";
  }
}

TEST_P(ModuleSuite, GradientsAgreeInEveryPosition) {
  for (const auto& dot : module_models(GetParam(), ports())) {
    SCOPED_TRACE(dot);
    expect_gradients_ok(parse_model(dot, "suite.dot"));
  }
}

TEST_P(ModuleSuite, ResetForgetsTheLastEpisode) {
  ModelGraph g = parse_model(module_models(GetParam(), ports())[0], "suite.dot");
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
