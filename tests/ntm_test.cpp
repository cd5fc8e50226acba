// The ntm memory module on its own: VJP and JVP against finite differences (first step, a written memory, an
// arbitrary state), finite values for extreme controls, erase and write-then-read on a one-hot slot, option
// checks; and models/ntm_copy.dot on the bit_copy task.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/graph.h"
#include "framework/module.h"
#include "framework/module_check.h"
#include "framework/program.h"
#include "framework/task.h"

namespace credo {
namespace {

template <class T = double>
std::unique_ptr<Module<T>> make_ntm(int width, const std::map<std::string, std::string>& given) {
  const auto& entry = PopulationRegistry::get().find("ntm", "population kind");
  const Options o("ntm test", entry.options, given);
  if constexpr (std::is_same_v<T, double>) return entry.make.module_double(width, o);
  else return entry.make.module_float(width, o);
}

TEST(Ntm, Shape) {
  const int N = 6, W = 4, R = 2, S = 3;
  auto m = make_ntm(W, {{"slots", "6"}, {"reads", "2"}, {"shifts", "3"}});
  const auto& sh = m->shape();
  EXPECT_EQ(sh.out, R * W);
  EXPECT_EQ(sh.state, N * W + (R + 1) * N);
  ASSERT_EQ(sh.ports.size(), 2u);
  EXPECT_EQ(sh.ports[0].name, "read");
  EXPECT_EQ(sh.ports[0].size, R * (W + 1 + 1 + S + 1));
  EXPECT_EQ(sh.ports[1].name, "write");
  EXPECT_EQ(sh.ports[1].size, 3 * W + 3 + S);
  ASSERT_EQ(sh.memory_rows.size(), 1u);
  EXPECT_EQ(sh.memory_rows[0], std::make_pair(0, N * W));
}

TEST(Ntm, RejectsBadShifts) {
  EXPECT_THROW(make_ntm(4, {{"slots", "8"}, {"shifts", "2"}}), InputError);
  EXPECT_THROW(make_ntm(4, {{"slots", "4"}, {"shifts", "5"}}), InputError);
  EXPECT_THROW(make_ntm(4, {{"slots", "1"}}), InputError);
  EXPECT_THROW(make_ntm(4, {{"reads", "0"}}), InputError);
  EXPECT_NO_THROW(make_ntm(4, {{"slots", "5"}, {"shifts", "5"}}));
}

// vjp writes the input's cotangent and adds into the previous state's (several consumers share it); columns of
// a batch are independent.
TEST(Ntm, VjpAddsIntoThePreviousStateCotangent) {
  auto m = make_ntm(3, {{"slots", "5"}, {"reads", "2"}});
  const auto& sh = m->shape();
  const int B = 3;
  std::mt19937_64 rng(9);
  std::normal_distribution<double> normal(0, 1);
  auto random = [&](int rows, int cols) {
    Mat<double> x(rows, cols);
    for (auto& v : x.reshaped()) v = normal(rng);
    return x;
  };
  Mat<double> in = random(sh.in_rows(), B), sp = 0.3 * random(sh.state, B), out(sh.out, B), st(sh.state, B),
              work(sh.work, B);
  m->forward(in, sp, out, st, work);
  const Mat<double> dout = random(sh.out, B), dst = random(sh.state, B), before = random(sh.state, B);
  Mat<double> din(sh.in_rows(), B), din2 = Mat<double>::Constant(sh.in_rows(), B, 7.0);
  Mat<double> from_zero = Mat<double>::Zero(sh.state, B), added = before;
  m->vjp({in, sp, out, st, work}, dout, dst, din, from_zero);
  m->vjp({in, sp, out, st, work}, dout, dst, din2, added);
  EXPECT_LT((added - before - from_zero).norm(), 1e-12 * from_zero.norm());
  EXPECT_EQ(din, din2);
  // One column alone gives that column's cotangents.
  Mat<double> din1(sh.in_rows(), 1), dsp1 = Mat<double>::Zero(sh.state, 1);
  m->vjp({in.col(1), sp.col(1), out.col(1), st.col(1), work.col(1)}, dout.col(1), dst.col(1), din1, dsp1);
  EXPECT_LT((din1 - din.col(1)).norm(), 1e-12 * din.col(1).norm());
  EXPECT_LT((dsp1 - from_zero.col(1)).norm(), 1e-12 * from_zero.col(1).norm());
}

struct GradCase {
  int reads, slots, width, shifts;
};

TEST(Ntm, VjpAndJvpMatchFiniteDifferences) {
  for (const GradCase c : {GradCase{1, 3, 2, 3}, GradCase{1, 8, 4, 3}, GradCase{2, 5, 3, 3}, GradCase{2, 12, 4, 3},
                           GradCase{1, 7, 3, 1}, GradCase{2, 9, 3, 5}}) {
    for (const int warmup : {0, 1, 6}) {
      for (const std::uint64_t seed : {1, 2}) {
        auto m = make_ntm(c.width, {{"slots", std::to_string(c.slots)},
                                    {"reads", std::to_string(c.reads)},
                                    {"shifts", std::to_string(c.shifts)}});
        const auto r = check_module(*m, warmup, seed);
        SCOPED_TRACE(testing::Message() << "reads=" << c.reads << " slots=" << c.slots << " width=" << c.width
                                        << " shifts=" << c.shifts << " warmup=" << warmup << " seed=" << seed);
        EXPECT_LT(r.jvp_error, 1e-6);
        EXPECT_LT(r.vjp_error, 1e-6);
      }
    }
  }
}

// The Jacobian of one step, d[out; state] / d[in; state_prev], three ways: central finite differences,
// jvp() with identity tangents and vjp() with identity cotangents; after `warmup` random steps from the zero
// state, then (state_scale > 0) at a random state with entries N(0, state_scale²) instead.
struct Jacobians {
  Mat<double> fd, jvp, vjp;
};
Jacobians jacobians(Module<double>& m, int warmup, std::uint64_t seed, double in_scale, double eps,
                    double state_scale = 0) {
  using M = Mat<double>;
  const auto& sh = m.shape();
  const int R = sh.in_rows(), S = sh.state, O = sh.out;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, in_scale);
  auto random = [&] {
    M x(R, 1);
    for (auto& v : x.reshaped()) v = normal(rng);
    return x;
  };
  M state = M::Zero(S, 1), out(O, 1), next(S, 1), work(sh.work, 1);
  for (int t = 0; t < warmup; ++t) {
    m.forward(random(), state, out, next, work);
    state = next;
  }
  std::normal_distribution<double> any_state(0.0, state_scale > 0 ? state_scale : 1.0);
  if (state_scale > 0)
    for (auto& v : state.reshaped()) v = any_state(rng);
  const M in = random(), sp = state;
  Jacobians j{M(O + S, R + S), M(O + S, R + S), M(O + S, R + S)};
  M o1(O, 1), s1(S, 1), o2(O, 1), s2(S, 1);
  for (int c = 0; c < R + S; ++c) {
    M i1 = in, i2 = in, p1 = sp, p2 = sp;
    if (c < R) i1(c) += eps, i2(c) -= eps;
    else p1(c - R) += eps, p2(c - R) -= eps;
    m.forward(i1, p1, o1, s1, work);
    m.forward(i2, p2, o2, s2, work);
    j.fd.col(c) << (o1 - o2) / (2 * eps), (s1 - s2) / (2 * eps);
  }
  m.forward(in, sp, out, next, work);
  const ModuleValues<double> v{in, sp, out, next, work};
  M tin = M::Zero(R, R + S), tsp = M::Zero(S, R + S), tout(O, R + S), tst(S, R + S);
  tin.leftCols(R).setIdentity();
  tsp.rightCols(S).setIdentity();
  const ConstMatRef<double> tsp_ref(tsp);
  m.jvp(v, tin, &tsp_ref, tout, tst);
  j.jvp << tout, tst;
  const int rows = O + S;
  M dout = M::Zero(O, rows), dst = M::Zero(S, rows), din(R, rows), dsp = M::Zero(S, rows);
  dout.leftCols(O).setIdentity();
  dst.rightCols(S).setIdentity();
  const M inB = in.replicate(1, rows), spB = sp.replicate(1, rows), oB = out.replicate(1, rows),
          sB = next.replicate(1, rows), wB = work.replicate(1, rows);
  m.vjp({inB, spB, oB, sB, wB}, dout, dst, din, dsp);
  j.vjp << din.transpose(), dsp.transpose();
  return j;
}

// check_module's error is over the whole Jacobian, where the memory's near-identity carry dominates. Here
// each block of inputs (every control of every head, the memory, each previous weighting) is held to the same
// bound on its own (relative to the block, or to 1e-3 of the whole Jacobian for a block that barely moves the
// step, as credo's gradient check does), and must move the step: no control is silently disconnected.
TEST(Ntm, EveryInputBlockMatchesFiniteDifferences) {
  const int W = 3, S = 3, C = W + S + 3;
  for (const int reads : {1, 2}) {
    auto m = make_ntm(W, {{"slots", "7"}, {"reads", std::to_string(reads)}});
    const int N = 7;
    struct Block {
      std::string name;
      int first, cols;
    };
    std::vector<Block> blocks;
    const int R = m->shape().in_rows();
    for (int h = 0; h <= reads; ++h) {
      const std::string head = h < reads ? "read " + std::to_string(h) : "write";
      blocks.push_back({head + " key", h * C, W});
      blocks.push_back({head + " strength", h * C + W, 1});
      blocks.push_back({head + " gate", h * C + W + 1, 1});
      blocks.push_back({head + " shift", h * C + W + 2, S});
      blocks.push_back({head + " sharpening", h * C + W + 2 + S, 1});
    }
    blocks.push_back({"erase", (reads + 1) * C, W});
    blocks.push_back({"add", (reads + 1) * C + W, W});
    blocks.push_back({"memory", R, N * W});
    for (int h = 0; h <= reads; ++h) blocks.push_back({"weighting " + std::to_string(h), R + N * W + h * N, N});
    for (const int warmup : {0, 1, 6}) {
      for (const std::uint64_t seed : {1, 2, 3}) {
        const auto j = jacobians(*m, warmup, seed, 1.0, 1e-6);
        for (const auto& b : blocks) {
          SCOPED_TRACE(testing::Message() << "reads=" << reads << " warmup=" << warmup << " seed=" << seed << ": "
                                          << b.name);
          const auto fd = j.fd.middleCols(b.first, b.cols);
          // From the zero state every slot holds the same constant: content addressing by the write head is
          // uniform whatever its key and strength. And every head starts one-hot (carried sqrt(w) = e_0),
          // where w = u² / Σ u² is flat to first order in u. Those blocks are exactly zero there.
          const bool flat = warmup == 0 && (b.name == "write key" || b.name == "write strength" ||
                                            b.name.rfind("weighting", 0) == 0);
          if (flat) EXPECT_EQ(fd.norm(), 0);
          else EXPECT_GT(fd.norm(), 0);
          const double scale = std::max(fd.norm(), 1e-3 * j.fd.norm());
          EXPECT_LT((j.jvp.middleCols(b.first, b.cols) - fd).norm() / scale, 1e-6);
          EXPECT_LT((j.vjp.middleCols(b.first, b.cols) - fd).norm() / scale, 1e-6);
        }
      }
    }
  }
}

// Gradient checks of whole models draw the carried state at random, which no step produces: a memory of any
// content and arbitrary logits for the previous weightings. The step is smooth there too.
TEST(Ntm, VjpAndJvpMatchFiniteDifferencesAtArbitraryStates) {
  for (const int reads : {1, 2}) {
    auto m = make_ntm(3, {{"slots", "9"}, {"reads", std::to_string(reads)}});
    for (const double scale : {0.5, 3.0}) {
      for (const std::uint64_t seed : {1, 2, 3, 4}) {
        const auto j = jacobians(*m, 0, seed, 1.0, 1e-6, scale);
        SCOPED_TRACE(testing::Message() << "reads=" << reads << " state scale=" << scale << " seed=" << seed);
        EXPECT_LT((j.jvp - j.fd).norm() / j.fd.norm(), 1e-6);
        EXPECT_LT((j.vjp - j.fd).norm() / j.fd.norm(), 1e-6);
      }
    }
  }
}

// Larger controls sharpen the weightings (β, γ up to ~5): the derivatives still agree.
TEST(Ntm, VjpAndJvpMatchFiniteDifferencesWithSharpAddressing) {
  for (const int reads : {1, 2}) {
    auto m = make_ntm(3, {{"slots", "6"}, {"reads", std::to_string(reads)}});
    const auto r = check_module(*m, 5, 7, 3.0);
    EXPECT_LT(r.jvp_error, 1e-6) << "reads=" << reads;
    EXPECT_LT(r.vjp_error, 1e-6) << "reads=" << reads;
  }
}

// A memory offset from a nonzero constant: the same checks.
TEST(Ntm, VjpAndJvpMatchFiniteDifferencesFromAnotherInit) {
  auto m = make_ntm(3, {{"slots", "5"}, {"reads", "2"}, {"init", "0.3"}});
  for (const int warmup : {0, 4}) {
    const auto r = check_module(*m, warmup, 3);
    EXPECT_LT(r.jvp_error, 1e-6) << "warmup=" << warmup;
    EXPECT_LT(r.vjp_error, 1e-6) << "warmup=" << warmup;
  }
}

// Forward, VJP and JVP stay finite when every control sits at ±50 (saturated gates, β and γ ≈ 50), step
// after step, from the zero state, in double and in float.
template <class T>
void expect_finite_under_extreme_controls() {
  using M = Mat<T>;
  for (const int reads : {1, 2}) {
    auto m = make_ntm<T>(5, {{"slots", "16"}, {"reads", std::to_string(reads)}});
    const auto& sh = m->shape();
    const int R = sh.in_rows(), S = sh.state, O = sh.out, B = 3, K = 4;
    std::mt19937_64 rng(11);
    std::bernoulli_distribution coin(0.5);
    std::normal_distribution<double> normal(0, 1);
    M state = M::Zero(S, B), out(O, B), next(S, B), work(sh.work, B), in(R, B);
    for (int t = 0; t < 30; ++t) {
      // Mostly ±50, some steps all +50 or all −50.
      for (auto& v : in.reshaped()) v = T(t % 5 == 3 ? 50 : t % 5 == 4 ? -50 : coin(rng) ? 50 : -50);
      m->forward(in, state, out, next, work);
      ASSERT_TRUE(out.allFinite()) << "step " << t;
      ASSERT_TRUE(next.allFinite()) << "step " << t;
      ASSERT_TRUE(work.allFinite()) << "step " << t;
      M dout(O, B), dstate(S, B), din(R, B), dprev = M::Zero(S, B);
      for (auto& v : dout.reshaped()) v = T(normal(rng));
      for (auto& v : dstate.reshaped()) v = T(normal(rng));
      const ModuleValues<T> v{in, state, out, next, work};
      m->vjp(v, dout, dstate, din, dprev);
      ASSERT_TRUE(din.allFinite()) << "step " << t;
      ASSERT_TRUE(dprev.allFinite()) << "step " << t;
      const M in0 = in.col(0), sp0 = state.col(0), o0 = out.col(0), s0 = next.col(0), w0 = work.col(0);
      const ModuleValues<T> v0{in0, sp0, o0, s0, w0};
      M tin(R, K), tsp(S, K), tout(O, K), tst(S, K);
      for (auto& x : tin.reshaped()) x = T(normal(rng));
      for (auto& x : tsp.reshaped()) x = T(normal(rng));
      const ConstMatRef<T> tsp_ref(tsp);
      m->jvp(v0, tin, &tsp_ref, tout, tst);
      ASSERT_TRUE(tout.allFinite()) << "step " << t;
      ASSERT_TRUE(tst.allFinite()) << "step " << t;
      state = next;
    }
  }
}

TEST(Ntm, FiniteUnderExtremeControls) {
  expect_finite_under_extreme_controls<double>();
  expect_finite_under_extreme_controls<float>();
}

// Controls that address slot j by location alone: ignore content (ĝ = −50: w_g = w_prev), no shift, sharpen
// hard. With w_prev one-hot on j the weighting stays one-hot on j.
class OneHot : public ::testing::Test {
 protected:
  static constexpr int N = 6, W = 4, Sh = 3, C = W + Sh + 3;
  void SetUp() override {
    m = make_ntm(W, {{"slots", "6"}, {"reads", "1"}, {"init", "0.25"}});
    const auto& sh = m->shape();
    in = Mat<double>::Zero(sh.in_rows(), 1);
    state_prev = Mat<double>::Zero(sh.state, 1);
    out.resize(sh.out, 1);
    state.resize(sh.state, 1);
    work.resize(sh.work, 1);
    for (const int h : {0, 1}) {
      double* c = in.data() + h * C;
      for (int i = 0; i < W; ++i) c[i] = 0.3 * (i + 1);  // any key: content is gated out
      c[W] = 1.0;                                       // β̂
      c[W + 1] = -50;                                   // ĝ: g ≈ 0
      for (int q = 0; q < Sh; ++q) c[W + 2 + q] = q == Sh / 2 ? 50 : -50;
      c[W + 2 + Sh] = 50;  // γ̂: γ ≈ 51
    }
    // A memory already holding something.
    std::mt19937_64 rng(5);
    std::normal_distribution<double> normal(0, 1);
    for (int i = 0; i < N * W; ++i) state_prev(i) = normal(rng);
  }
  // Head h (0 read, 1 write) was on slot j: the state carries sqrt(w) − e_0.
  void previous_weighting(int h, int j) {
    state_prev.middleRows(N * W + h * N, N).setZero();
    state_prev(N * W + h * N + j) += 1;
    state_prev(N * W + h * N) -= 1;
  }
  double* erase() { return in.data() + 2 * C; }
  double* add() { return in.data() + 2 * C + W; }
  Eigen::Map<Mat<double>> memory() { return {state.data(), N, W}; }
  Eigen::Map<Mat<double>> memory_prev() { return {state_prev.data(), N, W}; }

  static constexpr double init = 0.25;
  std::unique_ptr<Module<double>> m;
  Mat<double> in, state_prev, out, state, work;
};

TEST_F(OneHot, EraseOneClearsTheAddressedRow) {
  const int j = 2;
  previous_weighting(0, 4);
  previous_weighting(1, j);
  for (int i = 0; i < W; ++i) erase()[i] = 50, add()[i] = 0;  // e = 1, a = 0
  m->forward(in, state_prev, out, state, work);
  for (int i = 0; i < N; ++i) {
    for (int k = 0; k < W; ++k) {
      // The memory is init + the carried offset.
      if (i == j) EXPECT_NEAR(init + memory()(i, k), 0.0, 1e-12) << "slot " << i;
      else EXPECT_NEAR(memory()(i, k), memory_prev()(i, k), 1e-12) << "slot " << i;
    }
  }
}

TEST_F(OneHot, ReadOfAFreshlyWrittenSlotReturnsTheWrittenVector) {
  const int j = 5;
  previous_weighting(0, j);
  previous_weighting(1, j);
  Vec<double> a(W);
  for (int i = 0; i < W; ++i) {
    erase()[i] = 50;
    add()[i] = 0.4 * i - 0.7;
    a(i) = std::tanh(add()[i]);
  }
  // The read comes after the write in the same step.
  m->forward(in, state_prev, out, state, work);
  for (int k = 0; k < W; ++k) EXPECT_NEAR(out(k), a(k), 1e-12);
  // And on the next step, with a write that neither erases nor adds (e = 0, a = 0), it is still there.
  state_prev = state;
  for (int i = 0; i < W; ++i) erase()[i] = -50, add()[i] = 0;
  m->forward(in, state_prev, out, state, work);
  for (int k = 0; k < W; ++k) EXPECT_NEAR(out(k), a(k), 1e-12);
}

// The zero state is the memory at its constant: with nothing erased or added, every read returns it, for any
// addressing (every weighting sums to one).
TEST(Ntm, ZeroStateIsTheMemoryAtItsInitialConstant) {
  const int W = 3;
  auto m = make_ntm(W, {{"slots", "5"}, {"reads", "2"}, {"init", "0.125"}});
  const auto& sh = m->shape();
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal(0, 1);
  Mat<double> in(sh.in_rows(), 2), state = Mat<double>::Zero(sh.state, 2), out(sh.out, 2), next(sh.state, 2),
      work(sh.work, 2);
  for (auto& v : in.reshaped()) v = normal(rng);
  const int erase = sh.port_row("write") + W + 3 + 3;
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < W; ++i) in(erase + i, c) = -50, in(erase + W + i, c) = 0;
  m->forward(in, state, out, next, work);
  for (auto v : out.reshaped()) EXPECT_NEAR(v, 0.125, 1e-12);
}

// The heads start on slot 0, not spread uniformly: otherwise a constant memory would be written alike in every
// slot and no addressing could tell the slots apart again. After a few random steps no two slots are equal.
TEST(Ntm, SlotsBecomeDistinguishable) {
  const int N = 6, W = 3;
  auto m = make_ntm(W, {{"slots", "6"}});
  const auto& sh = m->shape();
  std::mt19937_64 rng(4);
  std::normal_distribution<double> normal(0, 1);
  Mat<double> in(sh.in_rows(), 1), state = Mat<double>::Zero(sh.state, 1), out(sh.out, 1), next(sh.state, 1),
      work(sh.work, 1);
  for (int t = 0; t < 4; ++t) {
    for (auto& v : in.reshaped()) v = normal(rng);
    m->forward(in, state, out, next, work);
    state = next;
  }
  const Eigen::Map<const Mat<double>> memory(state.data(), N, W);
  for (int i = 0; i < N; ++i)
    for (int j = i + 1; j < N; ++j) EXPECT_GT((memory.row(i) - memory.row(j)).norm(), 1e-6) << i << ", " << j;
}

// models/ntm_copy.dot fits the bit_copy task as registered, and an episode runs through it (forward, loss and
// BPTT's gradient) in float with finite values.
TEST(Ntm, CopyModelRunsBitCopy) {
  const ModelGraph g = read_model(std::string(CREDO_SOURCE_DIR) + "/models/ntm_copy.dot");
  auto task = make_task("bit_copy", {{"max_length", "5"}}, 1);
  Program<float> prog(g);
  ASSERT_EQ(prog.input_size(), task->input_size());
  ASSERT_EQ(prog.output_size(), task->output_size());
  EXPECT_EQ(g.populations[g.find("y")].attributes.at("loss"), task->loss());
  std::mt19937_64 rng(1);
  prog.init_params(rng);
  auto bptt = make_algorithm<float>("bptt", {}, prog);
  const int B = 2;
  const Episode e = task->sample(B, 0);
  Vec<float> grad = Vec<float>::Zero(prog.param_count());
  bptt->reset(B);
  for (int t = 0; t < e.steps; ++t) {
    const Eigen::Index c = e.col(t, 0);
    bptt->step(e.x.middleCols(c, B).cast<float>(), e.target.middleCols(c, B).cast<float>(),
               e.mask.middleCols(c, B).cast<float>(), grad);
  }
  bptt->end_chunk(true, grad);
  EXPECT_TRUE(grad.allFinite());
  EXPECT_GT(grad.norm(), 0);
}

}  // namespace
}  // namespace credo
