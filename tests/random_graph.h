// Random model graphs for gradient tests: mixed population kinds, skip projections and delays up to 2.
#pragma once

#include <random>
#include <string>

#include <fmt/format.h>

namespace credo::testing {

inline std::string random_model_dot(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* kinds[] = {"tanh", "tanh_leaky", "gru", "lstm"};
  const char* losses[] = {"mse", "softmax_xent", "sigmoid_xent"};
  std::string dot = fmt::format("digraph random_{} {{\n", seed);
  const int n_in = pick(1, 2), n_hid = pick(1, 3), n_out = pick(1, 2);
  for (int i = 0; i < n_in; ++i) dot += fmt::format("  x{} [kind=input size={}];\n", i, pick(1, 3));
  for (int i = 0; i < n_hid; ++i) {
    std::string kind = kinds[pick(0, 3)];
    if (kind == "tanh_leaky") dot += fmt::format("  h{} [kind=tanh size={} alpha=0.6];\n", i, pick(1, 4));
    else dot += fmt::format("  h{} [kind={} size={}];\n", i, kind, pick(1, 4));
  }
  for (int i = 0; i < n_out; ++i) {
    const int loss = pick(0, 2);
    // A softmax over one unit is constant, so softmax outputs get at least two.
    dot += fmt::format("  y{} [kind=output size={} loss={}];\n", i, pick(loss == 1 ? 2 : 1, 3), losses[loss]);
  }
  // Each input feeds the first hidden population; sometimes also a later one (a skip projection).
  for (int i = 0; i < n_in; ++i) {
    dot += fmt::format("  x{} -> h0;\n", i);
    if (n_hid > 1 && pick(0, 1)) dot += fmt::format("  x{} -> h{} [delay={}];\n", i, pick(1, n_hid - 1), pick(0, 1));
  }
  for (int i = 0; i < n_hid; ++i) {
    if (pick(0, 3)) dot += fmt::format("  h{} -> h{} [delay={}];\n", i, i, pick(1, 2));
    if (i + 1 < n_hid) dot += fmt::format("  h{} -> h{};\n", i, i + 1);
    if (i + 2 < n_hid && pick(0, 1)) dot += fmt::format("  h{} -> h{};\n", i, i + 2);  // skip
    if (i > 0 && pick(0, 1)) dot += fmt::format("  h{} -> h{} [delay={}];\n", i, pick(0, i - 1), pick(1, 2));
  }
  for (int i = 0; i < n_out; ++i) {
    dot += fmt::format("  h{} -> y{};\n", n_hid - 1, i);
    if (pick(0, 2) == 0) dot += fmt::format("  h0 -> y{} [delay={}];\n", i, pick(0, 2));
    if (pick(0, 3) == 0) dot += fmt::format("  x0 -> y{};\n", i);
  }
  // Sometimes an output feeds back into the network with a delay.
  if (pick(0, 3) == 0) dot += "  y0 -> h0 [delay=1];\n";
  return dot + "}\n";
}

}  // namespace credo::testing
