// The Program with memory modules in the graph (the test module of tests/test_mix.h; the module suite runs on
// it in extension_test.cpp), the bad-input cases of ports, and sparse attentive backtracking.
#include <cmath>
#include <map>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "framework/error.h"
#include "framework/module.h"
#include "framework/credit.h"
#include "framework/gradcheck.h"
#include "framework/program.h"
#include "framework/module_check.h"
#include "framework/test_models.h"
#include "tests/test_mix.h"

namespace credo {
namespace {

// A planted bug in the VJP of the module (a missing factor) must be caught by the suite's checks.
template <class T>
class BrokenMix final : public Module<T> {
 public:
  BrokenMix(int n, const Options& o) : inner_(n, o) { this->shape_ = inner_.shape(); }
  void forward(const ConstMatRef<T>& in, const ConstMatRef<T>& sp, MatRef<T> out, MatRef<T> st, MatRef<T> w) override {
    inner_.forward(in, sp, out, st, w);
  }
  void vjp(const ModuleValues<T>& v, const ConstMatRef<T>& dout, const ConstMatRef<T>& dst, MatRef<T> din,
           MatRef<T> dsp) override {
    inner_.vjp(v, dout, dst, din, dsp);
    din.topRows(1) *= T(1.01);
  }
  void jvp(const ModuleValues<T>& v, const ConstMatRef<T>& tin, const ConstMatRef<T>* tsp, MatRef<T> tout,
           MatRef<T> tst) override {
    inner_.jvp(v, tin, tsp, tout, tst);
  }

 private:
  TestMix<T> inner_;
};
CREDO_REGISTER_MODULE("test_broken_mix", BrokenMix, "test_mix with a wrong VJP (tests only)",
                      std::vector<OptionSpec>{{"decay", "0.5", "memory decay", 0, 1, false, {}}});

TEST(ModuleProgram, PlantedVjpBugIsCaught) {
  auto m = PopulationRegistry::get().find("test_broken_mix", "kind").make.module_double(3, Options("t", {{"decay", "0.5", "", 0, 1, false, {}}}, {}));
  EXPECT_GT(check_module(*m, 3).vjp_error, 1e-4);
  const auto dot = testing::module_models("kind=test_broken_mix", {"a", "b"})[0];
  const auto rows = check_gradients(parse_model(dot, "t.dot"), {});
  bool caught = false;
  for (const auto& r : rows) caught = caught || !r.ok();
  EXPECT_TRUE(caught);
}

// RTRL carries the module's memory in its influence matrix: equal to BPTT is part of the suite; here the
// state layout itself: the module's state is carried, its memory rows are reported for sab.
TEST(ModuleProgram, StateLayoutAndMemoryRows) {
  const auto g = parse_model(testing::module_models("kind=test_mix", {"a", "b"})[0], "t.dot");
  Program<double> prog(g);
  const int m = g.find("m");
  ASSERT_EQ(prog.first_module(), m);
  const auto& info = prog.populations()[m];
  EXPECT_TRUE(info.module);
  EXPECT_GE(info.module_state_offset, 0);
  ASSERT_EQ(prog.memory_state_rows().size(), 1u);
  EXPECT_EQ(prog.memory_state_rows()[0], std::make_pair(info.module_state_offset, 3));
  // The port with a bias has its own parameter block.
  bool found = false;
  for (const auto& b : prog.param_blocks()) found = found || b.name == "b[m:a]";
  EXPECT_TRUE(found);
}

void expect_load_error(const std::string& dot, const std::string& needle) {
  try {
    parse_model(dot, "bad.dot");
    ADD_FAILURE() << "loaded: " << dot;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ModuleProgram, BadPortsAreRefusedAtLoadNamingNodeEdgeAndPort) {
  const std::string head = "digraph bad { x [kind=input size=2]; m [kind=test_mix size=3]; y [kind=output size=1]; m -> y; ";
  expect_load_error(head + "x -> m [port=zz]; }", "no port 'zz'");
  expect_load_error(head + "x -> m [port=zz]; }", "edge 'x -> m [port=zz]'");
  expect_load_error(head + "x -> m; }", "say which port");
  expect_load_error(head + "x -> m [port=b]; }", "required port 'a'");
  expect_load_error(head + "x -> m [port=a]; x -> y [port=a]; }", "is a population, not a module");
  expect_load_error(head + "x -> m [port=a init=identity]; }", "init=identity needs the port's size");
  expect_load_error("digraph bad { x [kind=input size=2]; m [kind=test_mix size=3 decay=2]; y [kind=output size=1];"
                    " x -> m [port=a]; m -> y; }",
                    "decay");
}

TEST(ModuleProgram, UnitLocalAlgorithmsRefuseModulesNamingThem) {
  const auto g = parse_model(testing::module_models("kind=test_mix", {"a", "b"})[0], "t.dot");
  Program<double> prog(g);
  for (const std::string algo : {"snap", "kf_rtrl", "rflo"}) {
    try {
      make_algorithm<double>(algo, {}, prog);
      ADD_FAILURE() << algo << " accepted a module";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'m'"), std::string::npos) << e.what();
    }
  }
  for (const std::string algo : {"bptt", "tbptt", "rtrl", "uoro", "replay", "readout"})
    EXPECT_NO_THROW(make_algorithm<double>(algo, {}, prog)) << algo;
}

}  // namespace
}  // namespace credo


namespace credo {
namespace {

// A random sequence for the test module's first suite model (input 2, output 2, softmax).
struct Seq {
  std::vector<Mat<double>> x, target, mask;
};
Seq random_seq(int T, int B, std::mt19937_64& rng) {
  std::normal_distribution<double> n(0, 1);
  Seq q;
  for (int t = 0; t < T; ++t) {
    Mat<double> x(2, B), y = Mat<double>::Zero(2, B), m = Mat<double>::Ones(1, B);
    for (auto& v : x.reshaped()) v = n(rng);
    for (int b = 0; b < B; ++b) y((t + b) % 2, b) = 1;
    q.x.push_back(x), q.target.push_back(y), q.mask.push_back(m);
  }
  return q;
}

Vec<double> gradient(Program<double>& prog, const std::string& algo, const std::map<std::string, std::string>& o,
                     const Seq& q) {
  auto a = make_algorithm<double>(algo, o, prog);
  const int B = static_cast<int>(q.x[0].cols());
  a->reset(B);
  Vec<double> g = Vec<double>::Zero(prog.param_count());
  for (size_t t = 0; t < q.x.size(); ++t) a->step(q.x[t], q.target[t], q.mask[t], g);
  a->end_chunk(true, g);
  return g;
}

TEST(Sab, EqualsBpttWhenTheTruncationIsLongerThanTheEpisode) {
  const auto g = parse_model(testing::module_models("kind=test_mix", {"a", "b"})[0], "t.dot");
  Program<double> prog(g);
  std::mt19937_64 rng(5);
  prog.init_params(rng);
  const Seq q = random_seq(9, 2, rng);
  const Vec<double> bptt = gradient(prog, "bptt", {}, q);
  const Vec<double> sab = gradient(prog, "sab", {{"k_trunc", "9"}}, q);
  EXPECT_LE((sab - bptt).norm(), 1e-12 * bptt.norm());
  // A shorter truncation changes the gradient.
  EXPECT_GT((gradient(prog, "sab", {{"k_trunc", "3"}}, q) - bptt).norm(), 1e-3 * bptt.norm());
}

// SAB's reverse sweep is the transpose of forward-mode propagation with the same cut: tangents of s carried
// by the JVP, the non-memory rows zeroed at every truncation point. The directional derivative of the loss
// along random parameter directions computed that way must equal sab's gradient along them.
TEST(Sab, EqualsForwardModeWithTheSameCut) {
  const auto g = parse_model(testing::module_models("kind=test_mix", {"a", "b"})[0], "t.dot");
  Program<double> prog(g);
  std::mt19937_64 rng(6);
  prog.init_params(rng);
  const int T = 10, B = 2, k = 3, K = 3, N = prog.state_size(), P = prog.param_count();
  const Seq q = random_seq(T, B, rng);
  const Vec<double> sab = gradient(prog, "sab", {{"k_trunc", std::to_string(k)}}, q);
  std::normal_distribution<double> n(0, 1);
  Mat<double> dirs(P, K);
  for (auto& v : dirs.reshaped()) v = n(rng);
  const auto keep = prog.memory_state_rows();
  Mat<double> s = prog.zero_state(B), y, dy;
  Frame<double> f = prog.make_frame(B);
  std::vector<Mat<double>> tan(B, Mat<double>::Zero(N, K));
  Mat<double> directional = Mat<double>::Zero(1, K);
  for (int t = 0; t < T; ++t) {
    if (t > 0 && t % k == 0)
      for (auto& ts : tan) {
        Mat<double> kept = Mat<double>::Zero(N, K);
        for (auto [first, rows] : keep) kept.middleRows(first, rows) = ts.middleRows(first, rows);
        ts = kept;
      }
    prog.forward(s, q.x[t], f);
    prog.loss(f, q.target[t], q.mask[t], &dy, 1.0 / B);
    // dL_t = (∂L_t/∂s_{t-1}) ds_{t-1} + (∂L_t/∂θ) dθ, from one VJP.
    Mat<double> ds_prev;
    Vec<double> gth = Vec<double>::Zero(P);
    prog.vjp(f, s, nullptr, dy, ds_prev, gth);
    directional += gth.transpose() * dirs;
    for (int b = 0; b < B; ++b) {
      directional += ds_prev.col(b).transpose() * tan[b];
      Mat<double> next;
      prog.jvp(f, s, b, &tan[b], &dirs, next);
      tan[b] = next;
    }
    s = f.s;
  }
  const Mat<double> expected = sab.transpose() * dirs;
  EXPECT_LE((expected - directional).norm(), 1e-10 * directional.norm()) << expected << "\n" << directional;
}

}  // namespace
}  // namespace credo
