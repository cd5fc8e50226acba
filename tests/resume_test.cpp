// Checkpoints through the credo program: a run killed (SIGKILL) or interrupted (SIGTERM) and resumed ends with the
// numbers of the run never interrupted, bit for bit; a finished run extended; damaged checkpoints and changed
// settings refused; --init-from, --config reruns, schedules, recordings and cost notes.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/workbench_util.h"

namespace credo::workbench_test {
namespace {

using Resume = ScratchTest;

const std::string kSource = CREDO_SOURCE_DIR;

nlohmann::json json_file(const fs::path& p) { return nlohmann::json::parse(slurp(p)); }

// metrics.csv without its wall-clock column (the one thing a resumed run may not repeat).
std::string metrics_without_time(const fs::path& p) {
  std::istringstream in(slurp(p));
  std::string line, out;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    if (cells.size() > 4) cells.erase(cells.begin() + 4);
    for (const auto& c : cells) out += c + ",";
    out += "\n";
  }
  return out;
}

void expect_same_run(const fs::path& a, const fs::path& b) {
  EXPECT_EQ(slurp(a / "params.npz"), slurp(b / "params.npz")) << "parameters differ";
  EXPECT_EQ(metrics_without_time(a / "metrics.csv"), metrics_without_time(b / "metrics.csv"));
  const auto sa = json_file(a / "summary.json"), sb = json_file(b / "summary.json");
  for (const char* key : {"eval_loss", "eval_accuracy", "updates", "time_steps", "status"}) EXPECT_EQ(sa[key], sb[key]) << key;
}

// Starts the credo program in the background; its pid.
pid_t start(const std::string& args, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string cmd = std::string(CREDO_BINARY) + " " + args + " > " + log.string() + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits until `file` exists (or the process ends); true if it appeared while the process still ran.
bool wait_for(const fs::path& file, pid_t pid) {
  for (int i = 0; i < 20000; ++i) {
    if (fs::exists(file)) return true;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// Starts `args` into dir/name (log: dir/name.log), sends `signal` once its first checkpoint exists, and waits for
// it to end. Returns whether it was still running at the checkpoint, and its wait status.
struct Stopped {
  bool running = false;
  int status = 0;
};
Stopped stop_after_first_checkpoint(const std::string& args, const fs::path& dir, const std::string& name,
                                    int signal) {
  const pid_t pid = start(args + " --out " + (dir / name).string(), dir / (name + ".log"));
  Stopped r;
  r.running = wait_for(dir / name / "checkpoint.ckpt", pid);
  ::kill(pid, signal);
  ::waitpid(pid, &r.status, 0);
  return r;
}

std::string model_64(const fs::path& dir) {
  const auto path = (dir / "rnn64.dot").string();
  std::ofstream(path) << "digraph rnn64 { x [kind=input size=1]; h [kind=tanh size=64]; y [kind=output size=1]; "
                         "x -> h; h -> h [delay=1]; h -> y; }";
  return path;
}

// A streaming task with a stochastic online algorithm (UORO's random signs, its rank-one factors, the stream's
// position all carried): killed with SIGKILL after its first checkpoint, resumed, the same numbers.
TEST_F(Resume, KilledAndResumedEndsAsIfNeverInterrupted) {
  const std::string args = "train --model " + model_64(dir_) +
                           " --task add --algo uoro --steps 20000 --batch 1 --optimizer sgd --lr 0.003 --chunk 70 "
                           "--eval-every 2000 --eval-steps 500 --checkpoint-every 300";
  auto o = credo(args + " --out " + path("whole"));
  ASSERT_EQ(o.status, 0) << o.output;
  const Stopped killed = stop_after_first_checkpoint(args, dir_, "killed", SIGKILL);
  ASSERT_TRUE(killed.running) << "the run ended before its first checkpoint: " << slurp(dir_ / "killed.log");
  ASSERT_FALSE(fs::exists(dir_ / "killed/summary.json")) << "the run finished before it was killed";
  o = credo("train --resume " + path("killed"));
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("resuming"), std::string::npos) << o.output;
  expect_same_run(dir_ / "whole", dir_ / "killed");
}

// An episodic task with episode updates, Adam, a cosine schedule with warm-up and weight decay, stopped by
// SIGTERM (it stops at the next time step, inside an episode, and saves a checkpoint there), resumed.
TEST_F(Resume, InterruptedAndResumedEndsAsIfNeverInterrupted) {
  const std::string args = "train --model " + kSource +
                           "/models/lstm.dot --task delayed_recall --task-opt delay=3 --algo bptt --steps 3000 "
                           "--batch 8 --lr 0.01 --lr-schedule cosine:min=0.1 --warmup 50 --weight-decay 0.001 "
                           "--eval-every 500 --eval-batch 64 --checkpoint-every 100";
  auto o = credo(args + " --out " + path("whole"));
  ASSERT_EQ(o.status, 0) << o.output;
  const Stopped stopped = stop_after_first_checkpoint(args, dir_, "stopped", SIGTERM);
  ASSERT_TRUE(stopped.running) << slurp(dir_ / "stopped.log");
  ASSERT_TRUE(WIFEXITED(stopped.status)) << "a stopped run exits by itself";
  ASSERT_EQ(WEXITSTATUS(stopped.status), 128 + SIGTERM) << slurp(dir_ / "stopped.log");
  EXPECT_EQ(json_file(dir_ / "stopped/summary.json")["status"], "interrupted");
  EXPECT_NE(slurp(dir_ / "stopped.log").find("credo train --resume"), std::string::npos);
  o = credo("train --resume " + path("stopped"));
  ASSERT_EQ(o.status, 0) << o.output;
  expect_same_run(dir_ / "whole", dir_ / "stopped");
  // The configuration records the schedule.
  const auto config = json_file(dir_ / "whole/config.json");
  EXPECT_EQ(config["lr_schedule"], "cosine:min=0.1");
  EXPECT_EQ(config["warmup"], 50);
  EXPECT_EQ(config["weight_decay"], 0.001);
}

// A finished run trained further: the same as training that long at once (constant rate, same evaluations).
TEST_F(Resume, AFinishedRunExtendedEqualsTheLongerRun) {
  const std::string args = "train --model " + kSource +
                           "/models/gru.dot --task delayed_recall --task-opt delay=2 --algo tbptt:k1=2:k2=3 "
                           "--batch 4 --lr 0.01 --eval-every 20 --eval-batch 32";
  auto o = credo(args + " --steps 60 --out " + path("long"));
  ASSERT_EQ(o.status, 0) << o.output;
  o = credo(args + " --steps 40 --out " + path("short"));
  ASSERT_EQ(o.status, 0) << o.output;
  o = credo("train --resume " + path("short") + " --steps 60");
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_EQ(slurp(dir_ / "long/params.npz"), slurp(dir_ / "short/params.npz"));
  EXPECT_EQ(metrics_without_time(dir_ / "long/metrics.csv"), metrics_without_time(dir_ / "short/metrics.csv"));
  // Nothing left to do: said so.
  o = credo("train --resume " + path("short"));
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("already made its 60 updates"), std::string::npos) << o.output;
}

TEST_F(Resume, DamagedCheckpointsAndChangedSettingsAreRefused) {
  const std::string run = path("run");
  auto o = credo("train --model " + kSource + "/models/elman.dot --task add --algo rtrl --steps 50 --batch 1 "
                 "--eval-steps 100 --checkpoint-every 20 --keep-checkpoints --out " + run);
  ASSERT_EQ(o.status, 0) << o.output;
  for (const char* f : {"checkpoint.ckpt", "checkpoints/update-20.ckpt", "checkpoints/update-40.ckpt",
                        "checkpoints/update-50.ckpt"})
    EXPECT_TRUE(fs::exists(dir_ / "run" / f)) << f;
  auto expect2 = [&](const std::string& args, const std::string& needle) {
    const auto r = credo(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
  };
  expect2("train --resume " + run + " --steps 80 --lr 0.1", "--lr would change it");
  expect2("train --resume " + path("nothing") + " --steps 80", "nothing");
  const std::string good = slurp(dir_ / "run/checkpoint.ckpt");
  std::string bad = good;
  bad[bad.size() / 2] ^= 0x10;
  write("run/checkpoint.ckpt", bad);
  expect2("train --resume " + run + " --steps 80", "CRC-32 mismatch");
  write("run/checkpoint.ckpt", good.substr(0, good.size() - 40));
  expect2("train --resume " + run + " --steps 80", "truncated");
  // Another model's checkpoint: the first block that differs is named.
  const std::string other = path("other.dot");
  std::ofstream(other) << "digraph other { x [kind=input size=1]; h [kind=tanh size=5]; y [kind=output size=1]; "
                          "x -> h; h -> h [delay=1]; h -> y; }";
  expect2("train --model " + other + " --task add --algo rtrl --steps 5 --batch 1 --init-from " +
              path("run/checkpoints/update-20.ckpt") + " --out " + path("other"),
          "another model");
  expect2("eval --run " + path("run/checkpoint.ckpt"), "run/checkpoint.ckpt");
}

TEST_F(Resume, InitFromConfigRerunAndCheckpointsOverTraining) {
  const std::string a = path("a");
  auto o = credo("train --model " + kSource + "/models/lstm.dot --task delayed_recall --task-opt delay=3 "
                 "--algo bptt --steps 40 --batch 8 --lr 0.01 --eval-batch 64 --checkpoint-every 20 "
                 "--keep-checkpoints --out " + a);
  ASSERT_EQ(o.status, 0) << o.output;
  const auto summary = json_file(dir_ / "a/summary.json");
  // A new run from A's weights starts where A ended: its first evaluation is A's last.
  o = credo("train --model " + kSource + "/models/lstm.dot --task delayed_recall --task-opt delay=3 --algo rtrl "
            "--steps 1 --batch 8 --eval-batch 64 --init-from " + a + " --out " + path("b"));
  ASSERT_EQ(o.status, 0) << o.output;
  const std::string b_metrics = slurp(dir_ / "b/metrics.csv");
  const auto row0 = b_metrics.substr(b_metrics.find('\n') + 1);
  const double start_loss = std::stod(row0.substr(row0.find(',', row0.find(',') + 1) + 1));
  // metrics.csv keeps six significant digits.
  EXPECT_NEAR(start_loss, summary["eval_loss"].get<double>(), 1e-5 * summary["eval_loss"].get<double>()) << b_metrics;
  EXPECT_EQ(json_file(dir_ / "b/config.json")["init_from"], a);
  // The same run again from its config.json, bit for bit; an option beside it overrides it.
  o = credo("train --config " + path("a/config.json") + " --out " + path("again"));
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_EQ(slurp(dir_ / "a/params.npz"), slurp(dir_ / "again/params.npz"));
  EXPECT_EQ(metrics_without_time(dir_ / "a/metrics.csv"), metrics_without_time(dir_ / "again/metrics.csv"));
  o = credo("train --config " + path("a/config.json") + " --lr 0.02 --steps 10 --out " + path("changed"));
  ASSERT_EQ(o.status, 0) << o.output;
  const auto changed = json_file(dir_ / "changed/config.json");
  EXPECT_EQ(changed["lr"], 0.02);
  EXPECT_EQ(changed["steps"], 10);
  EXPECT_EQ(changed["task_options"]["delay"], "3");
  // Weights over training: a checkpoint's parameters evaluated and exported.
  o = credo("eval --checkpoint " + path("a/checkpoints/update-20.ckpt") + " --out " + path("ev20"));
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NE(json_file(dir_ / "ev20/eval.json")["eval_loss"], summary["eval_loss"]);
  o = credo("params " + path("a/checkpoints/update-20.ckpt") + " --export " + path("w20.npz"));
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_TRUE(fs::exists(dir_ / "w20.npz"));
}

TEST_F(Resume, AlgoSpecsCostNotesProgressAndRecordings) {
  // snap:n=1 in the name:k=v form, on a model whose populations feed each other at delay 0: the dense path,
  // said at the start and in summary.json.
  const std::string two = path("stacked.dot");
  std::ofstream(two) << "digraph stacked { x [kind=input size=1]; h [kind=tanh size=6 alpha=0.5]; "
                        "g [kind=tanh size=4]; y [kind=output size=1]; x -> h; h -> h [delay=1]; h -> g; "
                        "g -> g [delay=1]; g -> y; }";
  auto o = credo("train --model " + two + " --task add --algo snap:n=1 --steps 30 --batch 1 --eval-steps 50 "
                 "--eval-every 10 --progress-every 1e-9 --record states,loss --record-sequences 2 --out " + path("s"));
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("note: snap n=1 runs the general masked path"), std::string::npos) << o.output;
  const auto summary = json_file(dir_ / "s/summary.json");
  EXPECT_NE(summary["cost_note"].get<std::string>().find("O(N^2 P)"), std::string::npos);
  EXPECT_EQ(json_file(dir_ / "s/config.json")["algorithm_options"]["n"], "1");
  // Not a terminal: plain progress lines, none redrawn.
  EXPECT_NE(o.output.find("update 10/30"), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find('\r'), std::string::npos);
  // The final evaluation recorded.
  const auto index = json_file(dir_ / "s/record/index.json");
  EXPECT_EQ(index["sequences"], 2);
  EXPECT_TRUE(index["arrays"].contains("state.h"));
  // The reference levels of add reach the summary.
  EXPECT_TRUE(summary.contains("reference_losses")) << summary.dump();
  o = credo("train --model " + two + " --task add --algo snap:n=1 --algo-opt n=2 --out " + path("x"));
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("--algo-opt sets n=2"), std::string::npos) << o.output;
}

}  // namespace
}  // namespace credo::workbench_test
