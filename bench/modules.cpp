// Google Benchmark cases for the per-time-step cost and memory of credo's memory modules against their memory
// size, and the cases bench/compare_memory_peers.sh puts beside the PyTorch peer (bench/peers/torch_attention.py).
//
// Every case times whole BPTT episodes (reset + T step()s + end_chunk(true), divided by T) of a model built from
// DOT text, float32, random normal inputs and targets, an mse loss on every step. Conventions as in
// bench/steps.cpp: us_per_step (wall), cpu_us_per_step (this thread's CPU time), N (carried state size per
// column), P, B, T, and mem_bytes: the growth of the live malloc heap from just before the algorithm is made to
// after one warm-up episode -- for BPTT that is the T stored frames, so it grows as T x state.
//
//   module/lstm64/B:<b>/T:<t>        the LSTM-64 alone (input 10, output 8): the baseline of the attention cases
//   module/attention/slots:<s>       LSTM-64 + attention (values 64, keys and queries 16, every 2, top 5) with s
//                                    slots, s = 16..256, batch 16, T = 2 s: the buffer is full at the episode's
//                                    end, as in delayed recall with slots just covering the sequence
//   module/fast_weights/n:<n>        input 10 -> fast_weights n (its own output fed back into its drive, LN, one
//                                    inner step) -> output 8, n = 16..128, batch 16, T = 100
//   module/ntm/slots:<s>             models/ntm_copy.dot's shape (LSTM-100 controller, width 20, one read head,
//                                    input 9, output 8) with s slots, s = 32..256, batch 16, T = 100; registered
//                                    only when the ntm module is built in
//   peer/lstm64/B:64/T:<t>           the LSTM-64 alone, batch 64 (torch_attention.py --no-attention)
//   peer/attention/slots:<s>/B:64/T:<t>
//                                    LSTM-64 + attention as above, batch 64, (s, T) = (51, 100) and (151, 300):
//                                    the delayed-recall models of delays 100 and 300 (torch_attention.py)
//
// Part of credo_bench (its main is in bench/steps.cpp). Everything runs on one thread: Eigen is built without
// OpenMP here, and nothing in credo starts threads.

#include <chrono>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bench/bench_util.h"
#include "framework/credit.h"
#include "framework/graph.h"
#include "framework/population.h"
#include "framework/program.h"

namespace credo {
namespace {

struct Case {
  std::string dot;
  int batch = 16, steps = 100;
};

std::string lstm64_model() {
  return "digraph bench {\n"
         "  x [kind=input size=10];\n"
         "  h [kind=lstm size=64];\n"
         "  y [kind=output size=8];\n"
         "  x -> h;\n"
         "  h -> h [delay=1];\n"
         "  h -> y;\n"
         "}\n";
}

std::string attention_model(int slots) {
  return fmt::format(
      "digraph bench {{\n"
      "  x [kind=input size=10];\n"
      "  h [kind=lstm size=64];\n"
      "  m [kind=attention size=64 slots={} every=2 top=5 key_size=16];\n"
      "  y [kind=output size=8];\n"
      "  x -> h;\n"
      "  h -> h [delay=1];\n"
      "  h -> m [port=key];\n"
      "  h -> m [port=value];\n"
      "  h -> m [port=query];\n"
      "  m -> y;\n"
      "  h -> y;\n"
      "}}\n",
      slots);
}

std::string fast_weights_model(int n) {
  return fmt::format(
      "digraph bench {{\n"
      "  x [kind=input size=10];\n"
      "  h [kind=fast_weights size={} lambda=0.9 eta=0.5 inner=1 layer_norm=1 activation=relu];\n"
      "  y [kind=output size=8];\n"
      "  x -> h [port=drive];\n"
      "  h -> h [delay=1 port=drive init=identity gain=0.05];\n"
      "  h -> y;\n"
      "}}\n",
      n);
}

std::string ntm_model(int slots) {
  return fmt::format(
      "digraph bench {{\n"
      "  x [kind=input size=9];\n"
      "  h [kind=lstm size=100];\n"
      "  m [kind=ntm size=20 slots={} reads=1 shifts=3];\n"
      "  y [kind=output size=8];\n"
      "  x -> h;\n"
      "  h -> h [delay=1];\n"
      "  m -> h [delay=1];\n"
      "  h -> m [port=read];\n"
      "  h -> m [port=write];\n"
      "  h -> y;\n"
      "  m -> y;\n"
      "}}\n",
      slots);
}

using bench::live_heap_bytes;
using bench::thread_cpu_seconds;

void run_case(benchmark::State& state, const Case& c) {
  using T = float;
  try {
    ModelGraph graph = parse_model(c.dot, "bench.dot");
    resolve_output_losses(graph, "mse", "bench");
    Program<T> prog(graph);
    std::mt19937_64 rng(1);
    prog.init_params(rng);

    const bench::RandomSequence<T> data(prog, c.steps, c.batch, rng);
    const auto& x = data.x;
    const auto& target = data.target;
    const Mat<T> mask = Mat<T>::Ones(1, c.batch);
    Vec<T> grad = Vec<T>::Zero(prog.param_count());
    bench::grow_forward_buffers(prog, x[0], c.batch);  // so mem_bytes counts what the algorithm adds

    const double heap_before = live_heap_bytes();
    auto algo = make_algorithm<T>("bptt", {}, prog);
    auto episode = [&] {
      algo->reset(c.batch);
      for (int t = 0; t < c.steps; ++t) algo->step(x[t], target[t], mask, grad);
      algo->end_chunk(true, grad);
    };
    episode();
    const double mem = live_heap_bytes() - heap_before;

    const double cpu0 = thread_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) {
      episode();
      benchmark::DoNotOptimize(grad.data());
      benchmark::ClobberMemory();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu_seconds = thread_cpu_seconds() - cpu0;
    const double total_steps = static_cast<double>(state.iterations()) * c.steps;

    state.SetItemsProcessed(static_cast<int64_t>(total_steps));
    state.counters["us_per_step"] = seconds / total_steps * 1e6;
    state.counters["cpu_us_per_step"] = cpu_seconds / total_steps * 1e6;
    state.counters["N"] = prog.state_size();
    state.counters["P"] = prog.param_count();
    state.counters["B"] = c.batch;
    state.counters["T"] = c.steps;
    state.counters["mem_bytes"] = benchmark::Counter(mem, benchmark::Counter::kDefaults, benchmark::Counter::kIs1024);
    if (!grad.allFinite()) state.SkipWithError("non-finite gradient");
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void add_case(const std::string& name, Case c) {
  benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& s) { run_case(s, c); })
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

// Called from credo_bench's main (bench/steps.cpp), after static initialisation has registered every module.
void register_module_cases() {
  const auto& kinds = PopulationRegistry::get();
  add_case("module/lstm64/B:16/T:100", {lstm64_model(), 16, 100});
  if (kinds.contains("attention"))
    for (int s : {16, 32, 64, 128, 256})
      add_case(fmt::format("module/attention/slots:{}", s), {attention_model(s), 16, 2 * s});
  if (kinds.contains("fast_weights"))
    for (int n : {16, 32, 64, 128})
      add_case(fmt::format("module/fast_weights/n:{}", n), {fast_weights_model(n), 16, 100});
  if (kinds.contains("ntm"))
    for (int s : {32, 64, 128, 256}) add_case(fmt::format("module/ntm/slots:{}", s), {ntm_model(s), 16, 100});
  for (int t : {100, 300}) add_case(fmt::format("peer/lstm64/B:64/T:{}", t), {lstm64_model(), 64, t});
  if (kinds.contains("attention"))
    for (auto [s, t] : {std::pair{51, 100}, std::pair{151, 300}})
      add_case(fmt::format("peer/attention/slots:{}/B:64/T:{}", s, t), {attention_model(s), 64, t});
}

}  // namespace credo
