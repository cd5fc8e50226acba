// Spiking networks end to end: e-prop learns cue accumulation with adaptive neurons and not without them (Bellec
// et al. 2020, Fig. 3), credo align reports e-prop's alignment and its feedback matrices' alignment with the
// readout, and credo check says what finite differences cannot check.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "framework/align.h"
#include "framework/trainer.h"

namespace credo {
namespace {

namespace fs = std::filesystem;

std::string model(const char* name) { return std::string(CREDO_SOURCE_DIR) + "/models/" + name; }

std::string temp_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("credo_spiking_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  return dir.string();
}

// Random-feedback e-prop with firing-rate regularisation on the full-size task (2250 ms trials, 1050 ms between
// the last cue and the recall), Adam 0.005, batch 32, as Bellec et al. train it: they stop at the first validation
// below 7 % error and report reaching it within 200-500 updates. The same criterion here (decision accuracy on 256
// fresh trials every 25 updates), within 500 updates. Measured on three seeds: reached at update 75 (seed 2),
// within about 150 (seed 1, this test) and at 475 (seed 3), the accuracy between evaluations swinging by up to
// 0.1 at Adam's fixed rate.
nlohmann::json train_cue_accumulation(const char* model_file, long steps, const std::string& stop_when) {
  TrainConfig c;
  c.model = model(model_file);
  c.task = "cue_accumulation";
  c.algorithm = "eprop";
  c.algorithm_options = {{"feedback", "random"}, {"reg", "1"}};
  c.steps = steps;
  c.batch = 32;
  c.optimizer = "adam";
  c.lr = 0.005;
  c.eval_every = 25;
  c.eval_batch = 256;
  c.stop_when = stop_when;
  c.out = temp_dir(model_file);
  train(c);
  std::ifstream in(c.out + "/summary.json");
  const auto summary = nlohmann::json::parse(in);
  fs::remove_all(c.out);
  return summary;
}

TEST(SpikingLearning, EpropSolvesCueAccumulationWithAdaptiveNeurons) {
  const auto s = train_cue_accumulation("cue_lsnn.dot", 500, "decision_accuracy>=0.93");
  EXPECT_TRUE(s["stopped_early"].get<bool>()) << s.dump(2);
  EXPECT_GE(s["eval_metrics"]["decision_accuracy"].get<double>(), 0.93);
  EXPECT_LE(s["step"].get<long>(), 500);
}

TEST(SpikingLearning, WithoutAdaptationTheSameNetworkStaysNearChance) {
  // 100 LIF neurons with 20 ms membranes cannot hold the cues over the second-long delay.
  const auto s = train_cue_accumulation("cue_lif.dot", 250, "");
  EXPECT_LE(s["eval_metrics"]["decision_accuracy"].get<double>(), 0.7);
}

TEST(SpikingAlign, EpropVariantsAgainstTheExactSurrogateGradient) {
  // 20 spiking neurons at dt = 5 ms (450-step trials), driven by symmetric e-prop; the reference is RTRL's exact
  // (surrogate) gradient.
  const std::string dot = temp_dir("align.dot");
  std::ofstream(dot) << R"(digraph small {
    x [kind=input size=40];
    lif [kind=lif size=10 dt=5 n_ref=1];
    alif [kind=alif size=10 dt=5 n_ref=1 tau_a=2000 beta=0.0192];
    y [kind=output size=2 kappa=0.7788];
    x -> lif; x -> alif;
    lif -> lif [delay=1]; alif -> lif [delay=1]; lif -> alif [delay=1]; alif -> alif [delay=1];
    lif -> y; alif -> y;
  })";
  AlignConfig c;
  c.model = dot;
  c.task = "cue_accumulation";
  c.task_options = {{"dt", "5"}};
  c.algorithms = {"rtrl", "eprop:feedback=symmetric", "eprop:feedback=random",
                  "eprop:feedback=adaptive:rule=symmetric_alignment:feedback_lr=0.2"};
  c.drive = "eprop";
  c.drive_options = {{"feedback", "symmetric"}};
  c.optimizer = "adam";
  c.lr = 0.005;
  c.batch = 4;
  c.steps = 1800;
  c.out = temp_dir("align");
  const auto rows = align(c);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_GT(rows[0].mean_cosine, 1 - 1e-6);
  EXPECT_GT(rows[0].mean_cosine_recurrent, 1 - 1e-6);
  // Every e-prop variant has the readout exactly; on the recurrent parameters symmetric feedback points with the
  // exact gradient and random feedback does not.
  EXPECT_GT(rows[1].mean_cosine_recurrent, 0.4);
  EXPECT_LT(rows[2].mean_cosine_recurrent, rows[1].mean_cosine_recurrent - 0.2);
  EXPECT_FALSE(rows[1].block_cosines.empty());
  // Random B stays unaligned with Wᵀ; symmetric alignment learns it (fast enough to follow W, which the online
  // Adam driver moves by about lr per entry and step).
  ASSERT_EQ(rows[2].diagnostics.size(), 2u);
  ASSERT_EQ(rows[3].diagnostics.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    EXPECT_LT(std::abs(rows[2].diagnostics[k].second.second), 0.5) << rows[2].diagnostics[k].first;
    EXPECT_LT(rows[3].diagnostics[k].second.first, 0.5) << rows[3].diagnostics[k].first;
    EXPECT_GT(rows[3].diagnostics[k].second.second, 0.9) << rows[3].diagnostics[k].first;
  }
  EXPECT_TRUE(fs::exists(c.out + "/diagnostics.csv"));
  fs::remove_all(c.out);
  fs::remove(dot);
}

TEST(SpikingCheck, SaysFiniteDifferencesDoNotApplyAndChecksTheRest) {
  const std::string cmd = std::string(CREDO_BINARY) + " check --model " + model("cue_lsnn.dot") +
                          " --steps 4 --batch 1 --fd-per-block 4 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("finite differences do not apply to lif, alif"), std::string::npos) << out;
  EXPECT_NE(out.find("rtrl vs bptt"), std::string::npos) << out;
  EXPECT_NE(out.find("bptt vs finite differences     W[alif -> y]"), std::string::npos) << out;
}

}  // namespace
}  // namespace credo
