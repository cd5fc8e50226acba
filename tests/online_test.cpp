// The approximate online algorithms (UORO, KF-RTRL, SnAp, RFLO) against RTRL, in double precision: unbiasedness
// of the stochastic ones, exactness where their approximation is exact, and alignment on a dense Elman network.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/program.h"
#include "tests/random_graph.h"

namespace credo {
namespace {

using V = Vec<double>;
using M = Mat<double>;

// A fixed trajectory: weights, inputs, targets and masks, so several algorithms follow the same steps.
struct Trajectory {
  std::unique_ptr<Program<double>> prog;
  std::vector<M> x, t, m;
};

ModelGraph model_file(const std::string& name) {
  ModelGraph g = read_model(std::string(CREDO_SOURCE_DIR) + "/models/" + name);
  resolve_output_losses(g, "mse", "test");
  return g;
}

ModelGraph model_dot(const std::string& dot) {
  ModelGraph g = parse_model(dot, "test.dot");
  resolve_output_losses(g, "mse", "test");
  return g;
}

Trajectory make_run(const ModelGraph& g, int steps, int batch, std::uint64_t seed) {
  Trajectory r;
  r.prog = std::make_unique<Program<double>>(g);
  std::mt19937_64 rng(seed);
  r.prog->init_params(rng);
  std::normal_distribution<double> n(0, 1);
  for (int s = 0; s < steps; ++s) {
    M x(r.prog->input_size(), batch), t(r.prog->output_size(), batch);
    for (auto& v : x.reshaped()) v = n(rng);
    for (auto& v : t.reshaped()) v = n(rng);
    r.x.push_back(x);
    r.t.push_back(t);
    r.m.push_back(M::Ones(1, batch));
  }
  return r;
}

// The episode's gradient: every step's contribution summed with the weights frozen.
V gradient(Trajectory& r, const std::string& algo, const std::map<std::string, std::string>& opts = {}) {
  auto a = make_algorithm<double>(algo, opts, *r.prog);
  a->reset(static_cast<int>(r.x[0].cols()));
  V g = V::Zero(r.prog->param_count());
  for (size_t s = 0; s < r.x.size(); ++s) a->step(r.x[s], r.t[s], r.m[s], g);
  a->end_chunk(true, g);
  return g;
}

// Relative distance of a from b (0 when both are zero, e.g. a one-unit softmax output).
double rel(const V& a, const V& b) { return (a - b).norm() / std::max(b.norm(), 1e-300); }
double cosine(const V& a, const V& b) { return a.dot(b) / (a.norm() * b.norm()); }

const char* kSmallRnn = R"(digraph small {
  x [kind=input size=1];
  h [kind=tanh size=4];
  y [kind=output size=1];
  x -> h;
  h -> h [delay=1];
  h -> y;
})";

// Relative RMS error of the mean of `per_group` independent draws (seed = option "seed"), measured over disjoint
// groups of the same draws, for two group sizes; so the 1/sqrt(D) law is checked on averages, not on one sample.
struct Spread {
  double small = 0, large = 0;
};
Spread error_of_means(Trajectory& r, const std::string& algo, const V& exact, int small, int large, int draws) {
  std::vector<V> g;
  for (int d = 0; d < draws; ++d) g.push_back(gradient(r, algo, {{"seed", std::to_string(d + 1)}}));
  auto rms = [&](int per_group) {
    double sum = 0;
    const int groups = draws / per_group;
    for (int k = 0; k < groups; ++k) {
      V mean = V::Zero(exact.size());
      for (int d = 0; d < per_group; ++d) mean += g[k * per_group + d];
      mean /= per_group;
      sum += (mean - exact).squaredNorm();
    }
    return std::sqrt(sum / groups) / exact.norm();
  };
  return {rms(small), rms(large)};
}

TEST(Uoro, IsUnbiased) {
  Trajectory r = make_run(model_dot(kSmallRnn), 10, 1, 5);
  const V exact = gradient(r, "rtrl");
  const Spread e = error_of_means(r, "uoro", exact, 100, 1600, 6400);
  std::printf("uoro: relative error of the mean, 100 draws %.4f, 1600 draws %.4f (ratio %.2f)\n", e.small, e.large,
              e.small / e.large);
  EXPECT_GT(e.small / e.large, 2.5);
  EXPECT_LT(e.large, 0.03);
}

TEST(KfRtrl, IsUnbiased) {
  Trajectory r = make_run(model_dot(kSmallRnn), 10, 1, 5);
  const V exact = gradient(r, "rtrl");
  const Spread e = error_of_means(r, "kf_rtrl", exact, 100, 1600, 6400);
  std::printf("kf_rtrl: relative error of the mean, 100 draws %.4f, 1600 draws %.4f (ratio %.2f)\n", e.small,
              e.large, e.small / e.large);
  EXPECT_GT(e.small / e.large, 2.5);
  EXPECT_LT(e.large, 0.03);
}

TEST(KfRtrl, TwoStepEpisodeIsExactOnAnyGraph) {
  // Γ_0 = 0, so after the first step u ⊗ A = (c2 ρ1 a) ⊗ (c2 D / ρ1) = a ⊗ D, which is M_1 exactly: over a two-step
  // episode KF-RTRL is RTRL, which checks the factor bookkeeping (drive rows, presynaptic vectors, delay lines,
  // delay-0 paths into other carried populations, biases) on every graph.
  std::vector<ModelGraph> models = {model_file("two_layer.dot"), model_file("lstm.dot"), model_file("gru.dot")};
  for (int i = 0; i < 24; ++i) models.push_back(parse_model(testing::random_model_dot(1000 + i), "random.dot"));
  for (size_t k = 0; k < models.size(); ++k) {
    Trajectory r = make_run(models[k], 2, 2, 300 + k);
    EXPECT_LE(rel(gradient(r, "kf_rtrl"), gradient(r, "rtrl")), 1e-9) << models[k].source << " #" << k;
  }
  // From the second update on the estimate is random: a longer episode is not exact.
  Trajectory r = make_run(model_file("two_layer.dot"), 6, 2, 300);
  EXPECT_GT(rel(gradient(r, "kf_rtrl"), gradient(r, "rtrl")), 1e-3);
}

// On random graphs (every kind, delay lines, skips), the mean of many draws is within a few of its own standard
// errors of RTRL. Unbiased: E‖mean - exact‖² = (Σ variances) / D.
TEST(Online, StochasticAlgorithmsAreUnbiasedOnRandomGraphs) {
  const int draws = 400;
  for (const char* algo : {"uoro", "kf_rtrl"}) {
    double worst = 0;
    for (int i = 0; i < 12; ++i) {
      Trajectory r = make_run(parse_model(testing::random_model_dot(1000 + i), "random.dot"), 5, 1, 400 + i);
      const V exact = gradient(r, "rtrl");
      V sum = V::Zero(exact.size()), sq = V::Zero(exact.size());
      for (int d = 0; d < draws; ++d) {
        const V g = gradient(r, algo, {{"seed", std::to_string(d + 1)}});
        sum += g;
        sq += g.cwiseProduct(g);
      }
      const V mean = sum / draws;
      const double se2 = (sq / draws - mean.cwiseProduct(mean)).sum() / (draws - 1);
      const double ratio = (mean - exact).squaredNorm() / std::max(se2, 1e-300);
      worst = std::max(worst, ratio);
      EXPECT_LE((mean - exact).squaredNorm(), 9 * se2 + 1e-20) << algo << "\n" << testing::random_model_dot(1000 + i);
    }
    std::printf("%s: worst squared error of the mean over 12 random graphs, in squared standard errors: %.2f\n", algo,
                worst);
  }
}

// Models whose only recurrence is within each unit (a diagonal state Jacobian), where SnAp-1 and RFLO are exact.
const char* kLeakyNoRecurrence = R"(digraph leaky_diag {
  x [kind=input size=2];
  h [kind=tanh size=5 alpha=0.5];
  y [kind=output size=2];
  x -> h;
  h -> y;
})";
const char* kLstmNoRecurrence = R"(digraph lstm_diag {
  x [kind=input size=3];
  h [kind=lstm size=4];
  y [kind=output size=2];
  x -> h;
  h -> y;
})";
const char* kGruNoRecurrence = R"(digraph gru_diag {
  x [kind=input size=3];
  h [kind=gru size=4];
  y [kind=output size=2];
  x -> h;
  h -> y;
})";
// Unit-local populations reaching each other only through delays (the cheap SnAp-1 path applies), with a delay
// line and a population that is carried only because it is read with a delay.
const char* kCrossDelayed = R"(digraph cross {
  x  [kind=input size=2];
  h1 [kind=lstm size=3];
  h2 [kind=tanh size=4];
  y  [kind=output size=2];
  x  -> h1;
  x  -> h2;
  h1 -> h1 [delay=1];
  h1 -> h2 [delay=1];
  h2 -> h2 [delay=2];
  h2 -> h1 [delay=1];
  h1 -> y;
  h2 -> y;
})";

TEST(Snap, SaturatedPatternEqualsRtrl) {
  // A single dense recurrent population saturates at n = 2; two_layer (delay-2 feedback) needs more.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"elman.dot", "2"}, {"lstm.dot", "2"}, {"gru.dot", "2"}, {"two_layer.dot", "50"}};
  for (const auto& [model, n] : cases) {
    Trajectory r = make_run(model_file(model), 8, 2, 7);
    const V exact = gradient(r, "rtrl");
    EXPECT_LE(rel(gradient(r, "snap", {{"n", n}}), exact), 1e-9) << model << " n=" << n;
  }
  Trajectory r = make_run(model_dot(kCrossDelayed), 8, 2, 7);
  EXPECT_LE(rel(gradient(r, "snap", {{"n", "50"}}), gradient(r, "rtrl")), 1e-9) << "cross";
}

TEST(Snap, OneIsExactOnElementwiseRecurrenceOnly) {
  for (const char* dot : {kLeakyNoRecurrence, kLstmNoRecurrence, kGruNoRecurrence}) {
    Trajectory r = make_run(model_dot(dot), 10, 2, 9);
    const V exact = gradient(r, "rtrl");
    EXPECT_LE(rel(gradient(r, "snap"), exact), 1e-9) << dot;
    EXPECT_LE(rel(gradient(r, "snap", {{"dense", "1"}}), exact), 1e-9) << dot;
  }
  // A dense recurrent projection makes the state Jacobian dense: SnAp-1 drops real influence there.
  for (const char* model : {"elman.dot", "lstm.dot"}) {
    Trajectory r = make_run(model_file(model), 10, 2, 9);
    EXPECT_GT(rel(gradient(r, "snap"), gradient(r, "rtrl")), 1e-2) << model;
  }
}

TEST(Snap, CheapPathEqualsDenseMaskedPath) {
  std::vector<ModelGraph> models = {model_file("elman.dot"), model_file("leaky.dot"), model_file("lstm.dot"),
                                    model_file("gru.dot"), model_dot(kCrossDelayed)};
  for (const auto& g : models) {
    Trajectory r = make_run(g, 10, 3, 4);
    EXPECT_LE(rel(gradient(r, "snap"), gradient(r, "snap", {{"dense", "1"}})), 1e-12) << g.source;
  }
}

TEST(Snap, RandomGraphs) {
  // Every kind, skips, delay lines, outputs fed back: n = 1 (cheap where it applies) agrees with the dense masked
  // path, and a saturating n agrees with RTRL.
  int cheap = 0;
  for (int i = 0; i < 24; ++i) {
    const std::string dot = testing::random_model_dot(1000 + i);
    Trajectory r = make_run(parse_model(dot, "random.dot"), 6, 2, 100 + i);
    if (r.prog->state_size() == 0) continue;
    bool local = true;
    for (const auto& p : r.prog->populations()) local = local && (p.role == Role::input || !p.instant_reaches_state);
    cheap += local;
    EXPECT_LE(rel(gradient(r, "snap"), gradient(r, "snap", {{"dense", "1"}})), 1e-12) << dot;
    EXPECT_LE(rel(gradient(r, "snap", {{"n", "100"}}), gradient(r, "rtrl")), 1e-9) << dot;
  }
  EXPECT_GT(cheap, 3);
}

TEST(Rflo, SymmetricFeedbackIsRtrlWhenTheOnlyRecurrenceIsTheLeak) {
  Trajectory r = make_run(model_dot(kLeakyNoRecurrence), 12, 2, 9);
  const V exact = gradient(r, "rtrl");
  EXPECT_LE(rel(gradient(r, "rflo", {{"feedback", "symmetric"}}), exact), 1e-9);
  // Random feedback is not the exact credit for the hidden weights.
  EXPECT_GT(rel(gradient(r, "rflo"), exact), 1e-2);
}

TEST(Rflo, ReadoutGradientIsExactWithRandomFeedback) {
  for (const char* model : {"leaky.dot", "elman.dot"}) {
    Trajectory r = make_run(model_file(model), 12, 2, 9);
    const V exact = gradient(r, "rtrl"), g = gradient(r, "rflo", {{"seed", "7"}});
    int readout = 0;
    for (const auto& blk : r.prog->param_blocks()) {
      if (blk.owner != "y") continue;
      ++readout;
      EXPECT_LE(rel(g.segment(blk.offset, blk.size), exact.segment(blk.offset, blk.size)), 1e-12)
          << model << " " << blk.name;
    }
    EXPECT_EQ(readout, 2) << model;  // W[h -> y] and b[y]
  }
}

TEST(Rflo, ReadoutGradientIsExactOnRandomRateGraphs) {
  // Random graphs of tanh populations (leaky or not, skips, delay lines): an output that is not fed back into the
  // network has no carried influence, so its parameters' exact gradient is the immediate one RFLO gives them.
  int checked = 0;
  for (int i = 0; i < 200 && checked < 8; ++i) {
    const std::string dot = testing::random_model_dot(2000 + i);
    if (dot.find("gru") != std::string::npos || dot.find("lstm") != std::string::npos) continue;
    Trajectory r = make_run(parse_model(dot, "random.dot"), 6, 2, 500 + i);
    const V exact = gradient(r, "rtrl"), g = gradient(r, "rflo");
    ASSERT_TRUE(g.allFinite()) << dot;
    for (const auto& p : r.prog->populations()) {
      if (p.role != Role::output || p.state_offset >= 0) continue;
      for (const auto& blk : r.prog->param_blocks()) {
        if (blk.owner != p.name) continue;
        EXPECT_LE(rel(g.segment(blk.offset, blk.size), exact.segment(blk.offset, blk.size)), 1e-12)
            << blk.name << "\n" << dot;
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

TEST(Rflo, RefusesPopulationsThatAreNotLeakyRateUnits) {
  Trajectory r = make_run(model_file("lstm.dot"), 1, 1, 1);
  EXPECT_THROW(make_algorithm<double>("rflo", {}, *r.prog), InputError);
  Trajectory g = make_run(model_file("gru.dot"), 1, 1, 1);
  EXPECT_THROW(make_algorithm<double>("rflo", {}, *g.prog), InputError);
}

// Every approximation points the same way as the exact gradient on a dense Elman network (32 units) over a
// 20-step episode, at initialization. For the stochastic ones the cosine of a single draw is noisy (UORO's
// variance, and RFLO's random feedback, which aligns with the exact credit only through the exact readout part
// before any training), so they are judged on the mean over ten seeds.
TEST(Online, PositiveCosineWithRtrlOnADenseElmanNetwork) {
  Trajectory r = make_run(model_file("elman.dot"), 20, 4, 3);
  const V exact = gradient(r, "rtrl");
  struct Case {
    std::string algo;
    std::map<std::string, std::string> options;
    bool stochastic;
  };
  const std::vector<Case> cases = {{"uoro", {}, true},
                                   {"kf_rtrl", {}, true},
                                   {"snap", {}, false},
                                   {"snap", {{"n", "2"}}, false},
                                   {"rflo", {}, true},
                                   {"rflo", {{"feedback", "symmetric"}}, false}};
  for (const auto& c : cases) {
    std::string name = c.algo;
    for (const auto& [k, v] : c.options) name += fmt::format(" {}={}", k, v);
    const int draws = c.stochastic ? 10 : 1;
    double mean = 0, first = 0;
    for (int d = 0; d < draws; ++d) {
      auto options = c.options;
      if (c.stochastic) options["seed"] = std::to_string(d + 1);
      const double cos = cosine(gradient(r, c.algo, options), exact);
      if (d == 0) first = cos;
      mean += cos / draws;
    }
    if (c.stochastic)
      std::printf("%-24s cosine with rtrl %.3f (seed 1), mean over %d seeds %.3f\n", name.c_str(), first, draws, mean);
    else
      std::printf("%-24s cosine with rtrl %.3f\n", name.c_str(), mean);
    EXPECT_GT(mean, 0.0) << name;
  }
}

}  // namespace
}  // namespace credo
