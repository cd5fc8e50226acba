// Learning: each algorithm must actually solve tasks that cannot be solved without memory, and runs must
// be reproducible bit for bit.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "framework/trainer.h"

namespace credo {
namespace {

std::string model(const char* name) { return std::string(CREDO_SOURCE_DIR) + "/models/" + name; }

TEST(Learning, RtrlSolvesAddWithOnlineSgd) {
  // Marschall et al. 2020's benchmark: 32 tanh units, online updates every step, batch 1. No memory gives
  // 0.66, the first lag only 0.52, both lags 0.454.
  TrainConfig c;
  c.model = model("elman.dot");
  c.task = "add";
  c.task_options = {{"t1", "5"}, {"t2", "9"}};
  c.algorithm = "rtrl";
  c.steps = 30000;
  c.batch = 1;
  c.optimizer = "sgd";
  c.lr = 0.01;
  c.eval_every = 30000;
  const TrainResult r = train(c);
  EXPECT_NEAR(r.chance_loss, 0.6616, 1e-3);
  EXPECT_LT(r.eval_loss, 0.47);
}

// Every online approximation on the same benchmark. A single run of an approximate algorithm depends on its
// seed (and, through rounding, on the CPU), so each case takes the median over three seeds. The bar is the
// first-lag level 0.52 (remembering x[t-5] but not x[t-9]) where the algorithm reaches it reliably; RFLO and
// UORO are held to their documented figures (README, docs/results/add.md): over seeds 1-5 RFLO gives
// 0.50-0.57 and UORO 0.49-0.60, so they must beat chance (0.662) clearly.
struct OnlineCase {
  const char* algorithm;
  std::map<std::string, std::string> options;
  double lr;
  double clip;
  double bar;
};

// How GoogleTest shows a case (else as a dump of its bytes).
void PrintTo(const OnlineCase& k, std::ostream* os) {
  *os << k.algorithm;
  for (const auto& [key, value] : k.options) *os << ":" << key << "=" << value;
  *os << " lr=" << k.lr << " clip=" << k.clip << " bar=" << k.bar;
}

class OnlineLearning : public ::testing::TestWithParam<OnlineCase> {};

TEST_P(OnlineLearning, LearnsAddWithinThirtyThousandSteps) {
  const OnlineCase& k = GetParam();
  std::vector<double> losses;
  for (std::uint64_t seed : {1, 2, 3}) {
    TrainConfig c;
    c.model = model("elman.dot");
    c.task = "add";
    c.task_options = {{"t1", "5"}, {"t2", "9"}};
    c.algorithm = k.algorithm;
    c.algorithm_options = k.options;
    c.steps = 30000;
    c.batch = 1;
    c.optimizer = "sgd";
    c.lr = k.lr;
    c.clip = k.clip;
    c.seed = seed;
    c.eval_every = 30000;
    losses.push_back(train(c).eval_loss);
  }
  std::sort(losses.begin(), losses.end());
  EXPECT_LT(losses[1], k.bar) << k.algorithm << ": " << losses[0] << " " << losses[1] << " " << losses[2];
}

INSTANTIATE_TEST_SUITE_P(Add, OnlineLearning,
                         ::testing::Values(OnlineCase{"tbptt", {{"k1", "1"}, {"k2", "10"}}, 0.01, 0, 0.52},
                                           OnlineCase{"kf_rtrl", {}, 0.003, 1.0, 0.52},
                                           OnlineCase{"snap", {{"n", "1"}}, 0.003, 0, 0.52},
                                           OnlineCase{"rflo", {}, 0.003, 0, 0.56},
                                           OnlineCase{"uoro", {}, 0.0003, 0, 0.60}),
                         [](const auto& info) { return std::string(info.param.algorithm); });

TEST(Learning, LstmWithBpttSolvesDelayedRecall) {
  // An LSTM sits on a plateau for a seed-dependent while before it solves this; the median of three seeds
  // keeps the test about the algorithm, not about one seed.
  std::vector<double> accuracy;
  for (std::uint64_t seed : {1, 2, 3}) {
    TrainConfig c;
    c.model = model("lstm.dot");
    c.task = "delayed_recall";
    c.task_options = {{"delay", "20"}};
    c.algorithm = "bptt";
    c.steps = 600;
    c.batch = 32;
    c.lr = 0.01;
    c.seed = seed;
    c.eval_every = 600;
    accuracy.push_back(train(c).eval_accuracy);
  }
  std::sort(accuracy.begin(), accuracy.end());
  EXPECT_GT(accuracy[1], 0.95) << accuracy[0] << " " << accuracy[1] << " " << accuracy[2];
}

TEST(Learning, GruWithBpttLearnsToCopy) {
  TrainConfig c;
  c.model = model("gru.dot");
  c.task = "copy";
  c.task_options = {{"symbols", "4"}, {"length", "5"}, {"delay", "10"}};
  c.algorithm = "bptt";
  c.steps = 400;
  c.batch = 32;
  c.lr = 0.01;
  c.eval_every = 400;
  const TrainResult r = train(c);
  EXPECT_LT(r.eval_loss, 0.5 * r.chance_loss);
  EXPECT_GT(r.eval_accuracy, 0.6);
}

TEST(Learning, NoMemoryStaysAtChance) {
  // The same task without any recurrence cannot beat chance: the tasks really need memory.
  const std::string path = (std::filesystem::temp_directory_path() / "credo_nomem.dot").string();
  std::ofstream(path) << "digraph nomem { x [kind=input size=6]; h [kind=tanh size=24]; "
                         "y [kind=output size=4]; x -> h; h -> y; }";
  TrainConfig c;
  c.model = path;
  c.task = "delayed_recall";
  c.algorithm = "bptt";
  c.steps = 200;
  c.batch = 32;
  c.lr = 0.01;
  const TrainResult r = train(c);
  EXPECT_GT(r.eval_loss, 0.97 * r.chance_loss);
  std::filesystem::remove(path);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Learning, SameSeedSameNumbers) {
  const auto dir = std::filesystem::temp_directory_path() / ("credo_repro_" + std::to_string(::getpid()));
  auto run = [&](std::uint64_t seed, const std::string& sub) {
    TrainConfig c;
    c.model = model("two_layer.dot");
    c.task = "delayed_recall";
    c.algorithm = "tbptt";
    c.algorithm_options = {{"k1", "4"}, {"k2", "8"}};
    c.steps = 60;
    c.batch = 8;
    c.seed = seed;
    c.out = (dir / sub).string();
    train(c);
    // Drop the wall-clock column: everything else must match bit for bit.
    std::string csv = slurp(c.out + "/metrics.csv"), stripped;
    std::istringstream lines(csv);
    for (std::string line; std::getline(lines, line);) stripped += line.substr(0, line.rfind(',')) + "\n";
    return stripped;
  };
  const std::string a = run(3, "a"), b = run(3, "b"), c = run(4, "c");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace credo
