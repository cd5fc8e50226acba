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
  // Relative error in the 2-norm over the block: |a - b| / max(|a|, |b|, 1e-3 * max(|a_all|, |b_all|)), where
  // a_all, b_all are the whole vectors compared (every block checked in that comparison). The floor keeps a
  // block whose gradient is tiny next to the rest (say 1e-6 of it) from failing on finite-difference rounding
  // noise, which is relative to the whole loss, not to the block. A tiny block still fails when it is off by
  // more than tolerance * 1e-3 of the whole gradient's size (1e-9 of it at the default tolerance).
  double error = 0;
  double tolerance = 0;
  bool ok() const { return error <= tolerance; }
};

struct CheckOptions {
  std::uint64_t seed = 1;
  int steps = 6;
  int batch = 2;
  double tolerance = 1e-6;        // finite differences
  double exact_tolerance = 1e-9;  // exact algorithms against BPTT
  // Algorithms compared with BPTT; empty: every registered algorithm that claims to be exact. One that does not
  // claim it is checked on the readout only (output populations that do not feed back), the rest reported.
  std::vector<std::string> algorithms;
  // Finite differences cost a forward pass per coordinate. -1 (automatic): every coordinate when the model
  // has at most kFullCheckParams parameters, else at most kSampledPerBlock per block; 0: every coordinate;
  // n > 0: at most n random coordinates (chosen with the seed) of each parameter block, and of each
  // population's carried state.
  int fd_per_block = -1;
  static constexpr int kFullCheckParams = 10000;
  static constexpr int kSampledPerBlock = 64;
  // Bounds on the sequence, so that absurd sizes are errors rather than allocation failures.
  static constexpr int kMaxSteps = 10000;
  static constexpr int kMaxBatch = 1000;
  static constexpr long kMaxStepsTimesBatch = 20000;
};

// What a check covered, for its report.
struct CheckInfo {
  int param_count = 0;
  int state_size = 0;
  int fd_per_block = 0;          // 0: finite differences on every coordinate; n: at most n per block
  int fd_param_coordinates = 0;  // coordinates of θ checked against finite differences
  // Populations that finite differences do not check: of a surrogate (spiking) kind, or reaching one through
  // projections. Their gradients are checked by the exact algorithms' agreement with BPTT alone.
  std::vector<std::string> surrogate;
};

// Runs every check on random inputs, targets and weights. Finite differences skip the parameters and state of
// populations whose gradient passes through a surrogate derivative (CheckInfo::surrogate); everything else is
// checked against them, and every exact algorithm against BPTT on the whole model. Output populations with loss=auto are scored
// with softmax_xent (sigmoid_xent when they have one unit). The random sequence's mask scores every
// sequence at its last step (other steps at random), so the loss always depends on the parameters.
// Memory is O(N P + P) for N state rows and P parameters (the immediate influence is compared with the JVP
// along a few random parameter directions, never as a P x P Jacobian). Fails (InputError) if steps or
// batch are out of bounds.
std::vector<CheckRow> check_gradients(const ModelGraph& graph, const CheckOptions& options,
                                      CheckInfo* info = nullptr);

}  // namespace credo
