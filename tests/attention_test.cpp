// The attention memory module (memory/attention.cpp): VJP and JVP against finite differences, ring-buffer
// writes and reads against a plain reference implementation, exact top-k sparsity, dependence on the query,
// option checks, the batched products against one column at a time, and SAB's credit through the memory. The
// module suite of framework/testing.h and a recurrent LSTM + attention model's gradient checks are in
// extension_test.cpp (the suite's header is included by one test file of the binary only).
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/graph.h"
#include "framework/module.h"
#include "framework/module_check.h"
#include "framework/program.h"

namespace credo {
namespace {

using Opts = std::map<std::string, std::string>;

template <class T>
std::unique_ptr<Module<T>> make_attention(int size, const Opts& given) {
  const auto& e = PopulationRegistry::get().find("attention", "population kind");
  EXPECT_TRUE(e.make.is_module());
  const Options o("node 'm' in test.dot", e.options, given);
  if constexpr (std::is_same_v<T, float>) return e.make.module_float(size, o);
  else return e.make.module_double(size, o);
}

Mat<double> random(int rows, int cols, std::mt19937_64& rng, double scale = 1.0) {
  std::normal_distribution<double> n(0.0, scale);
  Mat<double> m(rows, cols);
  for (auto& v : m.reshaped()) v = n(rng);
  return m;
}

// Runs `steps` forward steps from the zero state on random inputs; returns the last state.
Mat<double> run(Module<double>& m, int steps, int batch, std::mt19937_64& rng) {
  const auto& sh = m.shape();
  Mat<double> s = Mat<double>::Zero(sh.state, batch), next(sh.state, batch), out(sh.out, batch), work(sh.work, batch);
  for (int t = 0; t < steps; ++t) {
    m.forward(random(sh.in_rows(), batch, rng), s, out, next, work);
    s = next;
  }
  return s;
}

TEST(Attention, ShapeAndPorts) {
  auto m = make_attention<double>(4, {{"slots", "5"}, {"key_size", "3"}});
  const auto& sh = m->shape();
  EXPECT_EQ(sh.out, 4);
  ASSERT_EQ(sh.ports.size(), 3u);
  EXPECT_EQ(sh.ports[0].name, "key");
  EXPECT_EQ(sh.ports[0].size, 3);
  EXPECT_EQ(sh.ports[1].name, "value");
  EXPECT_EQ(sh.ports[1].size, 4);
  EXPECT_EQ(sh.ports[2].name, "query");
  EXPECT_EQ(sh.ports[2].size, 3);
  for (const auto& p : sh.ports) {
    EXPECT_TRUE(p.required);
    EXPECT_TRUE(std::isnan(p.bias_init));
  }
  EXPECT_EQ(sh.state, 5 * 3 + 5 * 4 + 1);
  ASSERT_EQ(sh.memory_rows.size(), 2u);
  EXPECT_EQ(sh.memory_rows[0], std::make_pair(0, 15));
  EXPECT_EQ(sh.memory_rows[1], std::make_pair(15, 20));
  // key_size defaults to the node's size.
  EXPECT_EQ(make_attention<double>(6, {})->shape().ports[0].size, 6);
}

TEST(Attention, OptionsAreRangeChecked) {
  EXPECT_THROW(make_attention<double>(4, {{"slots", "0"}}), InputError);
  EXPECT_THROW(make_attention<double>(4, {{"slots", "100001"}}), InputError);
  EXPECT_THROW(make_attention<double>(4, {{"slots", "2.5"}}), InputError);
  EXPECT_THROW(make_attention<double>(4, {{"every", "0"}}), InputError);
  EXPECT_THROW(make_attention<double>(4, {{"top", "-1"}}), InputError);
  EXPECT_THROW(make_attention<double>(4, {{"key_size", "-2"}}), InputError);
  EXPECT_THROW(make_attention<double>(4, {{"slots", "4"}, {"top", "5"}}), InputError);
  // The step counter must stay exact in float: 2 * slots * every <= 2^24.
  EXPECT_THROW(make_attention<double>(4, {{"slots", "100000"}, {"every", "100"}}), InputError);
  EXPECT_NO_THROW(make_attention<float>(4, {{"slots", "1024"}, {"every", "8192"}}));
  EXPECT_THROW(make_attention<float>(4, {{"slots", "1024"}, {"every", "8193"}}), InputError);
}

// VJP and JVP against central finite differences, in every regime: dense and top-k, storing every step and
// every other step, the buffer partly filled, full, and wrapped around (slots < steps), keys narrower than values.
TEST(Attention, DerivativesMatchFiniteDifferences) {
  int checked = 0;
  for (const char* top : {"0", "1", "2"})
    for (const char* every : {"1", "2", "3"})
      for (const char* slots : {"3", "8"})
        for (int warmup : {0, 1, 2, 4, 7, 12}) {
          auto m = make_attention<double>(4, {{"slots", slots}, {"every", every}, {"top", top}, {"key_size", "3"}});
          const auto r = check_module(*m, warmup, 100 + warmup);
          EXPECT_LT(r.jvp_error, 1e-6) << "top=" << top << " every=" << every << " slots=" << slots
                                       << " warmup=" << warmup;
          EXPECT_LT(r.vjp_error, 1e-6) << "top=" << top << " every=" << every << " slots=" << slots
                                       << " warmup=" << warmup;
          ++checked;
        }
  EXPECT_EQ(checked, 108);
}

// A plain reference: a list of (key, value) slots, filled in order and overwritten oldest-first.
struct Reference {
  int slots, every, top;
  std::vector<Vec<double>> keys, values;
  long step = 0;

  Vec<double> step_once(const Vec<double>& key, const Vec<double>& value, const Vec<double>& query,
                        std::vector<double>* weights = nullptr) {
    if (step % every == 0) {
      const long w = (step / every) % slots;
      if (w == static_cast<long>(keys.size())) keys.push_back(key), values.push_back(value);
      else keys[w] = key, values[w] = value;
    }
    ++step;
    const int n = static_cast<int>(keys.size());
    std::vector<double> s(n), a(n, 0.0);
    for (int j = 0; j < n; ++j) s[j] = keys[j].dot(query) / std::sqrt(double(query.size()));
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int i, int j) { return s[i] > s[j]; });
    const int k = top > 0 ? std::min(top, n) : n;
    double sum = 0;
    for (int i = 0; i < k; ++i) sum += std::exp(s[order[i]]);
    for (int i = 0; i < k; ++i) a[order[i]] = std::exp(s[order[i]]) / sum;
    Vec<double> r = Vec<double>::Zero(values.empty() ? 0 : values[0].size());
    for (int j = 0; j < n; ++j) r += a[j] * values[j];
    if (weights) *weights = a;
    return r;
  }
};

// Forward against the reference over long streams: the write slot, the slots read, the weights and the read,
// every step, with wrap-around of the buffer and of the step counter (period 2 * slots * every).
TEST(Attention, ForwardMatchesReference) {
  for (int top : {0, 1, 3})
    for (int every : {1, 2, 3})
      for (int slots : {1, 4, 7}) {
        if (top > slots) continue;
        SCOPED_TRACE(fmt::format("top={} every={} slots={}", top, every, slots));
        const int dk = 3, dv = 2;
        auto m = make_attention<double>(dv, {{"slots", std::to_string(slots)},
                                             {"every", std::to_string(every)},
                                             {"top", std::to_string(top)},
                                             {"key_size", std::to_string(dk)}});
        Reference ref{slots, every, top, {}, {}};
        std::mt19937_64 rng(7);
        const auto& sh = m->shape();
        Mat<double> s = Mat<double>::Zero(sh.state, 1), next(sh.state, 1), out(dv, 1), work(sh.work, 1);
        const int steps = 4 * slots * every + 5;
        for (int t = 0; t < steps; ++t) {
          const Mat<double> in = random(sh.in_rows(), 1, rng);
          std::vector<double> a;
          const Vec<double> r = ref.step_once(in.col(0).head(dk), in.col(0).segment(dk, dv), in.col(0).tail(dk), &a);
          m->forward(in, s, out, next, work);
          EXPECT_LT((out.col(0) - r).norm(), 1e-12) << "step " << t;
          for (int j = 0; j < slots; ++j)
            EXPECT_NEAR(work(j, 0), j < static_cast<int>(a.size()) ? a[j] : 0.0, 1e-12) << "step " << t << " slot " << j;
          EXPECT_LT(next(sh.state - 1, 0), 2 * slots * every) << "step " << t;
          s = next;
        }
      }
}

// Exactly `top` weights are non-zero once more than `top` slots are filled; they sum to 1 and are the
// `top` highest-scoring slots.
TEST(Attention, TopKIsExactlySparse) {
  const int slots = 10, dk = 4, dv = 3;
  for (int top : {1, 2, 5}) {
    auto m = make_attention<double>(dv, {{"slots", std::to_string(slots)},
                                         {"top", std::to_string(top)},
                                         {"key_size", std::to_string(dk)}});
    std::mt19937_64 rng(top);
    const auto& sh = m->shape();
    const int B = 3;
    Mat<double> s = Mat<double>::Zero(sh.state, B), next(sh.state, B), out(dv, B), work(sh.work, B);
    for (int t = 0; t < 14; ++t) {
      const Mat<double> in = random(sh.in_rows(), B, rng);
      m->forward(in, s, out, next, work);
      const int n = std::min(t + 1, slots);
      for (int b = 0; b < B; ++b) {
        const auto a = work.col(b).head(slots);
        int nonzero = 0;
        double sum = 0;
        for (int j = 0; j < slots; ++j) nonzero += a(j) != 0.0, sum += a(j);
        EXPECT_EQ(nonzero, std::min(top, n)) << "top=" << top << " step " << t;
        EXPECT_NEAR(sum, 1.0, 1e-12);
        // Every selected slot scores at least as high as every slot left out.
        Eigen::Map<const Mat<double>> keys(next.col(b).data(), dk, slots);
        const Vec<double> score = keys.leftCols(n).transpose() * in.col(b).tail(dk);
        double lowest_in = INFINITY, highest_out = -INFINITY;
        for (int j = 0; j < n; ++j) {
          if (a(j) != 0.0) lowest_in = std::min(lowest_in, score(j));
          else highest_out = std::max(highest_out, score(j));
        }
        EXPECT_GT(lowest_in, highest_out);
      }
      s = next;
    }
  }
}

// Slots not written yet are never attended, even when their (zero) keys would score highest.
TEST(Attention, UnwrittenSlotsGetZeroWeight) {
  for (const char* every : {"1", "2"}) {
    auto m = make_attention<double>(2, {{"slots", "6"}, {"every", every}, {"key_size", "2"}});
    const auto& sh = m->shape();
    Mat<double> s = Mat<double>::Zero(sh.state, 1), next(sh.state, 1), out(2, 1), work(sh.work, 1);
    for (int t = 0; t < 4; ++t) {
      // Keys (1, 1), query (-1, -1): every written slot scores -1 / sqrt(2), below an empty slot's 0.
      Mat<double> in(6, 1);
      in << 1, 1, 10 + t, 20 + t, -1, -1;
      m->forward(in, s, out, next, work);
      const int n = t / std::stoi(every) + 1;
      for (int j = 0; j < 6; ++j) {
        if (j < n) EXPECT_NEAR(work(j, 0), 1.0 / n, 1e-12) << "step " << t;
        else EXPECT_EQ(work(j, 0), 0.0) << "step " << t << " slot " << j;
      }
      s = next;
    }
  }
}

// Which slot is read depends on the query: with orthogonal keys and top = 1, query e_j reads value j exactly,
// and dense reads move with the query too.
TEST(Attention, ReadDependsOnTheQuery) {
  const int stored = 4;
  for (const char* top : {"1", "0"}) {
    auto m = make_attention<double>(2, {{"slots", "5"}, {"top", top}, {"key_size", "4"}});
    const auto& sh = m->shape();
    Mat<double> s = Mat<double>::Zero(sh.state, 1), next(sh.state, 1), out(2, 1), work(sh.work, 1);
    for (int j = 0; j < stored; ++j) {
      Mat<double> in = Mat<double>::Zero(10, 1);
      in(j, 0) = 1;          // key e_j
      in(4, 0) = 10.0 * j;   // value (10 j, -j)
      in(5, 0) = -j;
      m->forward(in, s, out, next, work);
      s = next;
    }
    // Each read also stores its own pair into slot 4: key 0 (scores 0, below the matching slot's 4), value 0.
    Mat<double> reads(2, stored);
    for (int j = 0; j < stored; ++j) {
      Mat<double> in = Mat<double>::Zero(10, 1);
      in(6 + j, 0) = 8;  // query 8 e_j
      m->forward(in, s, out, next, work);
      reads.col(j) = out;
      if (std::string(top) == "1") {
        EXPECT_EQ(work(j, 0), 1.0) << "query e_" << j;
        EXPECT_EQ(reads(0, j), 10.0 * j);
        EXPECT_EQ(reads(1, j), -j);
      } else {
        EXPECT_GT(work(j, 0), 0.9) << "query e_" << j;
      }
    }
    for (int j = 1; j < stored; ++j) EXPECT_GT((reads.col(j) - reads.col(0)).norm(), 1.0) << "query e_" << j;
  }
}

// Sparse attentive backtracking carries the cotangent of the declared memory rows across its truncation
// points. When the attention memory is the model's only recurrence, every row with a nonzero derivative is
// declared (keys and values; the counter has none), so SAB cut at every step still gives BPTT's gradient,
// while truncated BPTT cut at every step loses the credit that flows through the memory.
TEST(Attention, SabCarriesCreditThroughTheMemory) {
  const ModelGraph g = parse_model(
      "digraph t { x [kind=input size=3]; m [kind=attention size=3 slots=4 every=2 top=2 key_size=2]; "
      "y [kind=output size=3 loss=softmax_xent]; x -> m [port=key]; x -> m [port=value]; x -> m [port=query]; "
      "m -> y; }",
      "t.dot");
  Program<double> prog(g);
  std::mt19937_64 rng(9);
  prog.init_params(rng);
  const int T = 11, B = 2;
  std::vector<Mat<double>> xs, targets;
  for (int t = 0; t < T; ++t) {
    xs.push_back(random(3, B, rng));
    Mat<double> y = Mat<double>::Zero(3, B);
    for (int b = 0; b < B; ++b) y((t + b) % 3, b) = 1;
    targets.push_back(y);
  }
  const Mat<double> mask = Mat<double>::Ones(1, B);
  auto gradient = [&](const std::string& algo, const Opts& o) {
    auto a = make_algorithm<double>(algo, o, prog);
    a->reset(B);
    Vec<double> grad = Vec<double>::Zero(prog.param_count());
    for (int t = 0; t < T; ++t) a->step(xs[t], targets[t], mask, grad);
    a->end_chunk(true, grad);
    return grad;
  };
  const Vec<double> bptt = gradient("bptt", {});
  EXPECT_LE((gradient("sab", {{"k_trunc", "1"}}) - bptt).norm(), 1e-12 * bptt.norm());
  EXPECT_GT((gradient("tbptt", {{"k1", "1"}, {"k2", "1"}}) - bptt).norm(), 1e-2 * bptt.norm());
}

// The model file: LSTM 64 with attention, for delayed recall of 8 values, builds and runs a BPTT episode.
TEST(Attention, ModelFileTrainsOneEpisode) {
  ModelGraph g = read_model(std::string(CREDO_SOURCE_DIR) + "/models/lstm_attention.dot");
  resolve_output_losses(g, "softmax_xent", "test");
  Program<float> prog(g);
  EXPECT_EQ(prog.input_size(), 10);
  EXPECT_EQ(prog.output_size(), 8);
  std::mt19937_64 rng(1);
  prog.init_params(rng);
  auto algo = make_algorithm<float>("bptt", {}, prog);
  const int B = 2;
  Mat<float> x = Mat<float>::Zero(10, B), target = Mat<float>::Zero(8, B), mask = Mat<float>::Ones(1, B);
  target.row(3).setOnes();
  Vec<float> grad = Vec<float>::Zero(prog.param_count());
  algo->reset(B);
  for (int t = 0; t < 5; ++t) {
    x.setZero();
    x(t % 10, 0) = x((t + 3) % 10, 1) = 1;
    algo->step(x, target, mask, grad);
  }
  algo->end_chunk(true, grad);
  EXPECT_TRUE(grad.allFinite());
  EXPECT_GT(grad.norm(), 0);
}

// The value stored this step can be read this step (the read follows the write).
TEST(Attention, ReadsTheValueWrittenThisStep) {
  auto m = make_attention<double>(1, {{"slots", "3"}, {"top", "1"}, {"key_size", "2"}});
  const auto& sh = m->shape();
  Mat<double> s = Mat<double>::Zero(sh.state, 1), next(sh.state, 1), out(1, 1), work(sh.work, 1);
  for (int t = 0; t < 7; ++t) {
    Mat<double> in(5, 1);
    const double angle = 0.7 * t;
    in << std::cos(angle), std::sin(angle), 100 + t, std::cos(angle), std::sin(angle);
    m->forward(in, s, out, next, work);
    EXPECT_EQ(out(0, 0), 100 + t) << "step " << t;
    s = next;
  }
}

// Scores far beyond exp's range (softmax shifted by its largest score) still give finite, exact reads, in
// float as in double: the best-scoring slot takes all the weight.
template <class T>
void expect_large_scores_finite(const char* top) {
  auto m = make_attention<T>(1, {{"slots", "4"}, {"top", top}, {"key_size", "1"}});
  const auto& sh = m->shape();
  Mat<T> s = Mat<T>::Zero(sh.state, 1), prev = s, next(sh.state, 1), out(1, 1), work(sh.work, 1), in(3, 1);
  for (int t = 0; t < 3; ++t) {
    in << T(100 * (t + 1)), T(t), T(100);  // scores 10^4 (t + 1)
    prev = s;
    m->forward(in, prev, out, next, work);
    s = next;
  }
  EXPECT_EQ(out(0, 0), T(2)) << "top=" << top;
  EXPECT_EQ(work(2, 0), T(1)) << "top=" << top;
  Mat<T> dout = Mat<T>::Ones(1, 1), din(3, 1), dsp = Mat<T>::Zero(sh.state, 1);
  const Mat<T> dst = Mat<T>::Ones(sh.state, 1);
  m->vjp({in, prev, out, next, work}, dout, dst, din, dsp);
  EXPECT_TRUE(din.allFinite() && dsp.allFinite()) << "top=" << top;
}

TEST(Attention, LargeScoresStayFinite) {
  for (const char* top : {"0", "2"}) {
    expect_large_scores_finite<double>(top);
    expect_large_scores_finite<float>(top);
  }
}

// Batched forward and VJP equal their single-column results when columns are at different steps (some
// writing, some not, some wrapped), and the VJP adds into dstate_prev rather than overwriting it.
TEST(Attention, BatchedEqualsPerColumnAndVjpAccumulates) {
  for (const char* top : {"0", "2"}) {
    auto m = make_attention<double>(3, {{"slots", "4"}, {"every", "2"}, {"top", top}, {"key_size", "2"}});
    const auto& sh = m->shape();
    const int R = sh.in_rows(), S = sh.state, O = sh.out, W = sh.work;
    std::mt19937_64 rng(11);
    const std::vector<int> ages = {0, 1, 2, 5, 8, 13};
    const int B = static_cast<int>(ages.size());
    Mat<double> sp(S, B);
    for (int b = 0; b < B; ++b) sp.col(b) = run(*m, ages[b], 1, rng);
    const Mat<double> in = random(R, B, rng), dout = random(O, B, rng), dst = random(S, B, rng);
    Mat<double> out(O, B), st(S, B), work(W, B), din(R, B);
    m->forward(in, sp, out, st, work);
    const Mat<double> base = random(S, B, rng);
    Mat<double> dsp = base;
    m->vjp({in, sp, out, st, work}, dout, dst, din, dsp);
    for (int b = 0; b < B; ++b) {
      Mat<double> o1(O, 1), s1(S, 1), w1(W, 1), d1(R, 1), p1 = Mat<double>::Zero(S, 1);
      m->forward(in.col(b), sp.col(b), o1, s1, w1);
      EXPECT_LT((o1 - out.col(b)).norm(), 1e-12) << "column " << b;
      EXPECT_EQ(s1, st.col(b)) << "column " << b;
      EXPECT_LT((w1 - work.col(b)).norm(), 1e-12) << "column " << b;
      m->vjp({in.col(b), sp.col(b), o1, s1, w1}, dout.col(b), dst.col(b), d1, p1);
      EXPECT_LT((d1 - din.col(b)).norm(), 1e-12) << "column " << b;
      EXPECT_LT((p1 + base.col(b) - dsp.col(b)).norm(), 1e-12) << "column " << b;
    }
  }
}

// The step counter wraps so that it stays exact in float however long the stream: at 2 P - 1 (P = slots *
// every) the next counter is P, and the module still writes and reads as it would have with an unbounded count.
TEST(Attention, CounterWrapsExactlyInFloat) {
  const int slots = 1000, every = 8000, P = slots * every;
  ASSERT_LE(2 * P, 1 << 24);
  auto m = make_attention<float>(1, {{"slots", std::to_string(slots)}, {"every", std::to_string(every)},
                                     {"key_size", "1"}});
  const auto& sh = m->shape();
  Mat<float> s = Mat<float>::Zero(sh.state, 1), next(sh.state, 1), out(1, 1), work(sh.work, 1);
  s(sh.state - 1, 0) = float(2 * P - 1);
  Mat<float> in(3, 1);
  in << 1, 5, 1;
  m->forward(in, s, out, next, work);
  EXPECT_EQ(next(sh.state - 1, 0), float(P));
  EXPECT_EQ(work(slots + 1, 0), -1.0f);    // 2 P - 1 is not a write step
  EXPECT_EQ(work(slots, 0), float(slots));  // the buffer is full
  s = next;
  m->forward(in, s, out, next, work);
  EXPECT_EQ(next(sh.state - 1, 0), float(P + 1));
  EXPECT_EQ(work(slots + 1, 0), 0.0f);  // P is a write step, into slot 0
  EXPECT_EQ(next(slots, 0), 5.0f);      // slot 0's value
}

}  // namespace
}  // namespace credo
