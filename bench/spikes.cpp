// Google Benchmark cases for sparse spikes: the forward pass and an e-prop step of a spiking network on real
// cue-accumulation trials, with the sparse drive (a projection from spikes or inputs adds only the weight columns
// of its nonzero entries; Program::set_sparse_drive) against the dense matrix product.
//
//   spikes/forward/<dense|sparse>/n:<n>   Program::forward over one cue-accumulation trial (2250 steps of 1 ms,
//                                         40 Poisson inputs), batch 16, float32; n/2 LIF + n/2 ALIF neurons
//                                         wired as models/cue_lsnn.dot (all-to-all but autapses, leaky readout)
//   spikes/eprop/<dense|sparse>/n:<n>     the same trial driven by e-prop (random feedback), one step() at a time
//
// Counters: us_per_step and cpu_us_per_step (per time step of the whole batch), active (the fraction of the
// spiking sources' entries -- inputs and neurons -- that were nonzero, i.e. how sparse the drive's inputs were),
// B, T, N. The network's weights are at initialisation, scaled by `gain` on the inputs so that it fires at a few
// percent per step, as a network on this task does.
#include <chrono>
#include <exception>
#include <random>
#include <string>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bench/bench_util.h"
#include "framework/credit.h"
#include "framework/graph.h"
#include "framework/program.h"
#include "framework/task.h"

namespace credo {
namespace {

std::string lsnn_model(int n) {
  return fmt::format(
      "digraph lsnn {{\n"
      "  x [kind=input size=40];\n"
      "  lif [kind=lif size={0} tau_m=20 thr=0.6 n_ref=5];\n"
      "  alif [kind=alif size={0} tau_m=20 thr=0.6 n_ref=5 tau_a=2000 beta=0.0174];\n"
      "  y [kind=output size=2 kappa=0.951229];\n"
      "  x -> lif [gain=2]; x -> alif [gain=2];\n"
      "  lif -> lif [delay=1 autapses=0]; alif -> lif [delay=1]; lif -> alif [delay=1];\n"
      "  alif -> alif [delay=1 autapses=0];\n"
      "  lif -> y; alif -> y;\n"
      "}}\n",
      n / 2);
}

struct Case {
  int neurons;
  bool sparse;
  bool eprop;
};

void run_case(benchmark::State& state, const Case& c) {
  using T = float;
  const int B = 16;
  try {
    ModelGraph graph = parse_model(lsnn_model(c.neurons), "spikes.dot");
    resolve_output_losses(graph, "softmax_xent", "bench");
    Program<T> prog(graph);
    std::mt19937_64 rng(1);
    prog.init_params(rng);
    prog.set_sparse_drive(c.sparse);
    auto task = make_task("cue_accumulation", {}, 1);
    const Episode e = task->sample(B, 0);
    const Mat<T> x = e.x.cast<T>(), target = e.target.cast<T>(), mask = e.mask.cast<T>();
    const int steps = e.steps;
    auto col = [&](int t) { return static_cast<Eigen::Index>(t) * B; };

    // The fraction of nonzero entries among the drive's spiking inputs, over one trial.
    double active = 0, entries = 0;
    {
      Mat<T> s = prog.zero_state(B);
      Frame<T> f = prog.make_frame(B);
      for (int t = 0; t < steps; ++t) {
        prog.forward(s, x.middleCols(col(t), B), f);
        s = f.s;
        for (const auto& p : prog.populations()) {
          if (!p.sparse_source) continue;
          const auto z = f.z.middleRows(p.z_offset + p.shape.out_slot * p.shape.units, p.shape.units);
          active += static_cast<double>((z.array() != T(0)).count());
          entries += static_cast<double>(z.size());
        }
      }
    }

    std::unique_ptr<CreditAlgorithm<T>> algo;
    if (c.eprop) algo = make_algorithm<T>("eprop", {{"feedback", "random"}}, prog);
    Vec<T> grad = Vec<T>::Zero(prog.param_count());
    Mat<T> s = prog.zero_state(B);
    Frame<T> f = prog.make_frame(B);
    auto trial = [&] {
      if (algo) {
        algo->reset(B);
        for (int t = 0; t < steps; ++t)
          algo->step(x.middleCols(col(t), B), target.middleCols(col(t), B), mask.middleCols(col(t), B), grad);
      } else {
        s.setZero();
        for (int t = 0; t < steps; ++t) {
          prog.forward(s, x.middleCols(col(t), B), f);
          s = f.s;
        }
      }
    };
    trial();  // warm-up
    double seconds = 0, total_steps = 0;
    const double cpu0 = bench::thread_cpu_seconds();
    for (auto _ : state) {
      const auto t0 = std::chrono::steady_clock::now();
      trial();
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      total_steps += steps;
      benchmark::DoNotOptimize(grad.data());
      benchmark::DoNotOptimize(s.data());
    }
    const double cpu_seconds = bench::thread_cpu_seconds() - cpu0;
    state.counters["us_per_step"] = seconds / total_steps * 1e6;
    state.counters["cpu_us_per_step"] = cpu_seconds / total_steps * 1e6;
    state.counters["active"] = active / entries;
    state.counters["B"] = B;
    state.counters["T"] = steps;
    state.counters["N"] = c.neurons;
  } catch (const std::exception& ex) {
    state.SkipWithError(ex.what());
  }
}

}  // namespace

// Called from credo_bench's main (bench/steps.cpp).
void register_spike_cases() {
  for (bool eprop : {false, true})
    for (int n : {100, 400, 1600}) {
      if (eprop && n > 400) continue;
      for (bool sparse : {false, true})
        benchmark::RegisterBenchmark(
            fmt::format("spikes/{}/{}/n:{}", eprop ? "eprop" : "forward", sparse ? "sparse" : "dense", n).c_str(),
            [c = Case{n, sparse, eprop}](benchmark::State& s) { run_case(s, c); })
            ->Unit(benchmark::kMillisecond)
            ->Iterations(eprop ? 1 : 2);
    }
}

}  // namespace credo
