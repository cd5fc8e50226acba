// Google Benchmark cases for the per-time-step cost and memory of every registered credit algorithm.
//
// The cases are registered at startup from AlgorithmRegistry, so an algorithm added later is benchmarked
// without editing this file. The model is one tanh population built from DOT text:
//   x [input, size I] -> h [tanh, size N];  h -> h [delay=1];  h -> y [output, size 1, loss=mse]
//
//   step/<algo>/N:<n>        float32, I = 1, n in 16..256. An online algorithm (AlgorithmKind::online) is
//                            timed one step() at a time at batch 1 on an endless stream (no reset inside the
//                            timed loop). Any other algorithm (bptt, tbptt) is timed over whole episodes at
//                            batch 1: reset + T = 100 step()s + end_chunk(true), divided by T.
//   step_f64/<algo>/N:64     the same in float64 (the numpy RTRL peer computes in float64).
//   episode/bptt/H:128/B:32/I:8/T:100
//                            the BPTT case the PyTorch peer runs: batch 32, input 8, one output, episodes of
//                            100 steps, forward + backward divided by T.
//
// Counters: us_per_step (wall time per time step, the figure to compare), cpu_us_per_step (this thread's CPU
// time per step: steadier than wall time when other processes share the cores), N (carried state size), P
// (parameters), B, T (steps per timed iteration), and mem_bytes, the memory the algorithm keeps, *measured*
// as the growth of the live malloc heap (glibc mallinfo2: arena bytes in use + mmapped bytes) from just
// before the algorithm is made to after it has been reset and warmed up (one episode, or 8 steps). That
// includes the Program work buffers its calls grow (e.g. RTRL's N x N identity tangents), but not transient
// buffers freed within a step (Eigen's GEMM packing blocks) nor the Program's own parameters.
//
// Everything runs on one thread: Eigen is built without OpenMP here, and nothing in credo starts threads.

#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bench/bench_util.h"
#include "framework/credit.h"
#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/program.h"

namespace credo {
namespace {

const std::vector<int> kSizes = {16, 32, 64, 128, 256};
constexpr int kEpisode = 100;  // steps per timed episode for the algorithms that are not online
constexpr int kStream = 256;   // distinct (x, target) pairs cycled through by the online cases

struct Case {
  std::string algorithm;
  int hidden = 0, input = 1, batch = 1;
  bool episodic = false;  // time whole episodes (reset + kEpisode steps + end_chunk) instead of single steps
};

std::string tanh_model(int hidden, int input) {
  return fmt::format(
      "digraph bench {{\n"
      "  x [kind=input size={}];\n"
      "  h [kind=tanh size={}];\n"
      "  y [kind=output size=1 loss=mse];\n"
      "  x -> h;\n"
      "  h -> h [delay=1];\n"
      "  h -> y;\n"
      "}}\n",
      input, hidden);
}

using bench::live_heap_bytes;
using bench::thread_cpu_seconds;

template <class T>
void run_case(benchmark::State& state, const Case& c) {
  try {
    ModelGraph graph = parse_model(tanh_model(c.hidden, c.input), "bench.dot");
    resolve_output_losses(graph, "mse", "bench");
    Program<T> prog(graph);
    std::mt19937_64 rng(1);
    prog.init_params(rng);

    const int steps = c.episodic ? kEpisode : kStream;
    const bench::RandomSequence<T> data(prog, steps, c.batch, rng);
    const auto& x = data.x;
    const auto& target = data.target;
    const Mat<T> mask = Mat<T>::Ones(1, c.batch);
    Vec<T> grad = Vec<T>::Zero(prog.param_count());
    bench::grow_forward_buffers(prog, x[0], c.batch);  // so mem_bytes counts what the algorithm adds

    const double heap_before = live_heap_bytes();
    auto algo = make_algorithm<T>(c.algorithm, {}, prog);
    algo->reset(c.batch);
    if (c.episodic) {
      for (int t = 0; t < steps; ++t) algo->step(x[t], target[t], mask, grad);
      algo->end_chunk(true, grad);
    } else {
      for (int t = 0; t < 8; ++t) algo->step(x[t], target[t], mask, grad);
    }
    const double mem = live_heap_bytes() - heap_before;

    long k = 0;
    const double cpu0 = thread_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    if (c.episodic) {
      for (auto _ : state) {
        algo->reset(c.batch);
        for (int t = 0; t < steps; ++t) algo->step(x[t], target[t], mask, grad);
        algo->end_chunk(true, grad);
        benchmark::DoNotOptimize(grad.data());
        benchmark::ClobberMemory();
      }
    } else {
      for (auto _ : state) {
        algo->step(x[k], target[k], mask, grad);
        if (++k == steps) k = 0;
        benchmark::DoNotOptimize(grad.data());
        benchmark::ClobberMemory();
      }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu_seconds = thread_cpu_seconds() - cpu0;
    const double per_iteration = c.episodic ? steps : 1;
    const double total_steps = static_cast<double>(state.iterations()) * per_iteration;

    state.SetItemsProcessed(static_cast<int64_t>(total_steps));
    state.counters["us_per_step"] = seconds / total_steps * 1e6;
    state.counters["cpu_us_per_step"] = cpu_seconds / total_steps * 1e6;
    state.counters["N"] = prog.state_size();
    state.counters["P"] = prog.param_count();
    state.counters["B"] = c.batch;
    state.counters["T"] = per_iteration;
    state.counters["mem_bytes"] = benchmark::Counter(mem, benchmark::Counter::kDefaults, benchmark::Counter::kIs1024);
    if (!grad.allFinite()) state.SkipWithError("non-finite gradient");
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

bool supports_tanh(const AlgorithmKind& kind) {
  if (kind.supports.empty()) return true;
  for (const auto& s : kind.supports)
    if (s == "tanh") return true;
  return false;
}

void register_cases() {
  for (const auto& [name, entry] : AlgorithmRegistry::get().all()) {
    if (!supports_tanh(entry.make)) {
      std::fprintf(stderr, "credo_bench: skipping '%s': it cannot train tanh populations\n", name.c_str());
      continue;
    }
    const bool episodic = !entry.make.online;
    for (int n : kSizes) {
      Case c{name, n, 1, 1, episodic};
      benchmark::RegisterBenchmark(fmt::format("step/{}/N:{}", name, n).c_str(),
                                   [c](benchmark::State& s) { run_case<float>(s, c); })
          ->Unit(benchmark::kMicrosecond);
    }
    Case c64{name, 64, 1, 1, episodic};
    benchmark::RegisterBenchmark(fmt::format("step_f64/{}/N:64", name).c_str(),
                                 [c64](benchmark::State& s) { run_case<double>(s, c64); })
        ->Unit(benchmark::kMicrosecond);
  }
  if (AlgorithmRegistry::get().contains("bptt")) {
    Case c{"bptt", 128, 8, 32, true};
    benchmark::RegisterBenchmark(fmt::format("episode/bptt/H:128/B:32/I:8/T:{}", kEpisode).c_str(),
                                 [c](benchmark::State& s) { run_case<float>(s, c); })
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

void register_module_cases();  // bench/modules.cpp
void register_spike_cases();   // bench/spikes.cpp

}  // namespace credo

int main(int argc, char** argv) {
  Eigen::setNbThreads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  credo::register_cases();
  credo::register_module_cases();
  credo::register_spike_cases();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
