// GoogleTest suites for extension authors: a new population kind, memory module, task or credit algorithm gets
// credo's checks by instantiating one suite. Include this header in exactly one test file of a test binary.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "framework/checkpoint.h"
#include "framework/credit.h"
#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/module.h"
#include "framework/module_check.h"
#include "framework/population.h"
#include "framework/program.h"
#include "framework/task.h"
#include "framework/test_models.h"
#include "framework/trainer.h"

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
// A test binary instantiates the suites it needs; the others stay silent.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PopulationSuite);

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

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ModuleSuite);

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


// Parameter: a task and its options, "name" or "name k=v k=v" (e.g. "copy length=3"). Checks what the trainer
// relies on: sizes and loss as declared, episodes of the declared shape with something scored, valid targets,
// the same data from the same seed, and a chance loss no worse than the best constant prediction (a memoryless
// predictor can do at least that well).
class TaskSuite : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Task> make(std::uint64_t seed) const {
    const auto words = split_list(GetParam(), " ");
    std::vector<std::string> kv(words.begin() + 1, words.end());
    return make_task(words.at(0), parse_key_values(kv, "suite"), seed);
  }
  Episode sample(Task& t, int batch) const { return t.sample(batch, t.streaming() ? 50 : 0); }
};

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TaskSuite);

TEST_P(TaskSuite, DeclaresSizesLossAndChance) {
  const auto t = make(1);
  EXPECT_GT(t->input_size(), 0);
  EXPECT_GT(t->output_size(), 0);
  const std::string loss = t->loss();
  EXPECT_TRUE(loss == "mse" || loss == "softmax_xent" || loss == "sigmoid_xent") << loss;
  EXPECT_TRUE(std::isfinite(t->chance_loss()) && t->chance_loss() >= 0) << t->chance_loss();
}

TEST_P(TaskSuite, EpisodesHaveTheDeclaredShapeAndValidTargets) {
  auto t = make(1);
  for (int batch : {1, 3}) {
    const Episode e = sample(*t, batch);
    ASSERT_GT(e.steps, 0);
    if (t->streaming()) {
      EXPECT_EQ(e.steps, 50);
    }
    EXPECT_EQ(e.batch, batch);
    const Eigen::Index cols = static_cast<Eigen::Index>(e.steps) * batch;
    ASSERT_EQ(e.x.rows(), t->input_size());
    ASSERT_EQ(e.target.rows(), t->output_size());
    ASSERT_EQ(e.mask.rows(), 1);
    ASSERT_EQ(e.x.cols(), cols);
    ASSERT_EQ(e.target.cols(), cols);
    ASSERT_EQ(e.mask.cols(), cols);
    EXPECT_TRUE(e.x.allFinite() && e.target.allFinite());
    EXPECT_TRUE((e.mask.array() == 0 || e.mask.array() == 1).all()) << "mask entries are 0 or 1";
    EXPECT_GT(e.mask.sum(), 0) << "nothing scored";
    for (Eigen::Index c = 0; c < cols; ++c) {
      if (e.mask(0, c) == 0) continue;
      const auto y = e.target.col(c);
      if (t->loss() == "softmax_xent") {
        EXPECT_GE(y.minCoeff(), 0) << "column " << c;
        EXPECT_NEAR(y.sum(), 1, 1e-9) << "softmax targets are probabilities, column " << c;
      } else if (t->loss() == "sigmoid_xent") {
        EXPECT_TRUE(y.minCoeff() >= 0 && y.maxCoeff() <= 1) << "sigmoid targets in [0, 1], column " << c;
      }
    }
  }
}

TEST_P(TaskSuite, TheSameSeedGivesTheSameData) {
  auto a = make(7), b = make(7), c = make(8);
  const Episode ea = sample(*a, 4), eb = sample(*b, 4), ec = sample(*c, 4);
  EXPECT_EQ(ea.x, eb.x);
  EXPECT_EQ(ea.target, eb.target);
  EXPECT_EQ(ea.mask, eb.mask);
  EXPECT_TRUE(ea.x.cols() != ec.x.cols() || ea.x != ec.x || ea.target != ec.target) << "another seed, the same data";
}

// The best constant output's loss, estimated on many scored steps, is an upper bound on the best memoryless
// predictor's, which is what chance_loss() claims to be (up to the estimate's sampling error).
TEST_P(TaskSuite, ChanceLossIsNoWorseThanTheBestConstantPrediction) {
  auto t = make(3);
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(t->output_size()), sq = sum;
  double n = 0;
  for (int k = 0; k < 1000 && n < 20000; ++k) {
    const Episode e = sample(*t, 64);
    for (Eigen::Index c = 0; c < e.mask.cols(); ++c)
      if (e.mask(0, c) > 0) sum += e.target.col(c), sq += e.target.col(c).cwiseAbs2(), n += 1;
  }
  ASSERT_GT(n, 0);
  const Eigen::VectorXd mean = sum / n;
  double best = 0;
  if (t->loss() == "mse") {
    best = (sq / n - mean.cwiseAbs2()).sum();  // the variance of each output, summed
  } else if (t->loss() == "softmax_xent") {
    for (double p : mean) best -= p > 0 ? p * std::log(p) : 0;  // the entropy of the mean target
  } else {
    // Soft targets: the cross-entropy of the mean probability against the targets.
    for (double p : mean) best -= p > 0 && p < 1 ? p * std::log(p) + (1 - p) * std::log(1 - p) : 0;
  }
  EXPECT_LE(t->chance_loss(), best * 1.03 + 1e-3) << "best constant prediction: " << best;
}

TEST_P(TaskSuite, MetricsAreNamedAndStable) {
  auto t = make(1);
  const Episode e = sample(*t, 3);
  const Eigen::MatrixXd outputs = Eigen::MatrixXd::Zero(t->output_size(), e.x.cols());
  const auto m1 = t->metrics(e, outputs), m2 = t->metrics(e, outputs);
  ASSERT_EQ(m1.size(), m2.size());
  for (size_t k = 0; k < m1.size(); ++k) {
    EXPECT_EQ(m1[k].name, m2[k].name);
    EXPECT_FALSE(m1[k].name.empty());
    EXPECT_TRUE(std::all_of(m1[k].name.begin(), m1[k].name.end(),
                            [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }))
        << m1[k].name;
    EXPECT_TRUE(std::isfinite(m1[k].value)) << m1[k].name;
  }
}

// Parameter: a credit algorithm, "name" or "name:k=v:k=v". It runs on the population suite's models of leaky
// tanh units (those it accepts; it may refuse a model with an InputError, but must accept one). Checks: a
// gradient of the right size, finite, emitted at every step if the algorithm says it is online, and not zero
// over an episode; deterministic algorithms (no `seed` option) forget everything at reset() and give the mean
// over the batch; stochastic ones give the same gradient from the same seed; exact ones equal BPTT; every
// algorithm gets the readout's gradient (projections into outputs that do not feed back) exactly; and one that
// declares its whole state (visit_state) continues exactly from it.
class AlgorithmSuite : public ::testing::TestWithParam<std::string> {
 protected:
  struct Sequence {
    std::vector<Mat<double>> x, target, mask;
  };
  // Random inputs; targets valid for each output's loss; some steps unscored.
  static Sequence episode(const Program<double>& prog, int batch, int steps, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> n(0, 1);
    std::uniform_real_distribution<double> u(0, 1);
    const auto losses = prog.output_losses();
    Sequence e;
    for (int t = 0; t < steps; ++t) {
      Mat<double> x(prog.input_size(), batch), y = Mat<double>::Zero(prog.output_size(), batch), m(1, batch);
      for (auto& v : x.reshaped()) v = n(rng);
      size_t k = 0;
      for (const auto& p : prog.populations()) {
        if (p.role != Role::output) continue;
        for (int b = 0; b < batch; ++b) {
          if (losses[k] == LossKind::softmax_xent) y(p.io_offset + static_cast<int>(rng() % p.shape.units), b) = 1;
          else
            for (int i = 0; i < p.shape.units; ++i) y(p.io_offset + i, b) = u(rng);
        }
        ++k;
      }
      for (int b = 0; b < batch; ++b) m(0, b) = t == steps - 1 || u(rng) < 0.7 ? 1 : 0;
      e.x.push_back(x), e.target.push_back(y), e.mask.push_back(m);
    }
    return e;
  }
  // The gradient over an episode (reset, every step, end_chunk); `every_step`: whether each step added to it.
  static Vec<double> gradient(CreditAlgorithm<double>& a, const Program<double>& prog, const Sequence& e,
                              bool* every_step = nullptr) {
    Vec<double> g = Vec<double>::Zero(prog.param_count());
    a.reset(static_cast<int>(e.x.at(0).cols()));
    bool all = true;
    for (size_t t = 0; t < e.x.size(); ++t) all = a.step(e.x[t], e.target[t], e.mask[t], g) && all;
    a.end_chunk(true, g);
    if (every_step) *every_step = all;
    return g;
  }
  std::pair<std::string, std::map<std::string, std::string>> spec() const { return parse_algorithm_spec(GetParam()); }
  bool stochastic() const {
    const auto& opts = AlgorithmRegistry::get().find(spec().first, "credit algorithm").options;
    return std::any_of(opts.begin(), opts.end(), [](const OptionSpec& o) { return o.name == "seed"; });
  }
  // The suite's models the algorithm accepts, each with initialized parameters.
  std::vector<std::unique_ptr<Program<double>>> programs() const {
    std::vector<std::unique_ptr<Program<double>>> out;
    const auto models = population_models("kind=tanh alpha=0.5");
    for (size_t i = 0; i < models.size(); ++i) {
      auto prog = std::make_unique<Program<double>>(parse_model(models[i], "suite.dot"));
      std::mt19937_64 rng(11 + i);
      prog->init_params(rng);
      try {
        make_algorithm<double>(spec().first, spec().second, *prog);
      } catch (const InputError&) {
        continue;  // refused, with a message
      }
      out.push_back(std::move(prog));
    }
    EXPECT_FALSE(out.empty()) << GetParam() << " accepts none of the suite's models";
    return out;
  }
  static double relative_error(const Vec<double>& a, const Vec<double>& b) {
    return (a - b).norm() / std::max({a.norm(), b.norm(), 1e-300});
  }
};

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(AlgorithmSuite);

TEST_P(AlgorithmSuite, GivesAFiniteGradientAsDeclared) {
  const auto& kind = AlgorithmRegistry::get().find(spec().first, "credit algorithm").make;
  for (auto& prog : programs()) {
    SCOPED_TRACE(prog->graph().name);
    auto a = make_algorithm<double>(spec().first, spec().second, *prog);
    bool every_step = false;
    const Vec<double> g = gradient(*a, *prog, episode(*prog, 2, 7, 5), &every_step);
    ASSERT_EQ(g.size(), prog->param_count());
    EXPECT_TRUE(g.allFinite());
    EXPECT_GT(g.norm(), 0);
    if (kind.online) {
      EXPECT_TRUE(every_step) << "an online algorithm adds a gradient at every step";
    }
    EXPECT_TRUE(std::isfinite(a->last_loss()));
  }
}

TEST_P(AlgorithmSuite, ResetForgetsOrTheSameSeedRepeats) {
  for (auto& prog : programs()) {
    SCOPED_TRACE(prog->graph().name);
    const auto e1 = episode(*prog, 2, 7, 5), e2 = episode(*prog, 2, 9, 6);
    auto a = make_algorithm<double>(spec().first, spec().second, *prog);
    const Vec<double> first = gradient(*a, *prog, e1);
    if (stochastic()) {
      auto b = make_algorithm<double>(spec().first, spec().second, *prog);
      EXPECT_EQ(gradient(*b, *prog, e1), first) << "the same seed, the same gradient";
    } else {
      gradient(*a, *prog, e2);
      EXPECT_EQ(gradient(*a, *prog, e1), first) << "something of the last episode survived reset()";
    }
  }
}

TEST_P(AlgorithmSuite, GradientIsTheMeanOverTheBatch) {
  if (stochastic()) GTEST_SKIP() << GetParam() << " draws per sequence: its batch gradient is not a plain mean";
  for (auto& prog : programs()) {
    SCOPED_TRACE(prog->graph().name);
    const auto one = episode(*prog, 1, 6, 9);
    auto twice = one;
    for (auto* v : {&twice.x, &twice.target, &twice.mask})
      for (auto& m : *v) m = Mat<double>(m.replicate(1, 2));
    auto a = make_algorithm<double>(spec().first, spec().second, *prog);
    EXPECT_LE(relative_error(gradient(*a, *prog, twice), gradient(*a, *prog, one)), 1e-12);
  }
}

TEST_P(AlgorithmSuite, ExactAlgorithmsEqualBptt) {
  if (!AlgorithmRegistry::get().find(spec().first, "credit algorithm").make.exact)
    GTEST_SKIP() << GetParam() << " is not exact";
  for (auto& prog : programs()) {
    SCOPED_TRACE(prog->graph().name);
    const auto e = episode(*prog, 2, 7, 5);
    auto a = make_algorithm<double>(spec().first, spec().second, *prog);
    auto bptt = make_algorithm<double>("bptt", {}, *prog);
    EXPECT_LE(relative_error(gradient(*a, *prog, e), gradient(*bptt, *prog, e)), 1e-9);
  }
}

// What visit_state() shows is all the algorithm carries: one restored from it, mid-stream and mid-chunk,
// continues with the same gradients, bit for bit, as the one it was saved from.
TEST_P(AlgorithmSuite, ARestoredStateContinuesExactly) {
  for (auto& prog : programs()) {
    SCOPED_TRACE(prog->graph().name);
    const auto e = episode(*prog, 2, 12, 5);
    auto a = make_algorithm<double>(spec().first, spec().second, *prog);
    auto b = make_algorithm<double>(spec().first, spec().second, *prog);
    Vec<double> ga = Vec<double>::Zero(prog->param_count()), gb = ga;
    a->reset(2);
    // Five steps, the end of a stream chunk, two more steps; then the state is saved.
    for (size_t t = 0; t < 7; ++t) {
      a->step(e.x[t], e.target[t], e.mask[t], ga);
      if (t == 4) a->end_chunk(false, ga);
    }
    Checkpoint c;
    StateSaver<double> save(c, "algorithm/");
    if (!a->visit_state(save)) GTEST_SKIP() << GetParam() << " does not declare its whole state";
    b->reset(2);
    StateLoader<double> load(c, "algorithm/", "test");
    ASSERT_TRUE(b->visit_state(load));
    ga.setZero();
    for (size_t t = 7; t < e.x.size(); ++t) {
      const bool added_a = a->step(e.x[t], e.target[t], e.mask[t], ga);
      const bool added_b = b->step(e.x[t], e.target[t], e.mask[t], gb);
      EXPECT_EQ(added_a, added_b);
      EXPECT_EQ(ga, gb) << "step " << t;
    }
    a->end_chunk(true, ga);
    b->end_chunk(true, gb);
    EXPECT_EQ(ga, gb);
    EXPECT_GT(ga.norm(), 0);
  }
}

TEST_P(AlgorithmSuite, ReadoutGradientIsExact) {
  for (auto& prog : programs()) {
    // Outputs that feed back make the readout recurrent; then only exact algorithms owe BPTT's gradient.
    bool feedback = false;
    for (const auto& e : prog->projections()) feedback = feedback || prog->populations()[e.source].role == Role::output;
    if (feedback) continue;
    SCOPED_TRACE(prog->graph().name);
    const auto e = episode(*prog, 2, 7, 5);
    auto a = make_algorithm<double>(spec().first, spec().second, *prog);
    auto bptt = make_algorithm<double>("bptt", {}, *prog);
    const Vec<double> ga = gradient(*a, *prog, e), gb = gradient(*bptt, *prog, e);
    for (const auto& b : prog->param_blocks()) {
      const int owner = prog->graph().find(b.owner);
      if (prog->populations()[owner].role != Role::output) continue;
      EXPECT_LE(relative_error(ga.segment(b.offset, b.size), gb.segment(b.offset, b.size)), 1e-9) << b.name;
    }
  }
}

}  // namespace credo::testing
