// The credo program on bad input: a clear message naming the culprit, exit status 2, no results written.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int status = -1;
  std::string output;  // stdout and stderr together
};

Outcome run(const std::string& args) {
  const std::string cmd = std::string(CREDO_BINARY) + " " + args + " 2>&1";
  Outcome o;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
  const int st = ::pclose(p);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("credo_cli_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string model(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  // Trains on `model_path` and expects a failure that names `needle`, with nothing written to the output.
  void expect_rejected(const std::string& args, const std::string& needle) {
    const auto out = dir_ / "out";
    const Outcome o = run(args + " --out " + out.string());
    EXPECT_EQ(o.status, 2) << o.output;
    EXPECT_NE(o.output.find(needle), std::string::npos) << "message does not name '" << needle << "': " << o.output;
    EXPECT_FALSE(fs::exists(out / "summary.json"));
    EXPECT_FALSE(fs::exists(out / "metrics.csv"));
  }
  std::string train(const std::string& model_path, const std::string& rest = "") {
    return "train --model " + model_path + " --task delayed_recall --algo bptt --steps 2 " + rest;
  }

  fs::path dir_;
};

const char* good = R"(digraph m { x [kind=input size=6]; h [kind=tanh size=4]; y [kind=output size=4];
  x -> h; h -> h [delay=1]; h -> y; })";

TEST_F(Cli, TrainsAndWritesEveryResultFile) {
  const auto out = dir_ / "ok";
  const Outcome o = run(train(model("m.dot", good)) + " --out " + out.string());
  ASSERT_EQ(o.status, 0) << o.output;
  for (const char* f : {"summary.json", "metrics.csv", "config.json", "model.dot"}) EXPECT_TRUE(fs::exists(out / f)) << f;
  std::ifstream in(out / "summary.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  for (const char* key : {"eval_loss", "chance_loss", "eval_accuracy", "steps_per_second", "peak_rss_mb"})
    EXPECT_NE(text.find(key), std::string::npos) << key;
  // Output piped: no progress line.
  EXPECT_EQ(o.output.find('\r'), std::string::npos);
}

TEST_F(Cli, CompareSweepsAlgorithmsRatesAndSeeds) {
  const auto out = dir_ / "cmp";
  const Outcome o = run("compare --model " + model("m.dot", good) +
                        " --task delayed_recall --algos bptt,tbptt:k1=2:k2=4 --lrs 0.01,0.003 --seeds 1,2 --steps 2 "
                        "--batch 4 --eval-batch 8 --out " + out.string());
  ASSERT_EQ(o.status, 0) << o.output;
  std::ifstream in(out / "summary.csv");
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 1 + 2 * 2 * 2);
  EXPECT_TRUE(fs::exists(out / "tbptt_k1-2_k2-4" / "lr0.003_seed2" / "summary.json"));
  EXPECT_NE(o.output.find(" ± "), std::string::npos) << o.output;
  // A bad list entry is refused before anything runs.
  const Outcome bad = run("compare --model " + model("m.dot", good) +
                          " --task delayed_recall --algos bptt,nosuch --steps 2 --out " + (dir_ / "cmp2").string());
  EXPECT_EQ(bad.status, 2);
  EXPECT_FALSE(fs::exists(dir_ / "cmp2" / "bptt"));
}

TEST_F(Cli, MalformedDot) { expect_rejected(train(model("bad.dot", "digraph m { x [kind=input size=6; }")), "bad.dot"); }

TEST_F(Cli, MissingModelFile) { expect_rejected(train((dir_ / "nope.dot").string()), "nope.dot"); }

TEST_F(Cli, UnknownKind) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=6]; h [kind=tahn size=4];
    y [kind=output size=4]; x -> h; h -> y; })")),
                  "node 'h': unknown kind 'tahn'");
}

TEST_F(Cli, MissingSize) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=6]; h [kind=tanh];
    y [kind=output size=4]; x -> h; h -> y; })")),
                  "node 'h': missing attribute 'size'");
}

TEST_F(Cli, NonPositiveSize) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=6]; h [kind=tanh size=0];
    y [kind=output size=4]; x -> h; h -> y; })")),
                  "node 'h'");
}

TEST_F(Cli, CycleWithoutDelay) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=6]; a [kind=tanh size=4];
    b [kind=tanh size=4]; y [kind=output size=4]; x -> a; a -> b; b -> a; b -> y; })")),
                  "'a', 'b' form a cycle with no delayed edge");
}

TEST_F(Cli, SelfLoopWithoutDelay) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=6]; h [kind=tanh size=4];
    y [kind=output size=4]; x -> h; h -> h; h -> y; })")),
                  "edge 'h -> h'");
}

TEST_F(Cli, OutputNothingReaches) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=6]; h [kind=tanh size=4];
    y [kind=output size=4]; x -> h; })")),
                  "node 'y': no input reaches this output");
}

TEST_F(Cli, UnknownEdgeAttribute) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=6]; h [kind=tanh size=4];
    y [kind=output size=4]; x -> h [dealy=1]; h -> y; })")),
                  "edge 'x -> h': unknown attribute 'dealy'");
}

TEST_F(Cli, NegativeDelay) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=6]; h [kind=tanh size=4];
    y [kind=output size=4]; x -> h; h -> h [delay=-1]; h -> y; })")),
                  "edge 'h -> h'");
}

TEST_F(Cli, KindAttributeOutOfRange) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=6]; h [kind=tanh size=4 alpha=2];
    y [kind=output size=4]; x -> h; h -> y; })")),
                  "node 'h': option 'alpha'");
}

TEST_F(Cli, SizesThatDoNotFitTheTask) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=3]; h [kind=tanh size=4];
    y [kind=output size=4]; x -> h; h -> y; })")),
                  "input populations hold 3 units");
}

TEST_F(Cli, LossThatDoesNotFitTheTask) {
  expect_rejected(train(model("m.dot", R"(digraph m { x [kind=input size=6]; h [kind=tanh size=4];
    y [kind=output size=4 loss=mse]; x -> h; h -> y; })")),
                  "node 'y': loss=mse");
}

TEST_F(Cli, UnknownTask) {
  expect_rejected("train --model " + model("m.dot", good) + " --task recal --algo bptt", "unknown task 'recal'");
}

TEST_F(Cli, UnknownAlgorithm) {
  expect_rejected("train --model " + model("m.dot", good) + " --task delayed_recall --algo rtlr",
                  "unknown credit algorithm 'rtlr'");
}

TEST_F(Cli, UnknownOption) {
  expect_rejected(train(model("m.dot", good), "--task-opt dealy=3"), "unknown option 'dealy'");
  expect_rejected(train(model("m.dot", good), "--algo-opt k1=3"), "unknown option 'k1'");
  expect_rejected(train(model("m.dot", good), "--bogus 1"), "bogus");
}

TEST_F(Cli, ValueOutOfRange) {
  expect_rejected(train(model("m.dot", good), "--task-opt values=1"), "option 'values'");
  expect_rejected(train(model("m.dot", good), "--lr -1"), "--lr");
  expect_rejected(train(model("m.dot", good), "--optimizer rmsprop"), "--optimizer");
  expect_rejected(
      "train --model " + model("m.dot", good) + " --task delayed_recall --algo tbptt --algo-opt k1=0 --steps 2",
      "option 'k1'");
}

TEST_F(Cli, StopWhenEndsTheRunAtTheFirstEvaluationThatMeetsIt) {
  expect_rejected(train(model("m.dot", good), "--stop-when 'accuracy>0.9'"), "--stop-when 'accuracy>0.9'");
  expect_rejected(train(model("m.dot", good), "--stop-when 'eval_loss<=abc'"), "'abc' is not a finite number");
  expect_rejected(train(model("m.dot", good), "--stop-when 'decision_accuracy>=0.9'"),
                  "reports no metric 'decision_accuracy' (it reports eval_loss, eval_accuracy)");
  // Any loss is below 1e9: the run stops at its first evaluation (step 0), finished, with the reason.
  const auto out = dir_ / "early";
  Outcome o = run(train(model("m.dot", good), "--eval-every 1 --stop-when 'eval_loss<=1e9' --out " +
                                                  out.string()));
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("stopped early: eval_loss = "), std::string::npos) << o.output;
  std::ifstream in(out / "summary.json");
  auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary.at("status"), "finished");
  EXPECT_EQ(summary.at("stopped_early"), true);
  EXPECT_EQ(summary.at("step"), 0);
  // A criterion never met: every step runs.
  const auto all = dir_ / "all";
  o = run(train(model("m.dot", good), "--eval-every 1 --stop-when 'eval_accuracy>=2' --out " + all.string()));
  ASSERT_EQ(o.status, 0) << o.output;
  std::ifstream in2(all / "summary.json");
  summary = nlohmann::json::parse(in2);
  EXPECT_EQ(summary.at("stopped_early"), false);
  EXPECT_EQ(summary.at("step"), 2);
}

TEST_F(Cli, UnwritableOut) {
  const auto file = dir_ / "a_file";
  std::ofstream(file) << "x";
  const Outcome o = run(train(model("m.dot", good)) + " --out " + (file / "sub").string());
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("--out"), std::string::npos) << o.output;
}

TEST_F(Cli, UnknownCommandAndHelp) {
  EXPECT_EQ(run("frobnicate").status, 2);
  for (const char* c : {"train", "compare", "align", "check", "graph", "list"}) {
    const Outcome o = run(std::string(c) + " --help");
    EXPECT_EQ(o.status, 0) << c;
    EXPECT_NE(o.output.find("usage: credo"), std::string::npos) << c;
  }
}

TEST_F(Cli, GraphWritesDotThatReadsBack) {
  const auto out = dir_ / "norm.dot";
  const Outcome o = run("graph " + std::string(CREDO_SOURCE_DIR) + "/models/two_layer.dot --write-dot " + out.string());
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("parameters 3188"), std::string::npos) << o.output;
  const Outcome again = run("graph " + out.string());
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("parameters 3188"), std::string::npos) << again.output;
  // Names, kinds, attributes and delays survive the round trip.
  for (const char* s : {"model 'two_layer'", "  h1 ", "alpha=0.7", "h2 -> h1 [delay=2]", "forget_bias=1"})
    EXPECT_NE(again.output.find(s), std::string::npos) << s << " in " << again.output;
  EXPECT_EQ(again.output.find("\"h1\""), std::string::npos) << again.output;
}

TEST_F(Cli, CheckPassesOnAModelAndListsEveryAlgorithm) {
  const Outcome o = run("check --model " + std::string(CREDO_SOURCE_DIR) + "/models/gru.dot");
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("rtrl vs bptt"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("all gradients agree"), std::string::npos) << o.output;
  EXPECT_EQ(run("check --model " + std::string(CREDO_SOURCE_DIR) + "/models/gru.dot --algo nosuch").status, 2);
}

TEST_F(Cli, ListShowsKindsAlgorithmsAndTasks) {
  const Outcome o = run("list");
  ASSERT_EQ(o.status, 0);
  for (const char* name : {"lstm", "gru", "tanh", "output", "input", "bptt", "tbptt", "rtrl", "copy", "adding",
                           "add ", "delayed_recall", "assoc_retrieval", "assoc_recall", "bit_copy", "k2=10",
                           "alpha=1"})
    EXPECT_NE(o.output.find(name), std::string::npos) << name;
}

const char* bit_copy_lstm = R"(digraph m { x [kind=input size=9]; h [kind=lstm size=8]; y [kind=output size=8];
  x -> h; h -> h [delay=1]; h -> y; })";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST_F(Cli, EvalTaskOptEvaluatesOnOtherSettingsAndReportsTaskMetrics) {
  const auto out = dir_ / "bc";
  const std::string m = model("m.dot", bit_copy_lstm);
  const Outcome o = run("train --model " + m + " --task bit_copy --algo bptt --steps 2 --batch 4 --eval-batch 8 " +
                        "--eval-task-opt min_length=40 --eval-task-opt max_length=40 --out " + out.string());
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("error_bits_per_sequence: "), std::string::npos) << o.output;
  const std::string csv = slurp(out / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "step,train_loss,eval_loss,eval_accuracy,wall_seconds,error_bits_per_sequence");
  const auto config = nlohmann::json::parse(slurp(out / "config.json"));
  EXPECT_EQ(config.at("eval_task_options"), nlohmann::json({{"min_length", "40"}, {"max_length", "40"}}));
  EXPECT_EQ(config.at("task_options").at("max_length"), "20");
  const auto summary = nlohmann::json::parse(slurp(out / "summary.json"));
  // Lengths of 40 at evaluation: about half of 320 recalled bits wrong before training.
  EXPECT_GT(summary.at("eval_metrics").at("error_bits_per_sequence").get<double>(), 100) << summary.dump();
  // compare passes the overrides to every run.
  const auto cmp = dir_ / "cmp";
  const Outcome c = run("compare --model " + m + " --task bit_copy --algos bptt,tbptt:k1=5:k2=5 --steps 2 --batch 4 " +
                        "--eval-batch 8 --eval-task-opt max_length=30 --out " + cmp.string());
  ASSERT_EQ(c.status, 0) << c.output;
  for (const char* name : {"bptt", "tbptt_k1-5_k2-5"})
    EXPECT_EQ(nlohmann::json::parse(slurp(cmp / name / "config.json")).at("eval_task_options"),
              nlohmann::json({{"max_length", "30"}}))
        << name;
  // A task without metrics adds no columns.
  const auto plain = dir_ / "plain";
  ASSERT_EQ(run(train(model("g.dot", good)) + " --out " + plain.string()).status, 0);
  const std::string plain_csv = slurp(plain / "metrics.csv");
  EXPECT_EQ(plain_csv.substr(0, plain_csv.find('\n')), "step,train_loss,eval_loss,eval_accuracy,wall_seconds");
}

TEST_F(Cli, EvalTaskOptIsCheckedLikeTaskOpt) {
  const std::string m = model("m.dot", bit_copy_lstm);
  const std::string args = "train --model " + m + " --task bit_copy --algo bptt --steps 2 ";
  expect_rejected(args + "--eval-task-opt lenght=40", "--eval-task-opt: task 'bit_copy': unknown option 'lenght'");
  expect_rejected(args + "--eval-task-opt max_length=0", "--eval-task-opt: task 'bit_copy': option 'max_length'");
  expect_rejected(args + "--eval-task-opt min_length=21", "--eval-task-opt: task 'bit_copy': min_length (21)");
  expect_rejected(args + "--eval-task-opt bits=4", "--eval-task-opt: task 'bit_copy' would then have 5 inputs");
  expect_rejected(args + "--eval-task-opt max_length", "--eval-task-opt");
  const Outcome bad = run("compare --model " + m + " --task bit_copy --algos bptt --steps 2 --eval-task-opt foo=1 " +
                          "--out " + (dir_ / "cmp").string());
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("--eval-task-opt: task 'bit_copy': unknown option 'foo'"), std::string::npos)
      << bad.output;
  EXPECT_FALSE(fs::exists(dir_ / "cmp" / "bptt"));
}

TEST_F(Cli, GraphAcceptsAnyExplicitLoss) {
  for (const char* loss : {"softmax_xent", "sigmoid_xent", "mse", "auto"}) {
    const Outcome o = run("graph " + model("m.dot", std::string(R"(digraph m { x [kind=input size=6];
      h [kind=tanh size=4]; y [kind=output size=4 loss=)") + loss + "]; x -> h; h -> h [delay=1]; h -> y; }"));
    EXPECT_EQ(o.status, 0) << loss << ": " << o.output;
    EXPECT_NE(o.output.find(std::string("loss=") + loss), std::string::npos) << o.output;
  }
}

TEST_F(Cli, CheckBoundsStepsAndBatch) {
  const std::string m = model("m.dot", good);
  for (const auto& [args, needle] : {std::pair<std::string, std::string>{"--steps 100000000", "--steps"},
                                     {"--batch 100000000", "--batch"},
                                     {"--steps 0", "--steps"},
                                     {"--steps 10000 --batch 1000", "--steps x --batch"},
                                     {"--fd-per-block -2", "--fd-per-block"}}) {
    const Outcome o = run("check --model " + m + " " + args);
    EXPECT_EQ(o.status, 2) << args << ": " << o.output;
    EXPECT_NE(o.output.find(needle), std::string::npos) << args << ": " << o.output;
  }
}

TEST_F(Cli, CheckScoresEverySequenceWithOneStep) {
  for (const char* seed : {"1", "2", "3", "4", "5"}) {
    const Outcome o = run("check --model " + std::string(CREDO_SOURCE_DIR) +
                          "/models/elman.dot --steps 1 --batch 1 --seed " + seed);
    EXPECT_EQ(o.status, 0) << "seed " << seed << ": " << o.output;
  }
}

TEST_F(Cli, CheckHandlesLargeModelsAndSaysWhatItSampled) {
  // 69636 parameters: the check used to build a P x P identity (39 GB) and failed with bad_alloc.
  const Outcome o = run("check --model " + model("lstm128.dot", R"(digraph lstm { x [kind=input size=6];
    h [kind=lstm size=128]; y [kind=output size=4]; x -> h; h -> h [delay=1]; h -> y; })") +
                        " --steps 2 --batch 1");
  EXPECT_EQ(o.status, 0) << o.output;
  for (const char* s : {"69636 parameters", "random subset: at most 64 coordinates per parameter block",
                        "1e-3 * max(|a_all|, |b_all|)", "all gradients agree"})
    EXPECT_NE(o.output.find(s), std::string::npos) << s << " in " << o.output;
  // Small models: every coordinate.
  const Outcome small = run("check --model " + model("m.dot", good));
  EXPECT_EQ(small.status, 0) << small.output;
  EXPECT_NE(small.output.find("finite differences on every coordinate"), std::string::npos) << small.output;
}

}  // namespace

namespace {

// A credo command started in the background, with its output going to `log`.
pid_t start(const std::string& args, const fs::path& log) {
  const std::string cmd = "exec " + std::string(CREDO_BINARY) + " " + args + " > " + log.string() + " 2>&1";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Exit status, or 128 + the signal that ended it.
int finish(pid_t pid) {
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

size_t lines(const fs::path& p) {
  const std::string text = read(p);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Waits (up to a minute) until `file` has at least `n` lines.
bool wait_for_lines(const fs::path& file, size_t n) {
  for (int i = 0; i < 600; ++i) {
    if (fs::exists(file) && lines(file) >= n) return true;
    ::usleep(100'000);
  }
  return false;
}

bool under_asan() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#endif
#endif
  return false;
}

// An online run long enough to be stopped part-way.
std::string long_run(int eval_every = 200) {
  return "train --model " + std::string(CREDO_SOURCE_DIR) +
         "/models/elman.dot --task add --algo rtrl --batch 1 --steps 100000000 --eval-every " +
         std::to_string(eval_every);
}

// A model whose RTRL influence matrix (N x P per sequence) does not fit in 200 MB.
const char* big_rnn = R"(digraph m { x [kind=input size=1]; h [kind=tanh size=256]; y [kind=output size=1];
  x -> h; h -> h [delay=1]; h -> y; })";

TEST_F(Cli, RefusesAFolderHoldingAnotherRunUnlessToldToReplaceIt) {
  const auto out = dir_ / "run";
  ASSERT_EQ(run(train(model("m.dot", good)) + " --out " + out.string()).status, 0);
  const std::string before = read(out / "summary.json");
  // A second run (a quick test, say) must not replace a finished one.
  const Outcome again = run(train(model("m.dot", good), "--seed 2") + " --out " + out.string());
  EXPECT_EQ(again.status, 2) << again.output;
  EXPECT_NE(again.output.find("--out " + out.string() + ": the folder already holds the results of a run"),
            std::string::npos)
      << again.output;
  EXPECT_NE(again.output.find("--overwrite"), std::string::npos) << again.output;
  EXPECT_EQ(read(out / "summary.json"), before);
  // Asked to, it replaces them.
  const Outcome replaced = run(train(model("m.dot", good), "--seed 2 --overwrite") + " --out " + out.string());
  EXPECT_EQ(replaced.status, 0) << replaced.output;
  EXPECT_NE(read(out / "summary.json"), before);
  EXPECT_EQ(nlohmann::json::parse(read(out / "config.json")).at("seed"), 2);
  // compare and align check every folder before the first run.
  const Outcome cmp = run("compare --model " + model("m.dot", good) +
                          " --task delayed_recall --algos bptt --steps 1 --batch 2 --eval-batch 4 --out " + out.string());
  EXPECT_EQ(cmp.status, 2) << cmp.output;
  const Outcome aln = run("align --model " + std::string(CREDO_SOURCE_DIR) +
                          "/models/elman.dot --task add --algos rtrl --steps 3 --out " + out.string());
  EXPECT_EQ(aln.status, 2) << aln.output;
  EXPECT_NE(aln.output.find("already holds the results of a run"), std::string::npos) << aln.output;
}

TEST_F(Cli, AFailedRunRemovesOnlyWhatItWroteAndNoFolderItCreatedStaysEmpty) {
  if (under_asan()) GTEST_SKIP() << "ulimit -v cannot be used under AddressSanitizer";
  const std::string big = model("big.dot", big_rnn);
  // 200 MB of address space: the RTRL influence matrix of this model does not fit, the program does.
  auto shell = [&](const fs::path& out) {
    const std::string cmd = "sh -c 'ulimit -v 200000; exec " + std::string(CREDO_BINARY) + " train --model " + big +
                            " --task add --algo rtrl --steps 10 --out " + out.string() + "' 2>&1";
    Outcome o;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
    const int st = ::pclose(p);
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return o;
  };
  // A folder with someone's notes in it: the notes stay, and so does the folder; nothing of the run does.
  const auto mine = dir_ / "mine";
  fs::create_directories(mine);
  std::ofstream(mine / "notes.txt") << "keep me";
  Outcome o = shell(mine);
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("out of memory"), std::string::npos) << o.output;
  EXPECT_EQ(read(mine / "notes.txt"), "keep me");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(mine)) ++entries;
  EXPECT_EQ(entries, 1u);
  // A folder this run created, two levels deep: gone again, with its parent.
  o = shell(dir_ / "new" / "deep");
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_FALSE(fs::exists(dir_ / "new")) << o.output;
  // A folder holding an earlier run's results: refused before anything is touched.
  const auto prev = dir_ / "prev";
  fs::create_directories(prev);
  std::ofstream(prev / "summary.json") << "{\"earlier\": true}";
  o = shell(prev);
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("already holds the results of a run (summary.json)"), std::string::npos) << o.output;
  EXPECT_EQ(read(prev / "summary.json"), "{\"earlier\": true}");
}

TEST_F(Cli, BadInputLeavesNoFolderBehind) {
  const auto out = dir_ / "never" / "made";
  const Outcome o = run(train(model("m.dot", good), "--algo-opt nosuch=1") + " --out " + out.string());
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_FALSE(fs::exists(dir_ / "never"));
  const Outcome c = run("compare --model " + model("m.dot", good) + " --task delayed_recall --algos bptt,nosuch --out " +
                        out.string());
  EXPECT_EQ(c.status, 2) << c.output;
  EXPECT_FALSE(fs::exists(dir_ / "never"));
}

void expect_stops_cleanly(const fs::path& dir, int signal) {
  const auto out = dir / "run";
  const pid_t pid = start(long_run() + " --out " + out.string(), dir / "log");
  // config.json comes before the first step; metrics.csv grows with each evaluation.
  ASSERT_TRUE(wait_for_lines(out / "metrics.csv", 4)) << read(dir / "log");
  EXPECT_TRUE(fs::exists(out / "config.json"));
  ::kill(pid, signal);
  EXPECT_EQ(finish(pid), 128 + signal) << read(dir / "log");
  const auto summary = nlohmann::json::parse(read(out / "summary.json"));
  EXPECT_EQ(summary.at("status"), "interrupted");
  EXPECT_GE(summary.at("step").get<long>(), 400);
  EXPECT_NE(summary.at("reason").get<std::string>().find(signal == SIGINT ? "SIGINT" : "SIGTERM"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(read(out / "config.json")).at("algorithm"), "rtrl");
  // The training loss since the last evaluation is kept too: the last row is at the step reached.
  const std::string metrics = read(out / "metrics.csv");
  EXPECT_NE(metrics.find("\n" + std::to_string(summary.at("step").get<long>()) + ","), std::string::npos) << metrics;
}

TEST_F(Cli, SigintStopsARunCleanly) { expect_stops_cleanly(dir_, SIGINT); }

TEST_F(Cli, SigtermStopsARunCleanly) { expect_stops_cleanly(dir_, SIGTERM); }

TEST_F(Cli, SigkillLeavesOnlyCompleteFiles) {
  const auto out = dir_ / "run";
  const pid_t pid = start(long_run(20) + " --out " + out.string(), dir_ / "log");
  ASSERT_TRUE(wait_for_lines(out / "metrics.csv", 20)) << read(dir_ / "log");
  ::kill(pid, SIGKILL);
  EXPECT_EQ(finish(pid), 128 + SIGKILL);
  for (const auto& name : {"config.json", "model.dot", "metrics.csv"}) ASSERT_TRUE(fs::exists(out / name)) << name;
  EXPECT_TRUE(nlohmann::json::accept(read(out / "config.json")));
  EXPECT_EQ(read(out / "model.dot").substr(read(out / "model.dot").size() - 2), "}\n");
  const std::string metrics = read(out / "metrics.csv");
  ASSERT_EQ(metrics.back(), '\n');
  std::istringstream rows(metrics);
  for (std::string row; std::getline(rows, row);) EXPECT_EQ(std::count(row.begin(), row.end(), ','), 4) << row;
  if (fs::exists(out / "summary.json")) {
    EXPECT_TRUE(nlohmann::json::accept(read(out / "summary.json")));
  }
}

TEST_F(Cli, CompareStopsCleanlyOnSigint) {
  const auto out = dir_ / "cmp";
  const pid_t pid = start("compare --model " + std::string(CREDO_SOURCE_DIR) +
                              "/models/elman.dot --task add --algos rtrl,bptt --batch 1 --steps 100000000 "
                              "--eval-every 200 --out " + out.string(),
                          dir_ / "log");
  ASSERT_TRUE(wait_for_lines(out / "rtrl" / "metrics.csv", 4)) << read(dir_ / "log");
  ::kill(pid, SIGINT);
  EXPECT_EQ(finish(pid), 130) << read(dir_ / "log");
  EXPECT_EQ(nlohmann::json::parse(read(out / "rtrl" / "summary.json")).at("status"), "interrupted");
  const std::string csv = read(out / "summary.csv");
  EXPECT_NE(csv.find("\"rtrl\",0.001,1,interrupted,"), std::string::npos) << csv;
  EXPECT_FALSE(fs::exists(out / "bptt")) << "a run started after the stop";
}

TEST_F(Cli, DivergenceStopsTheRunWithItsOwnStatus) {
  const std::string elman = std::string(CREDO_SOURCE_DIR) + "/models/elman.dot";
  // A loss of 1e30 against a chance level of 0.66 used to pass silently, and NaN with a warning and status 0.
  for (const auto& [lr, reason] : {std::pair<std::string, std::string>{"1e30", "over 100 x the chance loss"},
                                   {"3e38", "NaN"}}) {
    const auto out = dir_ / ("lr" + lr);
    const Outcome o = run("train --model " + elman + " --task add --algo rtrl --optimizer sgd --batch 1 --steps 2000 --lr " +
                          lr + " --out " + out.string());
    EXPECT_EQ(o.status, 4) << lr << ": " << o.output;
    EXPECT_NE(o.output.find("training diverged"), std::string::npos) << o.output;
    const auto summary = nlohmann::json::parse(read(out / "summary.json"));
    EXPECT_EQ(summary.at("status"), "diverged") << lr;
    EXPECT_LT(summary.at("step").get<long>(), 2000) << lr << ": the run went on after diverging";
    EXPECT_NE(summary.at("reason").get<std::string>().find(reason), std::string::npos) << summary.dump();
  }
  // In a sweep, a diverged run is reported as such and the others go on.
  const auto out = dir_ / "sweep";
  const Outcome c = run("compare --model " + elman +
                        " --task add --algos rtrl --optimizer sgd --batch 1 --steps 600 --lrs 1e30,0.01 --out " +
                        out.string());
  EXPECT_EQ(c.status, 4) << c.output;
  const std::string csv = read(out / "summary.csv");
  EXPECT_NE(csv.find("\"rtrl\",1e+30,1,diverged,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\"rtrl\",0.01,1,finished,600,"), std::string::npos) << csv;
  EXPECT_NE(c.output.find("1 diverged"), std::string::npos) << c.output;
}

TEST_F(Cli, NegativeSeedIsRefused) {
  const std::string out = " --out " + (dir_ / "seed").string();
  for (const std::string& cmd : {train(model("m.dot", good)) + out, std::string("check --model ") + model("m.dot", good),
                                 "align --model " + std::string(CREDO_SOURCE_DIR) + "/models/elman.dot --task add "
                                 "--algos rtrl --steps 2" + out}) {
    const Outcome o = run(cmd + " --seed -1");
    EXPECT_EQ(o.status, 2) << cmd << ": " << o.output;
    EXPECT_NE(o.output.find("--seed is '-1'"), std::string::npos) << o.output;
  }
}

TEST_F(Cli, ModelsStateNumbersInScientificNotationAndStrictGraphsKeepTheirLoops) {
  const Outcome o = run("graph " + model("m.dot", R"(strict digraph m { x [kind=input size=6]; h [kind=tanh size=1e1];
    y [kind=output size=4]; x -> h [gain=5e-1]; h -> h [delay=1]; h -> y; })"));
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("h -> h [delay=1]"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("gain=0.5"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("state size 10"), std::string::npos) << o.output;
}

}  // namespace
