// Model size: loading, compiling and stepping a model take time and memory linear in its populations and
// projections. A chain of 100,000 one-unit populations, each with a recurrent self-projection.
#include <sys/resource.h>

#include <chrono>
#include <random>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "framework/graph.h"
#include "framework/program.h"
#include "framework/results.h"

#if defined(__SANITIZE_ADDRESS__)
#define CREDO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CREDO_ASAN 1
#endif
#endif

#ifdef CREDO_ASAN
// AddressSanitizer reserves terabytes of address space, so the cap below cannot be used; this one ends the
// process instead if it holds more than 3 GiB.
extern "C" const char* __asan_default_options() { return "hard_rss_limit_mb=3072"; }
#endif

namespace credo {
namespace {

constexpr int kChain = 100'000;

std::string chain_dot(int n) {
  std::string dot = "digraph chain {\n  x [kind=input size=1];\n";
  dot.reserve(static_cast<size_t>(n) * 80);
  for (int i = 0; i < n; ++i) dot += fmt::format("  h{} [kind=tanh size=1];\n", i);
  dot += "  y [kind=output size=1 loss=mse];\n  x -> h0;\n";
  for (int i = 0; i < n; ++i) {
    dot += fmt::format("  h{} -> h{} [delay=1];\n", i, i);
    if (i + 1 < n) dot += fmt::format("  h{} -> h{};\n", i, i + 1);
  }
  return dot + fmt::format("  h{} -> y;\n}}\n", n - 1);
}

// A quadratic structure at this size needs tens of gigabytes: cap the address space so it fails with bad_alloc
// instead of exhausting a machine shared with other work.
void cap_memory_gib(int gib) {
#ifndef CREDO_ASAN
  struct rlimit r {};
  r.rlim_cur = r.rlim_max = static_cast<rlim_t>(gib) << 30;
  setrlimit(RLIMIT_AS, &r);
#else
  (void)gib;
#endif
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Generous bounds: linear work at this size takes seconds here (sanitizers slow it about tenfold); quadratic
// work takes hours and tens of gigabytes.
#ifdef CREDO_ASAN
constexpr double kSeconds = 300;
#else
constexpr double kSeconds = 60;
#endif
constexpr double kPeakMiB = 2048;

TEST(Scale, LoadsAHundredThousandPopulationChainInLinearTimeAndMemory) {
  cap_memory_gib(4);
  const std::string text = chain_dot(kChain);
  const auto t0 = std::chrono::steady_clock::now();
  const ModelGraph g = parse_model(text, "chain.dot");
  const double load = seconds_since(t0);
  ASSERT_EQ(g.populations.size(), static_cast<size_t>(kChain + 2));
  EXPECT_EQ(g.projections.size(), static_cast<size_t>(2 * kChain + 1));
  EXPECT_EQ(g.populations[1].name, "h0");  // file order
  EXPECT_EQ(g.order.size(), g.populations.size());
  EXPECT_LT(load, kSeconds);
  const auto t1 = std::chrono::steady_clock::now();
  long found = 0;
  for (int i = 0; i < kChain; ++i) found += g.find(fmt::format("h{}", i)) == i + 1;
  EXPECT_EQ(found, kChain);
  const ModelGraph back = parse_model(write_model(g), "chain2.dot");
  EXPECT_EQ(back.projections.size(), g.projections.size());
  EXPECT_LT(seconds_since(t1), kSeconds);
  EXPECT_LT(peak_rss_mb(), kPeakMiB);
  RecordProperty("load_seconds", std::to_string(load));
}

TEST(Scale, CompilesAndStepsAHundredThousandPopulationChainInLinearTimeAndMemory) {
  cap_memory_gib(4);
  const ModelGraph g = parse_model(chain_dot(kChain), "chain.dot");
  const auto t0 = std::chrono::steady_clock::now();
  Program<float> prog(g);
  EXPECT_LT(seconds_since(t0), kSeconds);
  EXPECT_EQ(prog.state_size(), kChain);
  std::mt19937_64 rng(1);
  prog.init_params(rng);
  const int B = 2;
  const Mat<float> s0 = prog.zero_state(B), x = Mat<float>::Ones(1, B), target = Mat<float>::Zero(1, B),
                   mask = Mat<float>::Ones(1, B);
  Frame<float> f = prog.make_frame(B);
  Mat<float> dy, ds_prev;
  Vec<float> grad = Vec<float>::Zero(prog.param_count());
  const auto t1 = std::chrono::steady_clock::now();
  for (int step = 0; step < 3; ++step) {
    prog.forward(s0, x, f);
    prog.loss(f, target, mask, &dy, 1.0f);
    prog.vjp(f, s0, nullptr, dy, ds_prev, grad);
  }
  EXPECT_LT(seconds_since(t1), kSeconds);
  EXPECT_TRUE(grad.allFinite());
  EXPECT_LT(peak_rss_mb(), kPeakMiB);
}

}  // namespace
}  // namespace credo
