// What the benchmark files share: the live heap, this thread's CPU time, and random sequences for a Program.
#pragma once

#include <malloc.h>
#include <time.h>

#include <random>
#include <vector>

#include "framework/program.h"

namespace credo::bench {

// Bytes currently allocated through malloc (all arenas, plus chunks served by mmap).
inline double live_heap_bytes() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd);
}

inline double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// `steps` inputs and targets of standard normal entries, batch columns each.
template <class T>
struct RandomSequence {
  std::vector<Mat<T>> x, target;

  RandomSequence(const Program<T>& prog, int steps, int batch, std::mt19937_64& rng) : x(steps), target(steps) {
    std::normal_distribution<double> normal(0.0, 1.0);
    for (int t = 0; t < steps; ++t) {
      x[t].resize(prog.input_size(), batch);
      target[t].resize(prog.output_size(), batch);
      for (auto& v : x[t].reshaped()) v = static_cast<T>(normal(rng));
      for (auto& v : target[t].reshaped()) v = static_cast<T>(normal(rng));
    }
  }
};

// Grows the Program's forward buffers, so a heap measurement taken after it counts what an algorithm adds.
template <class T>
void grow_forward_buffers(Program<T>& prog, const Mat<T>& x0, int batch) {
  Frame<T> f = prog.make_frame(batch);
  prog.forward(prog.zero_state(batch), x0, f);
}

}  // namespace credo::bench
