// Gradient alignment: several credit algorithms follow one trajectory; each gradient is compared with the
// exact one (Marschall, Cho & Savin 2020's central figure).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace credo {

struct AlignConfig {
  std::string model;
  std::string task;
  std::map<std::string, std::string> task_options;
  std::vector<std::string> algorithms;  // specs: "name" or "name:k=v,k=v"
  std::string drive = "rtrl";           // the algorithm whose gradients update the weights
  std::map<std::string, std::string> drive_options;
  long steps = 1000;                    // time steps
  int batch = 1;
  std::string optimizer = "sgd";
  double lr = 0.01;
  double clip = 0;
  std::uint64_t seed = 1;
  int chunk = 100;
  std::string precision = "double";
  std::string out;
  bool overwrite = false;                     // replace the results a previous run left in `out`
  std::map<std::string, std::string> limits;  // ModelLimits overrides (graph.h)
};

// How an alignment run ended: finished, diverged (the driven weights became non-finite) or interrupted (a stop
// signal, framework/signals.h); it stops at that step and its files say so.
struct AlignOutcome {
  std::string status = "finished";
  std::string reason;
  int stop_signal = 0;
  long steps = 0;  // time steps run
};

struct AlignSummary {
  std::string algorithm;
  long samples = 0;
  double mean_cosine = 0, median_cosine = 0, mean_norm_ratio = 0;
};

// The reference is RTRL's online gradient summed over the same steps as each algorithm's gradient: per step
// for online algorithms, per k1 steps or per episode for truncated and whole-episode BPTT (with weights
// fixed over an episode this sum is BPTT's gradient). Writes DIR/alignment.csv and DIR/summary.json.
std::vector<AlignSummary> align(const AlignConfig& config, AlignOutcome* outcome = nullptr);

}  // namespace credo
