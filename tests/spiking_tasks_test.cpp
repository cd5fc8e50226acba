// The spiking-network tasks (cue_accumulation, store_recall, pattern_generation): every trial decoded from its
// input spikes against its target, the timing, rates and chance levels, and the decision-accuracy metric.
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "framework/error.h"
#include "framework/task.h"
#include "tasks/decision.h"

namespace credo {
namespace {

// Spikes of channel group g (channels c .. c + width) at step t of sequence b.
double group_spikes(const Episode& e, int g, int width, int t, int b) {
  return e.x.col(e.col(t, b)).segment(g * width, width).sum();
}

TEST(CueAccumulation, EveryTrialsTargetIsTheSideWithMoreCues) {
  auto task = make_task("cue_accumulation", {}, 7);
  EXPECT_EQ(task->input_size(), 40);
  EXPECT_EQ(task->output_size(), 2);
  EXPECT_NEAR(task->chance_loss(), std::log(2.0), 1e-12);
  const Episode e = task->sample(200, 0);
  ASSERT_EQ(e.steps, 2250);
  int right_trials = 0, majority_cues = 0;
  double noise = 0, cue_rate = 0, recall_rate = 0;
  for (int b = 0; b < e.batch; ++b) {
    // Cue k: [50 + 150 k, 150 + 150 k) ms; only one side's group fires in it, and nothing else fires between cues.
    int right = 0;
    for (int k = 0; k < 7; ++k) {
      double left_spikes = 0, right_spikes = 0;
      for (int t = 150 * k + 50; t < 150 * k + 150; ++t)
        left_spikes += group_spikes(e, 0, 10, t, b), right_spikes += group_spikes(e, 1, 10, t, b);
      ASSERT_TRUE(left_spikes == 0 || right_spikes == 0);
      ASSERT_GT(left_spikes + right_spikes, 0);  // 40 expected spikes
      right += right_spikes > 0;
      cue_rate += left_spikes + right_spikes;
      for (int t = 150 * k; t < 150 * k + 50; ++t)
        EXPECT_EQ(group_spikes(e, 0, 10, t, b) + group_spikes(e, 1, 10, t, b) + group_spikes(e, 2, 10, t, b), 0);
    }
    const int label = right > 3 ? 1 : 0;
    right_trials += label;
    majority_cues += std::max(right, 7 - right);
    for (int t = 0; t < 2250; ++t) {
      const bool recall = t >= 2100;
      EXPECT_EQ(e.mask(0, e.col(t, b)), recall ? 1.0 : 0.0);
      if (recall) {
        EXPECT_EQ(e.target(label, e.col(t, b)), 1.0);
        EXPECT_EQ(e.target(1 - label, e.col(t, b)), 0.0);
        recall_rate += group_spikes(e, 2, 10, t, b);
      } else {
        EXPECT_EQ(group_spikes(e, 2, 10, t, b), 0);
        if (t >= 1050) {
          EXPECT_EQ(group_spikes(e, 0, 10, t, b) + group_spikes(e, 1, 10, t, b), 0);
        }
      }
      noise += group_spikes(e, 3, 10, t, b);
    }
  }
  // Rates: 40 Hz in a cue or the recall window, 10 Hz background, per channel.
  EXPECT_NEAR(cue_rate / (200 * 7 * 100 * 10) * 1000, 40, 2);
  EXPECT_NEAR(recall_rate / (200 * 150 * 10) * 1000, 40, 2);
  EXPECT_NEAR(noise / (200 * 2250 * 10) * 1000, 10, 0.5);
  // Sides are fair; the majority side gets about 0.7 of the cues (more, since a minority-side majority counts too).
  EXPECT_NEAR(right_trials / 200.0, 0.5, 0.1);
  EXPECT_GT(majority_cues / (200.0 * 7), 0.65);
}

TEST(CueAccumulation, TimingFollowsItsOptions) {
  auto task = make_task("cue_accumulation",
                        {{"cues", "3"}, {"interval_ms", "20"}, {"cue_ms", "10"}, {"gap_ms", "30"}, {"recall_ms", "8"},
                         {"dt", "2"}, {"channels", "2"}},
                        1);
  const Episode e = task->sample(3, 0);
  EXPECT_EQ(e.steps, (3 * 20 + 30 + 8) / 2);
  EXPECT_EQ(task->input_size(), 8);
  EXPECT_EQ(e.mask.sum(), 4 * 3);
  EXPECT_EQ(e.mask.middleCols(e.col(45, 0), 4 * 3).sum(), 12);  // the last 8 ms: steps 45-48
  EXPECT_THROW(make_task("cue_accumulation", {{"cue_ms", "200"}}, 1), InputError);
  EXPECT_THROW(make_task("cue_accumulation", {{"recall_ms", "0.1"}}, 1), InputError);
}

TEST(StoreRecall, EveryRecallAsksForTheBitOfTheLastStore) {
  auto task = make_task("store_recall", {}, 3);
  EXPECT_EQ(task->input_size(), 100);
  const Episode e = task->sample(300, 0);
  ASSERT_EQ(e.steps, 12 * 200);
  int recalls = 0, ones = 0;
  double delay_sum = 0;
  for (int b = 0; b < e.batch; ++b) {
    int memory = -1, stored_at = -1, pairs = 0;
    for (int c = 0; c < 12; ++c) {
      double g[4] = {0, 0, 0, 0};
      for (int s = 0; s < 200; ++s)
        for (int k = 0; k < 4; ++k) g[k] += group_spikes(e, k, 25, c * 200 + s, b);
      const bool store = g[2] > 0, recall = g[3] > 0;
      ASSERT_FALSE(store && recall);
      ASSERT_FALSE(g[0] > 0 && g[1] > 0);
      const double scored = e.mask.middleCols(e.col(c * 200, b), 1).sum();
      if (recall) {
        EXPECT_EQ(g[0] + g[1], 0) << "a recall character shows no bit";
        ASSERT_GE(memory, 0) << "a recall follows a store";
        for (int s = 0; s < 200; ++s) {
          EXPECT_EQ(e.mask(0, e.col(c * 200 + s, b)), 1.0);
          EXPECT_EQ(e.target(memory, e.col(c * 200 + s, b)), 1.0);
        }
        ++recalls, ++pairs;
        ones += memory;
        delay_sum += c - stored_at;
        memory = -1;
      } else {
        EXPECT_EQ(scored, 0);
        ASSERT_GT(g[0] + g[1], 0);  // 250 expected spikes
      }
      if (store) {
        EXPECT_EQ(memory, -1) << "stores and recalls alternate";
        memory = g[1] > 0 ? 1 : 0;
        stored_at = c;
      }
    }
    EXPECT_GE(pairs, 1);
  }
  EXPECT_NEAR(static_cast<double>(ones) / recalls, 0.5, 0.08);
  EXPECT_GT(delay_sum / recalls, 2);
  EXPECT_LT(delay_sum / recalls, 7);
  EXPECT_NEAR(task->chance_loss(), std::log(2.0), 1e-12);
}

TEST(PatternGeneration, OneFrozenPatternFromTheSeed) {
  auto task = make_task("pattern_generation", {}, 5);
  const Episode a = task->sample(2, 0), b = task->sample(2, 0);
  ASSERT_EQ(a.steps, 1000);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.x.middleCols(a.col(0, 0), 1), a.x.middleCols(a.col(0, 1), 1));
  EXPECT_EQ(a.mask.sum(), 2000);
  Eigen::VectorXd y(1000);
  for (int t = 0; t < 1000; ++t) y(t) = a.target(0, a.col(t, 0));
  EXPECT_EQ(y(0), 0.0);
  EXPECT_NEAR(y.cwiseAbs().maxCoeff(), 1.0, 1e-12);
  EXPECT_NEAR(task->chance_loss(), (y.array() - y.mean()).square().mean(), 1e-12);
  EXPECT_GT(task->chance_loss(), 0.01);
  EXPECT_NEAR(a.x.sum() / (2 * 1000 * 100) * 1000, 50, 3);
  // Another seed, another pattern.
  EXPECT_NE(make_task("pattern_generation", {}, 6)->sample(1, 0).target, task->sample(1, 0).target);
}

TEST(DecisionAccuracy, ReadsTheAnswerAveragedOverEachWindow) {
  Episode e = Episode::zeros(1, 2, 6, 2);
  // Sequence 0: one window (steps 1-2) with answer 1; sequence 1: two windows (0, and 3-5) with answers 0 and 1.
  for (int t : {1, 2}) e.mask(0, e.col(t, 0)) = 1, e.target(1, e.col(t, 0)) = 1;
  e.mask(0, e.col(0, 1)) = 1, e.target(0, e.col(0, 1)) = 1;
  for (int t : {3, 4, 5}) e.mask(0, e.col(t, 1)) = 1, e.target(1, e.col(t, 1)) = 1;
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(2, 12);
  out(1, e.col(1, 0)) = 3, out(0, e.col(2, 0)) = 1;  // mean favours 1: right
  out(0, e.col(0, 1)) = 1;                           // right
  out(0, e.col(3, 1)) = 5, out(1, e.col(4, 1)) = 1, out(1, e.col(5, 1)) = 1;  // mean favours 0: wrong
  EXPECT_DOUBLE_EQ(decision_accuracy(e, out), 2.0 / 3.0);
}

}  // namespace
}  // namespace credo
