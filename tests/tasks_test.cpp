// Tests of the task generators: shapes, masks, determinism, targets consistent with inputs, and chance levels.
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <gtest/gtest.h>

#include "framework/error.h"
#include "framework/task.h"
#include "tasks/add.h"

namespace {

using Opts = std::map<std::string, std::string>;

std::unique_ptr<credo::Task> task(const std::string& name, const Opts& o = {}, std::uint64_t seed = 1) {
  return credo::make_task(name, o, seed);
}

Eigen::Index col(const credo::Episode& e, int t, int b) { return static_cast<Eigen::Index>(t) * e.batch + b; }

void expect_shapes(const credo::Task& t, const credo::Episode& e, int batch, int steps) {
  EXPECT_EQ(e.batch, batch);
  EXPECT_EQ(e.steps, steps);
  const Eigen::Index cols = static_cast<Eigen::Index>(steps) * batch;
  EXPECT_EQ(e.x.rows(), t.input_size());
  EXPECT_EQ(e.x.cols(), cols);
  EXPECT_EQ(e.target.rows(), t.output_size());
  EXPECT_EQ(e.target.cols(), cols);
  EXPECT_EQ(e.mask.rows(), 1);
  EXPECT_EQ(e.mask.cols(), cols);
}

bool same(const credo::Episode& a, const credo::Episode& b) {
  return a.steps == b.steps && a.batch == b.batch && a.x == b.x && a.target == b.target && a.mask == b.mask;
}

// The index of the single 1 in column c of m, or -1 if the column is not exactly one-hot.
int one_hot(const Eigen::MatrixXd& m, Eigen::Index c) {
  int at = -1;
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    if (m(r, c) == 1.0) {
      if (at >= 0) return -1;
      at = static_cast<int>(r);
    } else if (m(r, c) != 0.0) {
      return -1;
    }
  }
  return at;
}

int scored_in_sequence(const credo::Episode& e, int b) {
  int n = 0;
  for (int t = 0; t < e.steps; ++t) n += e.mask(0, col(e, t, b)) == 1.0;
  return n;
}

void expect_binary_mask(const credo::Episode& e) {
  for (Eigen::Index c = 0; c < e.mask.cols(); ++c) EXPECT_TRUE(e.mask(0, c) == 0.0 || e.mask(0, c) == 1.0);
}

// ---------------------------------------------------------------------------------------------------- registry

TEST(TaskRegistry, EveryTaskIsRegistered) {
  for (const char* name : {"copy", "adding", "add", "delayed_recall", "assoc_retrieval", "assoc_recall", "bit_copy"})
    EXPECT_TRUE(credo::TaskRegistry::get().contains(name)) << name;
}

TEST(TaskRegistry, UnknownOptionThrowsForEveryTask) {
  for (const char* name : {"copy", "adding", "add", "delayed_recall", "assoc_retrieval", "assoc_recall", "bit_copy"})
    EXPECT_THROW(task(name, {{"bogus", "1"}}), credo::InputError) << name;
}

TEST(TaskRegistry, UnknownTaskThrows) { EXPECT_THROW(task("no_such_task"), credo::InputError); }

// ------------------------------------------------------------------------------------------------------- copy

TEST(CopyTask, DeclaresItsInterface) {
  auto t = task("copy");
  EXPECT_EQ(t->input_size(), 10);
  EXPECT_EQ(t->output_size(), 8);
  EXPECT_EQ(t->loss(), "softmax_xent");
  EXPECT_FALSE(t->streaming());
  EXPECT_TRUE(t->has_accuracy());
  EXPECT_NEAR(t->chance_loss(), std::log(8.0), 1e-12);
}

TEST(CopyTask, ShapesAndMaskFollowOptions) {
  auto t = task("copy", {{"symbols", "5"}, {"length", "3"}, {"delay", "4"}});
  EXPECT_EQ(t->input_size(), 7);
  EXPECT_EQ(t->output_size(), 5);
  auto e = t->sample(6, 0);
  expect_shapes(*t, e, 6, 3 + 4 + 3);
  expect_binary_mask(e);
  for (int b = 0; b < 6; ++b) {
    EXPECT_EQ(scored_in_sequence(e, b), 3);
    for (int s = 0; s < e.steps; ++s) EXPECT_EQ(e.mask(0, col(e, s, b)), s >= 7 ? 1.0 : 0.0) << "step " << s;
  }
}

TEST(CopyTask, InputsAreOneHotWithMarkerOnTheFirstRecallStep) {
  const int K = 6, L = 4, D = 3;
  auto t = task("copy", {{"symbols", std::to_string(K)}, {"length", std::to_string(L)}, {"delay", std::to_string(D)}});
  auto e = t->sample(5, 0);
  for (int b = 0; b < 5; ++b) {
    for (int s = 0; s < e.steps; ++s) {
      const int ch = one_hot(e.x, col(e, s, b));
      ASSERT_GE(ch, 0) << "step " << s << " is not one-hot";
      if (s < L) {
        EXPECT_LT(ch, K) << "step " << s;
      } else if (s == L + D) {
        EXPECT_EQ(ch, K + 1) << "marker";
      } else {
        EXPECT_EQ(ch, K) << "blank at step " << s;
      }
    }
  }
}

TEST(CopyTask, TargetsAreTheShownSymbolsInOrder) {
  const int L = 5, D = 10;
  auto t = task("copy");
  auto e = t->sample(8, 0);
  for (int b = 0; b < 8; ++b) {
    for (int i = 0; i < L; ++i) {
      const int shown = one_hot(e.x, col(e, i, b));
      const int wanted = one_hot(e.target, col(e, L + D + i, b));
      ASSERT_GE(shown, 0);
      EXPECT_EQ(wanted, shown) << "sequence " << b << " item " << i;
    }
  }
  // Unscored columns carry no target.
  for (Eigen::Index c = 0; c < e.mask.cols(); ++c) {
    if (e.mask(0, c) == 0.0) {
      EXPECT_EQ(e.target.col(c).sum(), 0.0);
    }
  }
}

TEST(CopyTask, ZeroDelayPutsTheMarkerRightAfterTheSymbols) {
  auto t = task("copy", {{"symbols", "3"}, {"length", "1"}, {"delay", "0"}});
  auto e = t->sample(4, 0);
  expect_shapes(*t, e, 4, 2);
  for (int b = 0; b < 4; ++b) {
    EXPECT_EQ(one_hot(e.x, col(e, 1, b)), 4);
    EXPECT_EQ(one_hot(e.target, col(e, 1, b)), one_hot(e.x, col(e, 0, b)));
    EXPECT_EQ(scored_in_sequence(e, b), 1);
  }
}

TEST(CopyTask, SameSeedSameEpisodesDifferentSeedDifferent) {
  auto a = task("copy", {}, 7), b = task("copy", {}, 7), c = task("copy", {}, 8);
  auto ea1 = a->sample(16, 0), ea2 = a->sample(16, 0);
  EXPECT_TRUE(same(ea1, b->sample(16, 0)));
  EXPECT_TRUE(same(ea2, b->sample(16, 0)));
  EXPECT_FALSE(same(ea1, ea2));
  EXPECT_FALSE(same(ea1, c->sample(16, 0)));
}

TEST(CopyTask, SymbolsAreUniformSoChanceIsLogK) {
  // ln K is the memoryless optimum only if every symbol is equally likely to be the target.
  auto t = task("copy", {{"symbols", "4"}});
  auto e = t->sample(2000, 0);
  Eigen::VectorXd freq = e.target.rowwise().sum() / e.mask.sum();
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(freq(k), 0.25, 0.02) << "symbol " << k;
  double xent = 0;  // of the uniform predictor
  for (Eigen::Index c = 0; c < e.mask.cols(); ++c)
    if (e.mask(0, c) == 1.0) xent += -std::log(0.25) * e.target.col(c).sum();
  EXPECT_NEAR(xent / e.mask.sum(), t->chance_loss(), 1e-12);
}

TEST(CopyTask, RejectsOutOfRangeOptions) {
  EXPECT_THROW(task("copy", {{"symbols", "1"}}), credo::InputError);
  EXPECT_THROW(task("copy", {{"length", "0"}}), credo::InputError);
  EXPECT_THROW(task("copy", {{"delay", "-1"}}), credo::InputError);
  EXPECT_THROW(task("copy", {{"length", "2.5"}}), credo::InputError);
  EXPECT_THROW(task("copy", {{"symbols", "many"}}), credo::InputError);
  EXPECT_NO_THROW(task("copy", {{"symbols", "2"}, {"length", "1"}, {"delay", "0"}}));
}

TEST(CopyTask, RejectsNonPositiveBatch) { EXPECT_THROW(task("copy")->sample(0, 0), credo::InputError); }

// ----------------------------------------------------------------------------------------------------- adding

TEST(AddingTask, DeclaresItsInterface) {
  auto t = task("adding");
  EXPECT_EQ(t->input_size(), 2);
  EXPECT_EQ(t->output_size(), 1);
  EXPECT_EQ(t->loss(), "mse");
  EXPECT_FALSE(t->streaming());
  EXPECT_FALSE(t->has_accuracy());
  EXPECT_NEAR(t->chance_loss(), 1.0 / 6.0, 1e-12);
}

TEST(AddingTask, ShapesAndMaskScoreOnlyTheLastStep) {
  auto t = task("adding", {{"length", "20"}});
  auto e = t->sample(7, 0);
  expect_shapes(*t, e, 7, 20);
  expect_binary_mask(e);
  for (int b = 0; b < 7; ++b) {
    EXPECT_EQ(scored_in_sequence(e, b), 1);
    EXPECT_EQ(e.mask(0, col(e, 19, b)), 1.0);
  }
}

TEST(AddingTask, OneMarkerInEachHalfAndTargetIsTheirSum) {
  for (int T : {2, 3, 11, 50}) {
    auto t = task("adding", {{"length", std::to_string(T)}}, 3);
    auto e = t->sample(64, 0);
    for (int b = 0; b < 64; ++b) {
      int first_half = 0, second_half = 0;
      double sum = 0;
      for (int s = 0; s < T; ++s) {
        const double v = e.x(0, col(e, s, b)), m = e.x(1, col(e, s, b));
        EXPECT_GE(v, 0.0);
        EXPECT_LT(v, 1.0);
        ASSERT_TRUE(m == 0.0 || m == 1.0);
        if (m == 1.0) {
          (s < T / 2 ? first_half : second_half)++;
          sum += v;
        }
      }
      EXPECT_EQ(first_half, 1) << "T=" << T;
      EXPECT_EQ(second_half, 1) << "T=" << T;
      EXPECT_DOUBLE_EQ(e.target(0, col(e, T - 1, b)), sum);
      for (int s = 0; s + 1 < T; ++s) EXPECT_EQ(e.target(0, col(e, s, b)), 0.0);
    }
  }
}

TEST(AddingTask, MarkerPositionsCoverBothHalves) {
  // Every position of its half should be chosen sometimes, or the delay the task tests is narrower than claimed.
  const int T = 10;
  auto t = task("adding", {{"length", std::to_string(T)}});
  auto e = t->sample(2000, 0);
  std::vector<int> hits(T, 0);
  for (int b = 0; b < 2000; ++b)
    for (int s = 0; s < T; ++s) hits[s] += e.x(1, col(e, s, b)) == 1.0;
  for (int s = 0; s < T; ++s) EXPECT_GT(hits[s], 300) << "position " << s;
}

TEST(AddingTask, TargetVarianceMatchesChanceLoss) {
  auto t = task("adding", {{"length", "4"}});
  auto e = t->sample(20000, 0);
  double sum = 0, sq = 0, mse_of_one = 0;
  int n = 0;
  for (Eigen::Index c = 0; c < e.mask.cols(); ++c) {
    if (e.mask(0, c) == 0.0) continue;
    const double y = e.target(0, c);
    sum += y;
    sq += y * y;
    mse_of_one += (y - 1.0) * (y - 1.0);
    ++n;
  }
  ASSERT_EQ(n, 20000);
  const double mean = sum / n;
  EXPECT_NEAR(mean, 1.0, 0.01);
  EXPECT_NEAR(sq / n - mean * mean, t->chance_loss(), 0.006);
  EXPECT_NEAR(mse_of_one / n, t->chance_loss(), 0.006);
}

TEST(AddingTask, SameSeedSameEpisodesDifferentSeedDifferent) {
  auto a = task("adding", {}, 7), b = task("adding", {}, 7), c = task("adding", {}, 8);
  auto ea = a->sample(8, 0);
  EXPECT_TRUE(same(ea, b->sample(8, 0)));
  EXPECT_FALSE(same(ea, c->sample(8, 0)));
  EXPECT_FALSE(same(ea, a->sample(8, 0)));
}

TEST(AddingTask, RejectsOutOfRangeOptions) {
  EXPECT_THROW(task("adding", {{"length", "1"}}), credo::InputError);
  EXPECT_THROW(task("adding", {{"length", "10.5"}}), credo::InputError);
  EXPECT_NO_THROW(task("adding", {{"length", "2"}}));
}

// -------------------------------------------------------------------------------------------------------- add

// Checks every target of `e` against the lag formula, with `history` the inputs seen so far in each stream
// (appended to as the episode is read).
void expect_add_targets(const credo::Episode& e, std::vector<std::vector<double>>& history, int t1, int t2) {
  for (int s = 0; s < e.steps; ++s) {
    for (int b = 0; b < e.batch; ++b) {
      auto& h = history[b];
      const int now = static_cast<int>(h.size());
      const double x1 = now - t1 >= 0 ? h[now - t1] : 0.0;
      const double x2 = now - t2 >= 0 ? h[now - t2] : 0.0;
      ASSERT_DOUBLE_EQ(e.target(0, col(e, s, b)), 0.5 + 0.5 * x1 - 0.25 * x2) << "stream " << b << " t=" << now;
      const double x = e.x(0, col(e, s, b));
      ASSERT_TRUE(x == 0.0 || x == 1.0);
      h.push_back(x);
    }
  }
}

TEST(AddTask, DeclaresItsInterface) {
  auto t = task("add");
  EXPECT_EQ(t->input_size(), 1);
  EXPECT_EQ(t->output_size(), 1);
  EXPECT_EQ(t->loss(), "sigmoid_xent");
  EXPECT_TRUE(t->streaming());
  EXPECT_FALSE(t->has_accuracy());
  EXPECT_NEAR(t->chance_loss(), -(0.625 * std::log(0.625) + 0.375 * std::log(0.375)), 1e-12);
  EXPECT_NEAR(t->chance_loss(), 0.6616, 1e-4);
}

TEST(AddTask, ShapesAndEveryStepScored) {
  auto t = task("add");
  auto e = t->sample(3, 17);
  expect_shapes(*t, e, 3, 17);
  EXPECT_EQ(e.mask.sum(), 3 * 17);
}

TEST(AddTask, TargetsFollowTheLagFormulaAcrossCalls) {
  for (auto [t1, t2] : {std::pair{5, 9}, std::pair{9, 5}, std::pair{3, 3}, std::pair{1, 2}}) {
    auto t = task("add", {{"t1", std::to_string(t1)}, {"t2", std::to_string(t2)}}, 11);
    std::vector<std::vector<double>> history(4);
    // Calls shorter and longer than the lags, so the history must carry over call boundaries.
    for (int steps : {2, 7, 1, 30}) {
      auto e = t->sample(4, steps);
      expect_add_targets(e, history, t1, t2);
    }
    ASSERT_EQ(history[0].size(), 40u);
  }
}

TEST(AddTask, ChangingBatchRestartsTheStreams) {
  auto t = task("add", {}, 5);
  std::vector<std::vector<double>> history(2);
  expect_add_targets(t->sample(2, 20), history, 5, 9);
  std::vector<std::vector<double>> fresh(3);  // empty history: everything before counts as 0
  expect_add_targets(t->sample(3, 20), fresh, 5, 9);
  auto e = t->sample(3, 20);  // and the new streams continue from there
  expect_add_targets(e, fresh, 5, 9);
}

TEST(AddTask, StreamsAreIndependentAcrossColumns) {
  auto t = task("add", {}, 2);
  auto e = t->sample(2, 200);
  int differ = 0;
  for (int s = 0; s < 200; ++s) differ += e.x(0, col(e, s, 0)) != e.x(0, col(e, s, 1));
  EXPECT_GT(differ, 60);
  EXPECT_LT(differ, 140);
}

TEST(AddTask, SameSeedSameStreamsDifferentSeedDifferent) {
  auto a = task("add", {}, 7), b = task("add", {}, 7), c = task("add", {}, 8);
  for (int i = 0; i < 3; ++i) {
    auto ea = a->sample(4, 25);
    EXPECT_TRUE(same(ea, b->sample(4, 25)));
    EXPECT_FALSE(same(ea, c->sample(4, 25)));
  }
}

TEST(AddTask, RejectsNonPositiveSteps) {
  auto t = task("add");
  EXPECT_THROW(t->sample(4, 0), credo::InputError);
  EXPECT_THROW(t->sample(4, -3), credo::InputError);
  EXPECT_THROW(t->sample(0, 5), credo::InputError);
}

TEST(AddTask, RejectsOutOfRangeOptions) {
  EXPECT_THROW(task("add", {{"t1", "0"}}), credo::InputError);
  EXPECT_THROW(task("add", {{"t2", "0"}}), credo::InputError);
  EXPECT_THROW(task("add", {{"t1", "1.5"}}), credo::InputError);
  EXPECT_NO_THROW(task("add", {{"t1", "1"}, {"t2", "1"}}));
}

TEST(AddTask, LossLevelsWithLags) {
  EXPECT_NEAR(credo::add_task_loss_with_lags(5, 9, false, false), 0.6616, 1e-4);
  EXPECT_NEAR(credo::add_task_loss_with_lags(5, 9, true, false), 0.5192, 1e-4);
  EXPECT_NEAR(credo::add_task_loss_with_lags(5, 9, true, true), 0.4544, 1e-4);
  // Knowing only x[t-t2]: E[p | x2] is 0.75 or 0.5.
  const double h75 = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));
  EXPECT_NEAR(credo::add_task_loss_with_lags(5, 9, false, true), 0.5 * (h75 + std::log(2.0)), 1e-12);
  // Equal lags: p = 0.5 + 0.25 x, so knowing either lag knows both, and E[p] is still 0.625.
  EXPECT_NEAR(credo::add_task_loss_with_lags(4, 4, false, false), 0.6616, 1e-4);
  EXPECT_NEAR(credo::add_task_loss_with_lags(4, 4, true, false), 0.5 * (h75 + std::log(2.0)), 1e-12);
  EXPECT_NEAR(credo::add_task_loss_with_lags(4, 4, false, true), 0.5 * (h75 + std::log(2.0)), 1e-12);
  EXPECT_NEAR(credo::add_task_loss_with_lags(4, 4, true, true), 0.5 * (h75 + std::log(2.0)), 1e-12);
  EXPECT_THROW(credo::add_task_loss_with_lags(0, 9, true, true), credo::InputError);
}

// Empirical mean cross-entropy, over a long stream past its start-up, of the predictor q = predict(x1, x2).
template <class Predict>
double empirical_add_loss(int t1, int t2, Predict predict) {
  auto t = task("add", {{"t1", std::to_string(t1)}, {"t2", std::to_string(t2)}}, 99);
  const int batch = 8, warmup = 20, steps = 25000;
  auto e = t->sample(batch, warmup + steps);
  double loss = 0;
  for (int s = warmup; s < warmup + steps; ++s) {
    for (int b = 0; b < batch; ++b) {
      const double x1 = e.x(0, col(e, s - t1, b)), x2 = e.x(0, col(e, s - t2, b));
      const double p = e.target(0, col(e, s, b)), q = predict(x1, x2);
      loss += -(p * std::log(q) + (1 - p) * std::log(1 - q));
    }
  }
  return loss / (static_cast<double>(batch) * steps);
}

TEST(AddTask, ChanceLossMatchesTheMemorylessPredictorEmpirically) {
  for (auto [t1, t2] : {std::pair{5, 9}, std::pair{3, 3}}) {
    auto t = task("add", {{"t1", std::to_string(t1)}, {"t2", std::to_string(t2)}});
    auto e = t->sample(8, 5000);
    const double marginal = e.target.rightCols(8 * 4980).mean();
    EXPECT_NEAR(marginal, 0.625, 0.01);
    const double emp = empirical_add_loss(t1, t2, [&](double, double) { return marginal; });
    EXPECT_NEAR(emp, t->chance_loss(), 0.01) << t1 << "," << t2;
  }
}

TEST(AddTask, LagLossLevelsMatchEmpirically) {
  // The predictor knowing only x[t-t1] outputs E[p | x1] = 0.375 or 0.875; knowing both, it outputs p itself.
  const double first = empirical_add_loss(5, 9, [](double x1, double) { return x1 == 1.0 ? 0.875 : 0.375; });
  EXPECT_NEAR(first, credo::add_task_loss_with_lags(5, 9, true, false), 0.01);
  const double both =
      empirical_add_loss(5, 9, [](double x1, double x2) { return 0.5 + 0.5 * x1 - 0.25 * x2 - 1e-12; });
  EXPECT_NEAR(both, credo::add_task_loss_with_lags(5, 9, true, true), 0.01);
}

// ---------------------------------------------------------------------------------------------- delayed_recall

TEST(DelayedRecallTask, DeclaresItsInterface) {
  auto t = task("delayed_recall");
  EXPECT_EQ(t->input_size(), 6);
  EXPECT_EQ(t->output_size(), 4);
  EXPECT_EQ(t->loss(), "softmax_xent");
  EXPECT_FALSE(t->streaming());
  EXPECT_TRUE(t->has_accuracy());
  EXPECT_NEAR(t->chance_loss(), std::log(4.0), 1e-12);
}

TEST(DelayedRecallTask, ShapesAndMaskCoverTheRecallSteps) {
  auto t = task("delayed_recall", {{"values", "5"}, {"items", "3"}, {"delay", "6"}});
  auto e = t->sample(4, 0);
  expect_shapes(*t, e, 4, 3 + 6 + 3);
  expect_binary_mask(e);
  for (int b = 0; b < 4; ++b) {
    EXPECT_EQ(scored_in_sequence(e, b), 3);
    for (int s = 0; s < e.steps; ++s) EXPECT_EQ(e.mask(0, col(e, s, b)), s >= 9 ? 1.0 : 0.0) << "step " << s;
  }
}

// Checks cues, delay inputs and targets of one delayed_recall episode.
void expect_recall_episode(const credo::Episode& e, int K, int items, int delay, bool distractors) {
  const int store = K, recall = K + 1;
  for (int b = 0; b < e.batch; ++b) {
    for (int s = 0; s < e.steps; ++s) {
      const Eigen::Index c = col(e, s, b);
      const Eigen::VectorXd v = e.x.col(c).head(K);
      if (s < items) {  // store: one value and the store cue
        EXPECT_EQ(e.x(store, c), 1.0);
        EXPECT_EQ(e.x(recall, c), 0.0);
        EXPECT_GE(one_hot(v, 0), 0);
      } else if (s < items + delay) {  // delay: never the store cue; a lone value iff distractors
        EXPECT_EQ(e.x(store, c), 0.0) << "distractor carries the store cue";
        EXPECT_EQ(e.x(recall, c), 0.0);
        if (distractors) {
          EXPECT_GE(one_hot(v, 0), 0);
        } else {
          EXPECT_EQ(v.sum(), 0.0);
        }
      } else {  // recall: the recall cue alone; target is the stored value of the same rank
        EXPECT_EQ(e.x(recall, c), 1.0);
        EXPECT_EQ(e.x(store, c), 0.0);
        EXPECT_EQ(v.sum(), 0.0);
        const int i = s - items - delay;
        EXPECT_EQ(one_hot(e.target, c), one_hot(e.x.col(col(e, i, b)).head(K), 0)) << "item " << i;
      }
    }
  }
}

TEST(DelayedRecallTask, TargetsAreTheStoredValuesInOrder) {
  auto t = task("delayed_recall", {{"values", "5"}, {"items", "3"}, {"delay", "6"}});
  expect_recall_episode(t->sample(16, 0), 5, 3, 6, false);
  auto z = task("delayed_recall", {{"items", "2"}, {"delay", "0"}});
  expect_recall_episode(z->sample(16, 0), 4, 2, 0, false);
}

TEST(DelayedRecallTask, EightValuesAndLongDelays) {
  // The long-delay setting: 8 values, delays of 100-300 steps, batch 64.
  for (int delay : {100, 300}) {
    auto t = task("delayed_recall", {{"values", "8"}, {"delay", std::to_string(delay)}, {"distractors", "1"}});
    auto e = t->sample(64, 0);
    expect_shapes(*t, e, 64, 2 + delay);
    expect_recall_episode(e, 8, 1, delay, true);
  }
}

TEST(DelayedRecallTask, DistractorsAreRandomValuesWithoutTheStoreCue) {
  auto t = task("delayed_recall", {{"values", "4"}, {"items", "2"}, {"delay", "8"}, {"distractors", "1"}});
  auto e = t->sample(32, 0);
  expect_recall_episode(e, 4, 2, 8, true);
  // Distractors use every value and are not a copy of what was stored.
  std::vector<int> seen(4, 0);
  int equal_to_first_item = 0, delay_steps = 0;
  for (int b = 0; b < 32; ++b) {
    const int stored = one_hot(e.x.col(col(e, 0, b)).head(4), 0);
    for (int s = 2; s < 10; ++s) {
      const int d = one_hot(e.x.col(col(e, s, b)).head(4), 0);
      ASSERT_GE(d, 0);
      ++seen[d];
      equal_to_first_item += d == stored;
      ++delay_steps;
    }
  }
  for (int k = 0; k < 4; ++k) EXPECT_GT(seen[k], 30) << "value " << k;
  EXPECT_LT(equal_to_first_item, delay_steps / 2);
}

TEST(DelayedRecallTask, StoredValuesAreUniformSoChanceIsLogK) {
  auto t = task("delayed_recall", {{"values", "3"}, {"items", "2"}});
  auto e = t->sample(3000, 0);
  Eigen::VectorXd freq = e.target.rowwise().sum() / e.mask.sum();
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(freq(k), 1.0 / 3.0, 0.02) << "value " << k;
}

TEST(DelayedRecallTask, SameSeedSameEpisodesDifferentSeedDifferent) {
  const Opts o{{"distractors", "1"}, {"items", "2"}};
  auto a = task("delayed_recall", o, 7), b = task("delayed_recall", o, 7), c = task("delayed_recall", o, 8);
  auto ea = a->sample(16, 0);
  EXPECT_TRUE(same(ea, b->sample(16, 0)));
  EXPECT_FALSE(same(ea, c->sample(16, 0)));
  EXPECT_FALSE(same(ea, a->sample(16, 0)));
}

TEST(DelayedRecallTask, RejectsOutOfRangeOptions) {
  EXPECT_THROW(task("delayed_recall", {{"values", "1"}}), credo::InputError);
  EXPECT_THROW(task("delayed_recall", {{"items", "0"}}), credo::InputError);
  EXPECT_THROW(task("delayed_recall", {{"delay", "-2"}}), credo::InputError);
  EXPECT_THROW(task("delayed_recall", {{"distractors", "2"}}), credo::InputError);
  EXPECT_THROW(task("delayed_recall", {{"distractors", "0.5"}}), credo::InputError);
  EXPECT_NO_THROW(task("delayed_recall", {{"distractors", "1"}, {"delay", "0"}}));
}

}  // namespace
