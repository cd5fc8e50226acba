// This project's components under credo's extension suites (framework/testing.h): the population kind in every
// position a graph can put it, the task's episodes and chance level, the algorithm's gradients.
#include "framework/testing.h"

namespace example {

// INSTANTIATE_TEST_SUITE_P takes the suite's unqualified name.
using credo::testing::AlgorithmSuite;
using credo::testing::PopulationSuite;
using credo::testing::TaskSuite;

INSTANTIATE_TEST_SUITE_P(Example, PopulationSuite,
                         ::testing::Values("kind=softsign", "kind=softsign alpha=0.5"),
                         [](const auto& info) { return info.index == 0 ? std::string("softsign") : "leaky_softsign"; });

INSTANTIATE_TEST_SUITE_P(Example, TaskSuite, ::testing::Values("parity", "parity length=9"),
                         [](const auto& info) { return info.index == 0 ? std::string("parity") : "parity_9"; });

INSTANTIATE_TEST_SUITE_P(Example, AlgorithmSuite, ::testing::Values("one_step"));

// one_step is truncated BPTT with k1 = k2 = 1, computed online.
TEST(OneStep, EqualsTruncatedBpttOfOneStep) {
  using namespace credo;
  ModelGraph g = parse_model(
      "digraph m { x [kind=input size=2]; h [kind=softsign size=5 alpha=0.7]; y [kind=output size=2 "
      "loss=softmax_xent]; x -> h; h -> h [delay=1]; h -> y; }",
      "m.dot");
  Program<double> prog(g);
  std::mt19937_64 rng(1);
  prog.init_params(rng);
  auto one = make_algorithm<double>("one_step", {}, prog);
  auto tbptt = make_algorithm<double>("tbptt", {{"k1", "1"}, {"k2", "1"}}, prog);
  Vec<double> a = Vec<double>::Zero(prog.param_count()), b = a;
  one->reset(3), tbptt->reset(3);
  std::normal_distribution<double> n(0, 1);
  for (int t = 0; t < 6; ++t) {
    Mat<double> x(2, 3), y = Mat<double>::Zero(2, 3), m = Mat<double>::Ones(1, 3);
    for (auto& v : x.reshaped()) v = n(rng);
    for (int c = 0; c < 3; ++c) y((t + c) % 2, c) = 1;
    one->step(x, y, m, a);
    tbptt->step(x, y, m, b);
  }
  one->end_chunk(true, a), tbptt->end_chunk(true, b);
  EXPECT_LE((a - b).norm(), 1e-12 * b.norm());
}

}  // namespace example
