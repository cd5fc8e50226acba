// The Program with memory modules in the graph: a small module written for this test (it mixes units through
// sums and means, keeps a memory and a scalar state, and has an optional port) checked by the extension
// authors' module suite in every graph position, plus the bad-input cases of ports.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "framework/error.h"
#include "framework/module.h"
#include "framework/credit.h"
#include "framework/gradcheck.h"
#include "framework/program.h"
#include "framework/module_check.h"
#include "framework/test_models.h"

namespace credo {
namespace {

// ports a (n, with a bias) and b (2, optional); state: memory m (n) and a scalar s.
//   th = tanh(a), g = 1 + Σ b, m = 0.5 m_prev + g th, s = 0.9 s_prev + mean(m), out = tanh(m + s)
template <class T>
class TestMix final : public Module<T> {
 public:
  TestMix(int n, const Options& o) : n_(n), decay_(static_cast<T>(o.number("decay"))) {
    auto& s = this->shape_;
    s.out = n;
    s.state = n + 1;
    s.work = n + 1;
    s.ports = {{"a", n, true, 0.1, "drive"}, {"b", 2, false, PopulationShape::no_bias, "gain"}};
    s.memory_rows = {{0, n}};
  }
  void forward(const ConstMatRef<T>& in, const ConstMatRef<T>& sp, MatRef<T> out, MatRef<T> st,
               MatRef<T> work) override {
    auto th = work.topRows(n_);
    th = in.topRows(n_).array().tanh();
    work.row(n_) = (in.bottomRows(2).colwise().sum().array() + T(1)).matrix();
    auto m = st.topRows(n_);
    m = decay_ * sp.topRows(n_);
    m.array() += th.array().rowwise() * work.row(n_).array();
    st.row(n_) = T(0.9) * sp.row(n_) + m.colwise().mean();
    out = (m.rowwise() + st.row(n_)).array().tanh();
  }
  void vjp(const ModuleValues<T>& v, const ConstMatRef<T>& dout, const ConstMatRef<T>& dst, MatRef<T> din,
           MatRef<T> dsp) override {
    const auto th = v.work.topRows(n_).array();
    const auto g = v.work.row(n_).array();
    Mat<T> du = dout.array() * (T(1) - v.out.array().square());
    Mat<T> dm = dst.topRows(n_) + du;
    Mat<T> ds = dst.row(n_) + du.colwise().sum();
    dm.rowwise() += ds.row(0) / T(n_);
    dsp.topRows(n_) += decay_ * dm;
    dsp.row(n_) += T(0.9) * ds.row(0);
    din.topRows(n_) = (dm.array().rowwise() * g) * (T(1) - th.square());
    const Mat<T> dg = (dm.array() * th).colwise().sum();
    din.bottomRows(2) = dg.replicate(2, 1);
  }
  void jvp(const ModuleValues<T>& v, const ConstMatRef<T>& tin, const ConstMatRef<T>* tsp, MatRef<T> tout,
           MatRef<T> tst) override {
    const T g = v.work(n_, 0);
    const auto th = v.work.col(0).head(n_).array();
    Mat<T> tm = (tin.topRows(n_).array().colwise() * (g * (T(1) - th.square()))).matrix();
    tm += th.matrix() * tin.bottomRows(2).colwise().sum();
    if (tsp) tm += decay_ * tsp->topRows(n_);
    Mat<T> ts = tm.colwise().mean();
    if (tsp) ts += T(0.9) * tsp->row(n_);
    tst.topRows(n_) = tm;
    tst.row(n_) = ts.row(0);
    tout = ((tm.rowwise() + ts.row(0)).array().colwise() * (T(1) - v.out.col(0).array().square())).matrix();
  }

 private:
  int n_;
  T decay_;
};

CREDO_REGISTER_MODULE("test_mix", TestMix, "a test module that mixes units (tests only)",
                      std::vector<OptionSpec>{{"decay", "0.5", "memory decay", 0, 1, false, {}}});


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

