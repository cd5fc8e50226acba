// The Program and the exact algorithms: finite differences, BPTT, RTRL and TBPTT on every model and on
// random graphs, in double precision.
#include <filesystem>
#include <set>
#include <random>

#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/program.h"
#include "tests/random_graph.h"

namespace credo {
namespace {

void expect_all_ok(const std::vector<CheckRow>& rows) {
  ASSERT_FALSE(rows.empty());
  for (const auto& r : rows) EXPECT_LE(r.error, r.tolerance) << r.check << " / " << r.what;
}

class ModelFiles : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelFiles, GradientsAgreeWithFiniteDifferencesAndBptt) {
  ModelGraph g = read_model(std::string(CREDO_SOURCE_DIR) + "/models/" + GetParam());
  CheckOptions o;
  o.steps = 5;
  expect_all_ok(check_gradients(g, o));
}

INSTANTIATE_TEST_SUITE_P(Models, ModelFiles,
                         ::testing::Values("elman.dot", "leaky.dot", "gru.dot", "lstm.dot", "two_layer.dot",
                                           "recall_rnn.dot", "fast_weights.dot"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('.')); });

class RandomGraphs : public ::testing::TestWithParam<int> {};

TEST_P(RandomGraphs, GradientsAgreeWithFiniteDifferencesAndBptt) {
  const std::string dot = testing::random_model_dot(1000 + GetParam());
  ModelGraph g = parse_model(dot, "random.dot");
  CheckOptions o;
  o.seed = GetParam();
  o.steps = 6;
  SCOPED_TRACE(dot);
  expect_all_ok(check_gradients(g, o));
}

INSTANTIATE_TEST_SUITE_P(Graphs, RandomGraphs, ::testing::Range(0, 24));

TEST(RandomGraphs, CoverDelayTwoSkipsAndEveryKind) {
  int delay2 = 0, kinds = 0;
  std::set<std::string> seen;
  for (int i = 0; i < 24; ++i) {
    ModelGraph g = parse_model(testing::random_model_dot(1000 + i), "random.dot");
    for (const auto& e : g.projections) delay2 += e.delay == 2;
    for (const auto& p : g.populations) seen.insert(p.kind);
  }
  kinds = static_cast<int>(seen.size());
  EXPECT_GT(delay2, 5);
  EXPECT_EQ(kinds, 5);  // input, output, tanh, gru, lstm
}

// Helpers for the truncated-BPTT identities.
struct Fixture {
  std::unique_ptr<Program<double>> prog;
  std::vector<Mat<double>> x, t, m;
};

Fixture make_run(const std::string& model, int steps, int batch, std::uint64_t seed) {
  Fixture r;
  ModelGraph g = read_model(std::string(CREDO_SOURCE_DIR) + "/models/" + model);
  resolve_output_losses(g, "mse", "test");
  r.prog = std::make_unique<Program<double>>(g);
  std::mt19937_64 rng(seed);
  r.prog->init_params(rng);
  std::normal_distribution<double> n(0, 1);
  for (int s = 0; s < steps; ++s) {
    Mat<double> x(r.prog->input_size(), batch), t = Mat<double>::Zero(r.prog->output_size(), batch);
    for (auto& v : x.reshaped()) v = n(rng);
    for (int b = 0; b < batch; ++b) t(std::uniform_int_distribution<int>(0, t.rows() - 1)(rng), b) = 1;
    r.x.push_back(x);
    r.t.push_back(t);
    r.m.push_back(Mat<double>::Ones(1, batch));
  }
  return r;
}

Vec<double> gradient(Fixture& r, const std::string& algo, std::map<std::string, std::string> opts) {
  auto a = make_algorithm<double>(algo, opts, *r.prog);
  a->reset(static_cast<int>(r.x[0].cols()));
  Vec<double> g = Vec<double>::Zero(r.prog->param_count());
  for (size_t s = 0; s < r.x.size(); ++s) a->step(r.x[s], r.t[s], r.m[s], g);
  a->end_chunk(true, g);
  return g;
}

TEST(Tbptt, LongHorizonEqualsBptt) {
  for (const char* model : {"two_layer.dot", "gru.dot"}) {
    Fixture r = make_run(model, 12, 3, 7);
    const Vec<double> bptt = gradient(r, "bptt", {});
    for (const char* k1 : {"1", "4", "5", "12"}) {
      const Vec<double> g = gradient(r, "tbptt", {{"k1", k1}, {"k2", "12"}});
      EXPECT_LE((g - bptt).norm() / bptt.norm(), 1e-12) << model << " k1=" << k1;
    }
  }
}

TEST(Tbptt, OneStepEqualsTheImmediateGradient) {
  Fixture r = make_run("lstm.dot", 8, 2, 3);
  const Vec<double> g = gradient(r, "tbptt", {{"k1", "1"}, {"k2", "1"}});
  // The one-step gradient: each step's loss differentiated with the previous state held fixed.
  Vec<double> expect = Vec<double>::Zero(r.prog->param_count());
  Mat<double> s = r.prog->zero_state(2), dy, ds_prev;
  Frame<double> f = r.prog->make_frame(2);
  for (size_t t = 0; t < r.x.size(); ++t) {
    r.prog->forward(s, r.x[t], f);
    r.prog->loss(f, r.t[t], r.m[t], &dy, 0.5);
    r.prog->vjp(f, s, nullptr, dy, ds_prev, expect);
    s = f.s;
  }
  EXPECT_LE((g - expect).norm() / expect.norm(), 1e-12);
  // And it is not the full gradient: truncation matters on this model.
  const Vec<double> bptt = gradient(r, "bptt", {});
  EXPECT_GT((g - bptt).norm() / bptt.norm(), 1e-3);
}

TEST(Rtrl, OnlineSumEqualsBpttOverAnEpisode) {
  for (const char* model : {"two_layer.dot", "leaky.dot", "lstm.dot"}) {
    Fixture r = make_run(model, 10, 2, 11);
    const Vec<double> bptt = gradient(r, "bptt", {});
    const Vec<double> rtrl = gradient(r, "rtrl", {});
    EXPECT_LE((rtrl - bptt).norm() / bptt.norm(), 1e-9) << model;
  }
}

}  // namespace
}  // namespace credo

namespace credo {
namespace {

TEST(Replay, EqualsBpttAtEveryCheckpointInterval) {
  for (const char* model : {"two_layer.dot", "lstm.dot"}) {
    Fixture r = make_run(model, 12, 3, 5);
    const Vec<double> bptt = gradient(r, "bptt", {});
    for (const char* every : {"1", "3", "5", "12", "40"}) {
      const Vec<double> g = gradient(r, "replay", {{"every", every}});
      EXPECT_LE((g - bptt).norm() / bptt.norm(), 1e-12) << model << " every=" << every;
    }
  }
}

}  // namespace
}  // namespace credo

namespace credo {
namespace {

TEST(Readout, EqualsTheExactGradientOnReadoutParametersAndZeroElsewhere) {
  for (const char* model : {"two_layer.dot", "elman.dot"}) {
    Fixture r = make_run(model, 9, 3, 2);
    const Vec<double> exact = gradient(r, "rtrl", {});
    const Vec<double> g = gradient(r, "readout", {});
    double readout_norm = 0;
    for (const auto& b : r.prog->param_blocks()) {
      const bool out = r.prog->populations()[r.prog->graph().find(b.owner)].role == Role::output;
      const auto gb = g.segment(b.offset, b.size), eb = exact.segment(b.offset, b.size);
      if (out) {
        EXPECT_LE((gb - eb).norm(), 1e-12 * (1 + eb.norm())) << model << " " << b.name;
        readout_norm += gb.norm();
      } else {
        EXPECT_EQ(gb.norm(), 0.0) << model << " " << b.name;
      }
    }
    EXPECT_GT(readout_norm, 0) << model;
  }
}

}  // namespace
}  // namespace credo

#include <sys/resource.h>

#include "framework/error.h"

namespace credo {
namespace {

// A one-layer LSTM with `units` cells, as models/lstm.dot.
ModelGraph lstm_graph(int units) {
  return parse_model(fmt::format(R"(digraph lstm {{ x [kind=input size=6]; h [kind=lstm size={}];
    y [kind=output size=4]; x -> h; h -> h [delay=1]; h -> y; }})", units), "lstm.dot");
}

TEST(GradCheck, LargeModelsNeedMemoryLinearInParameters) {
  // 69636 parameters: a P x P matrix would be 39 GB. The check keeps Γ (N x P) and a few directions.
  ModelGraph g = lstm_graph(128);
  CheckOptions o;
  o.steps = 2;
  o.batch = 1;
  CheckInfo info;
  expect_all_ok(check_gradients(g, o, &info));
  EXPECT_EQ(info.param_count, 69636);
  // Finite differences on a random subset of each block: 64 of each weight matrix and bias vector.
  EXPECT_EQ(info.fd_per_block, CheckOptions::kSampledPerBlock);
  EXPECT_LE(info.fd_param_coordinates, 5 * CheckOptions::kSampledPerBlock);
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  EXPECT_LT(u.ru_maxrss, 2L * 1024 * 1024) << "peak RSS in kB";
}

TEST(GradCheck, SmallModelsGetEveryCoordinateAndSubsetsCanBeAsked) {
  ModelGraph g = lstm_graph(8);
  CheckOptions o;
  CheckInfo info;
  expect_all_ok(check_gradients(g, o, &info));
  EXPECT_EQ(info.fd_per_block, 0);
  EXPECT_EQ(info.fd_param_coordinates, info.param_count);
  o.fd_per_block = 5;
  expect_all_ok(check_gradients(g, o, &info));
  EXPECT_EQ(info.fd_per_block, 5);
  EXPECT_EQ(info.fd_param_coordinates, 4 * 5 + 4);  // W[x -> h], W[h -> h], b[h], W[h -> y]; all 4 of b[y]
}

TEST(GradCheck, BlocksWithTinyGradientsAreScaledByTheWholeGradient) {
  // Random graphs where a block's gradient is ~1e-4 .. 1e-6 of the whole: finite-difference rounding noise
  // (relative to the whole) made them fail a purely per-block relative error.
  for (int i : {167, 367, 391}) {
    const std::string dot = testing::random_model_dot(1000 + i);
    ModelGraph g = parse_model(dot, "random.dot");
    CheckOptions o;
    o.seed = i;
    o.steps = 6;
    SCOPED_TRACE(dot);
    expect_all_ok(check_gradients(g, o));
  }
}

TEST(GradCheck, EverySequenceIsScoredAtItsLastStep) {
  // One step, one sequence: a mask drawn at random (keep 0.7) sometimes scored nothing, and the check
  // failed with "bptt gradient is nonzero".
  ModelGraph g = read_model(std::string(CREDO_SOURCE_DIR) + "/models/elman.dot");
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    CheckOptions o;
    o.steps = 1;
    o.batch = 1;
    o.seed = seed;
    SCOPED_TRACE(seed);
    expect_all_ok(check_gradients(g, o));
  }
}

TEST(GradCheck, SequenceSizesAreBounded) {
  ModelGraph g = read_model(std::string(CREDO_SOURCE_DIR) + "/models/elman.dot");
  for (auto [steps, batch] : {std::pair{100000000, 2}, {6, 100000000}, {0, 2}, {6, 0}, {10000, 1000}}) {
    CheckOptions o;
    o.steps = steps;
    o.batch = batch;
    EXPECT_THROW(check_gradients(g, o), InputError) << steps << " x " << batch;
  }
}

}  // namespace
}  // namespace credo
