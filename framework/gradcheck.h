// Gradient checks in double precision: the Program's products against finite differences, and every exact
// credit algorithm against BPTT. Used by `credo check` and by the test suites.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/graph.h"

namespace credo {

struct CheckRow {
  std::string check;  // "vjp", "jvp", "influence", "bptt", or an algorithm's name
  std::string what;   // the population, projection or state block the error is about
  double error = 0;   // relative error |a - b| / max(|a|, |b|), in the 2-norm over the block
  double tolerance = 0;
  bool ok() const { return error <= tolerance; }
};

struct CheckOptions {
  std::uint64_t seed = 1;
  int steps = 6;
  int batch = 2;
  double tolerance = 1e-6;        // finite differences
  double exact_tolerance = 1e-9;  // exact algorithms against BPTT
  std::vector<std::string> algorithms;  // empty: every registered algorithm that claims to be exact
  // Bounds on the sequence, so that absurd sizes are errors rather than allocation failures.
  static constexpr int kMaxSteps = 10000;
  static constexpr int kMaxBatch = 1000;
  static constexpr long kMaxStepsTimesBatch = 20000;
};

// Runs every check on random inputs, targets and weights. Output populations with loss=auto are scored
// with softmax_xent (sigmoid_xent when they have one unit). The random sequence's mask scores every
// sequence at its last step (other steps at random), so the loss always depends on the parameters.
// Fails (InputError) if steps or batch are out of bounds.
std::vector<CheckRow> check_gradients(const ModelGraph& graph, const CheckOptions& options);

// Sets every output's loss=auto to `loss`; fails, naming the node, if an output asks for another loss.
void resolve_output_losses(ModelGraph& graph, const std::string& loss, const std::string& task_name);

}  // namespace credo
