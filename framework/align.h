// Gradient alignment: several credit algorithms follow one trajectory; each gradient is compared with the
// exact one (Marschall, Cho & Savin 2020's central figure).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
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
  // The same over the recurrent parameters only: every parameter driving a hidden population (input and
  // recurrent weights, hidden biases), leaving out the readout, whose gradient local rules get exactly (the
  // convention of Marschall et al. 2020's alignment figures).
  long samples_recurrent = 0;
  double mean_cosine_recurrent = 0, mean_norm_ratio_recurrent = 0;
  // Mean cosine per parameter block ("W[h -> h [delay=1]]", "b[h]"), in the Program's block order.
  std::vector<std::pair<std::string, double>> block_cosines;
  // The algorithm's diagnostics (e-prop and RFLO with learned feedback: cos(B, Wᵀ) per pathway) at the first and
  // the last step.
  std::vector<std::pair<std::string, std::pair<double, double>>> diagnostics;
};

// The reference is RTRL's online gradient summed over the same steps as each algorithm's gradient: per step
// for online algorithms, per k1 steps or per episode for truncated and whole-episode BPTT (with weights
// fixed over an episode this sum is BPTT's gradient). Writes DIR/alignment.csv (step, algorithm, cosine and norm
// ratio over all parameters, then over the recurrent ones), DIR/diagnostics.csv (every step's diagnostics, e.g.
// feedback alignment over training) and DIR/summary.json (with the mean cosine per parameter block).
std::vector<AlignSummary> align(const AlignConfig& config, AlignOutcome* outcome = nullptr);

}  // namespace credo
