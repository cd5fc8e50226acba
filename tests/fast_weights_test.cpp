// The fast_weights memory module on its own: VJP and JVP against finite differences in every configuration,
// the fast-weight update, the reduction to a plain RNN step (alone and in a Program), batching and the option
// ranges. Its graph-level gradient checks (framework/testing.h) are in extension_test.cpp.
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/graph.h"
#include "framework/module.h"
#include "framework/module_check.h"
#include "framework/program.h"

namespace credo {
namespace {

using M = Mat<double>;

std::unique_ptr<Module<double>> make_fast_weights(int n, const std::map<std::string, std::string>& given) {
  const auto& e = PopulationRegistry::get().find("fast_weights", "population kind");
  EXPECT_TRUE(e.make.is_module());
  return e.make.module_double(n, Options("fast_weights test", e.options, given));
}

M random_matrix(int rows, int cols, std::mt19937_64& rng, double scale = 1.0) {
  std::normal_distribution<double> normal(0.0, scale);
  M x(rows, cols);
  for (auto& v : x.reshaped()) v = normal(rng);
  return x;
}

// Runs `steps` batched steps from the zero state on random drives; returns the state reached.
M warm_up(Module<double>& m, int B, int steps, std::mt19937_64& rng) {
  const auto& sh = m.shape();
  M state = M::Zero(sh.state, B), out(sh.out, B), next(sh.state, B), work(sh.work, B);
  for (int t = 0; t < steps; ++t) {
    m.forward(random_matrix(sh.in_rows(), B, rng), state, out, next, work);
    state = next;
  }
  return state;
}

TEST(FastWeights, Shape) {
  auto m = make_fast_weights(5, {{"inner", "2"}});
  const auto& sh = m->shape();
  EXPECT_EQ(sh.out, 5);
  EXPECT_EQ(sh.state, 5 + 25);
  ASSERT_EQ(sh.ports.size(), 1u);
  EXPECT_EQ(sh.ports[0].name, "drive");
  EXPECT_EQ(sh.ports[0].size, 5);
  EXPECT_TRUE(sh.ports[0].required);
  EXPECT_EQ(sh.ports[0].bias_init, 0.0);
  ASSERT_EQ(sh.memory_rows.size(), 1u);
  EXPECT_EQ(sh.memory_rows[0], std::make_pair(5, 25));
}

// (activation, inner steps S, layer norm)
class FastWeightsGradient : public ::testing::TestWithParam<std::tuple<std::string, int, int>> {};

TEST_P(FastWeightsGradient, VjpAndJvpMatchFiniteDifferences) {
  const auto& [activation, inner, ln] = GetParam();
  auto m = make_fast_weights(
      6, {{"activation", activation}, {"inner", std::to_string(inner)}, {"layer_norm", std::to_string(ln)}});
  for (int warmup : {0, 1, 4}) {
    for (std::uint64_t seed : {1, 2, 3}) {
      const ModuleCheck r = check_module(*m, warmup, seed);
      EXPECT_LT(r.jvp_error, 1e-6) << "warmup " << warmup << " seed " << seed;
      EXPECT_LT(r.vjp_error, 1e-6) << "warmup " << warmup << " seed " << seed;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Configurations, FastWeightsGradient,
                         ::testing::Combine(::testing::Values("relu", "tanh"), ::testing::Values(0, 1, 2),
                                            ::testing::Values(0, 1)),
                         [](const auto& info) {
                           return fmt::format("{}_S{}_ln{}", std::get<0>(info.param), std::get<1>(info.param),
                                              std::get<2>(info.param));
                         });

TEST(FastWeights, GradientWithStrongerMemoryAndLargerInputs) {
  auto m = make_fast_weights(8, {{"lambda", "1"}, {"eta", "2"}, {"inner", "3"}, {"activation", "tanh"}});
  const ModuleCheck r = check_module(*m, 6, 7, 2.0);
  EXPECT_LT(r.jvp_error, 1e-6);
  EXPECT_LT(r.vjp_error, 1e-6);
}

// lambda = 0 and eta = 0 leave A = 0, so every inner step recomputes f(drive) (or f(LN(drive))): a plain RNN
// step whose recurrence is entirely in the projections.
TEST(FastWeights, NoFastWeightsIsAPlainRnnStep) {
  const int n = 7, B = 3;
  std::mt19937_64 rng(3);
  for (const std::string activation : {"relu", "tanh"}) {
    for (int inner : {0, 1, 3}) {
      for (int ln : {0, 1}) {
        auto m = make_fast_weights(n, {{"lambda", "0"},
                                       {"eta", "0"},
                                       {"activation", activation},
                                       {"inner", std::to_string(inner)},
                                       {"layer_norm", std::to_string(ln)}});
        const auto& sh = m->shape();
        const M prev = warm_up(*m, B, 3, rng);
        const M d = random_matrix(n, B, rng);
        M out(n, B), state(sh.state, B), work(sh.work, B);
        m->forward(d, prev, out, state, work);

        M u = d;
        if (ln && inner > 0)
          for (int b = 0; b < B; ++b) {
            auto c = u.col(b);
            c.array() -= c.mean();
            c /= std::sqrt(c.squaredNorm() / n + 1e-5);
          }
        const M expected = activation == "relu" ? M(u.cwiseMax(0.0)) : M(u.array().tanh().matrix());
        const std::string where = fmt::format("{} S={} ln={}", activation, inner, ln);
        EXPECT_LT((out - expected).norm(), 1e-14) << where;
        EXPECT_EQ(state.topRows(n), out) << where;
        EXPECT_TRUE(state.bottomRows(n * n).isZero(0)) << where;

        // The derivative is the activation's slope alone: nothing flows back into the previous state.
        if (!ln || inner == 0) {
          const M dout = random_matrix(n, B, rng), dstate = random_matrix(sh.state, B, rng);
          M din(n, B), dprev = M::Zero(sh.state, B);
          m->vjp({d, prev, out, state, work}, dout, dstate, din, dprev);
          const M slope = activation == "relu" ? M((d.array() > 0).cast<double>()) : M(1 - out.array().square());
          EXPECT_LT((din - (dout + dstate.topRows(n)).cwiseProduct(slope)).norm(), 1e-14) << where;
          EXPECT_TRUE(dprev.isZero(0)) << where;
        }
      }
    }
  }
}

// The carried matrix after a step is lambda A + eta h h^T of the carried (A, h), exactly: dyadic values make
// every product and sum exact, whatever the order of operations.
TEST(FastWeights, FastWeightUpdateIsExact) {
  const int n = 5;
  auto m = make_fast_weights(n, {{"lambda", "0.75"}, {"eta", "0.25"}, {"inner", "2"}});
  const auto& sh = m->shape();
  M prev(sh.state, 1);
  for (int i = 0; i < n; ++i) prev(i, 0) = (i - 2) / 8.0;
  for (int k = 0; k < n * n; ++k) prev(n + k, 0) = ((k * 7) % 11 - 5) / 16.0;
  M out(n, 1), state(sh.state, 1), work(sh.work, 1);
  std::mt19937_64 rng(4);
  m->forward(random_matrix(n, 1, rng), prev, out, state, work);
  const M h = prev.topRows(n), A = prev.bottomRows(n * n).reshaped(n, n);
  const M expected = 0.75 * A + 0.25 * h * h.transpose();
  EXPECT_EQ(M(state.bottomRows(n * n).reshaped(n, n)), expected);
}

// The same update along a trajectory the module produces itself, with the default lambda and eta.
TEST(FastWeights, FastWeightUpdateAlongATrajectory) {
  const int n = 6, B = 4;
  auto m = make_fast_weights(n, {});
  const auto& sh = m->shape();
  std::mt19937_64 rng(5);
  M prev = M::Zero(sh.state, B), out(n, B), state(sh.state, B), work(sh.work, B);
  for (int t = 0; t < 6; ++t) {
    m->forward(random_matrix(n, B, rng), prev, out, state, work);
    for (int b = 0; b < B; ++b) {
      const M h = prev.col(b).head(n), A = prev.col(b).tail(n * n).reshaped(n, n);
      const M expected = 0.9 * A + 0.5 * h * h.transpose();
      const M got = state.col(b).tail(n * n).reshaped(n, n);
      EXPECT_LE((got - expected).cwiseAbs().maxCoeff(), 1e-15 * std::max(1.0, expected.cwiseAbs().maxCoeff()))
          << "step " << t << " column " << b;
      EXPECT_EQ(M(state.col(b).head(n)), M(out.col(b)));
    }
    prev = state;
  }
  EXPECT_GT(prev.bottomRows(n * n).norm(), 0.0);
}

// Batched forward and vjp treat every column on its own (each has its own A), and vjp adds into dstate_prev.
TEST(FastWeights, BatchColumnsAreIndependentAndVjpAccumulates) {
  const int n = 5, B = 3;
  for (int ln : {0, 1}) {
    auto m = make_fast_weights(n, {{"inner", "2"}, {"activation", "tanh"}, {"layer_norm", std::to_string(ln)}});
    const auto& sh = m->shape();
    std::mt19937_64 rng(6);
    const M prev = warm_up(*m, B, 4, rng);
    const M d = random_matrix(n, B, rng);
    M out(n, B), state(sh.state, B), work(sh.work, B);
    m->forward(d, prev, out, state, work);
    const M dout = random_matrix(n, B, rng), dstate = random_matrix(sh.state, B, rng);
    const M base = random_matrix(sh.state, B, rng);
    M din(n, B), dprev = base;
    m->vjp({d, prev, out, state, work}, dout, dstate, din, dprev);
    for (int b = 0; b < B; ++b) {
      M o1(n, 1), s1(sh.state, 1), w1(sh.work, 1);
      const M d1 = d.col(b), p1 = prev.col(b);
      m->forward(d1, p1, o1, s1, w1);
      EXPECT_EQ(o1, M(out.col(b))) << "ln " << ln << " column " << b;
      EXPECT_EQ(s1, M(state.col(b)));
      EXPECT_EQ(w1, M(work.col(b)));
      M din1(n, 1), dprev1 = M::Zero(sh.state, 1);
      const M dout1 = dout.col(b), dstate1 = dstate.col(b);
      m->vjp({d1, p1, o1, s1, w1}, dout1, dstate1, din1, dprev1);
      EXPECT_LT((din1 - din.col(b)).norm(), 1e-13);
      EXPECT_LT((dprev1 + base.col(b) - dprev.col(b)).norm(), 1e-13);
    }
  }
}

// A null previous-state tangent means zero.
TEST(FastWeights, JvpWithoutStateTangent) {
  const int n = 4, K = 3;
  auto m = make_fast_weights(n, {{"inner", "2"}});
  const auto& sh = m->shape();
  std::mt19937_64 rng(8);
  const M prev = warm_up(*m, 1, 3, rng);
  const M d = random_matrix(n, 1, rng);
  M out(n, 1), state(sh.state, 1), work(sh.work, 1);
  m->forward(d, prev, out, state, work);
  const M tin = random_matrix(n, K, rng), zero = M::Zero(sh.state, K);
  M tout1(n, K), tstate1(sh.state, K), tout2(n, K), tstate2(sh.state, K);
  const ModuleValues<double> v{d, prev, out, state, work};
  m->jvp(v, tin, nullptr, tout1, tstate1);
  const ConstMatRef<double> zero_ref(zero);
  m->jvp(v, tin, &zero_ref, tout2, tstate2);
  EXPECT_LT((tout1 - tout2).norm(), 1e-14);
  EXPECT_LT((tstate1 - tstate2).norm(), 1e-14);
  EXPECT_TRUE(tstate1.bottomRows(n * n).isZero(0));
}

// In a model, lambda = eta = 0 without layer norm makes a fast-weights layer with a delay-1 projection into its
// own drive an Elman network: with the same weights, the same outputs and the same BPTT gradient as a tanh
// population.
TEST(FastWeightsGraph, NoFastWeightsIsAnElmanNetwork) {
  const std::string head = "x [kind=input size=3]; y [kind=output size=2 loss=softmax_xent];";
  const ModelGraph elman = parse_model(
      "digraph e { " + head + " h [kind=tanh size=5]; x -> h; h -> h [delay=1]; h -> y; }", "elman.dot");
  for (int inner : {0, 2}) {
    const ModelGraph fast = parse_model(
        fmt::format("digraph f {{ {} h [kind=fast_weights size=5 lambda=0 eta=0 layer_norm=0 activation=tanh "
                    "inner={}]; x -> h [port=drive]; h -> h [delay=1 port=drive]; h -> y; }}",
                    head, inner),
        "fast.dot");
    Program<double> pe(elman), pf(fast);
    std::mt19937_64 rng(11);
    pe.init_params(rng);
    // Nonzero biases, so the bias path is compared too.
    for (const auto& b : pe.param_blocks())
      if (b.is_bias) pe.params().segment(b.offset, b.size) = random_matrix(b.size, 1, rng);
    // The same parameters block for block (both list biases and weights in the same order).
    ASSERT_EQ(pe.param_blocks().size(), pf.param_blocks().size());
    for (size_t k = 0; k < pe.param_blocks().size(); ++k) {
      const auto &a = pe.param_blocks()[k], &b = pf.param_blocks()[k];
      ASSERT_EQ(a.size, b.size) << a.name << " / " << b.name;
      ASSERT_EQ(a.is_bias, b.is_bias) << a.name << " / " << b.name;
      pf.params().segment(b.offset, b.size) = pe.params().segment(a.offset, a.size);
    }

    const int B = 3, T = 6;
    std::vector<Mat<double>> xs, targets;
    const Mat<double> mask = Mat<double>::Ones(1, B);
    for (int t = 0; t < T; ++t) {
      xs.push_back(random_matrix(3, B, rng));
      Mat<double> target = Mat<double>::Zero(2, B);
      for (int b = 0; b < B; ++b) target((t + b) % 2, b) = 1;
      targets.push_back(target);
    }
    // Outputs along the sequence.
    Frame<double> fe = pe.make_frame(B), ff = pf.make_frame(B);
    Mat<double> se = pe.zero_state(B), sf = pf.zero_state(B), ye, yf;
    for (int t = 0; t < T; ++t) {
      pe.forward(se, xs[t], fe);
      pf.forward(sf, xs[t], ff);
      pe.outputs(fe, ye);
      pf.outputs(ff, yf);
      EXPECT_LT((ye - yf).norm(), 1e-13) << "inner " << inner << " step " << t;
      se = fe.s;
      sf = ff.s;
    }
    // BPTT gradients.
    auto gradient = [&](Program<double>& prog) {
      auto algo = make_algorithm<double>("bptt", {}, prog);
      algo->reset(B);
      Vec<double> g = Vec<double>::Zero(prog.param_count());
      for (int t = 0; t < T; ++t) algo->step(xs[t], targets[t], mask, g);
      algo->end_chunk(true, g);
      return g;
    };
    const Vec<double> ge = gradient(pe), gf = gradient(pf);
    EXPECT_GT(ge.norm(), 0);
    EXPECT_LT((ge - gf).norm(), 1e-12 * ge.norm()) << "inner " << inner;
  }
}

TEST(FastWeights, OptionsAreRangeChecked) {
  EXPECT_ANY_THROW(make_fast_weights(4, {{"lambda", "1.5"}}));
  EXPECT_ANY_THROW(make_fast_weights(4, {{"lambda", "-0.1"}}));
  EXPECT_ANY_THROW(make_fast_weights(4, {{"eta", "-1"}}));
  EXPECT_ANY_THROW(make_fast_weights(4, {{"inner", "11"}}));
  EXPECT_ANY_THROW(make_fast_weights(4, {{"inner", "1.5"}}));
  EXPECT_ANY_THROW(make_fast_weights(4, {{"layer_norm", "2"}}));
  EXPECT_ANY_THROW(make_fast_weights(4, {{"activation", "sigmoid"}}));
  EXPECT_ANY_THROW(make_fast_weights(4, {{"gain", "1"}}));
  EXPECT_NO_THROW(make_fast_weights(4, {{"lambda", "1"}, {"eta", "0"}, {"inner", "10"}, {"layer_norm", "0"}}));
}

}  // namespace
}  // namespace credo
