// A memory module: a node whose step mixes units (attention over stored states, a read/write memory, fast
// weights), with its own state, named input ports, and its own forward step, VJP and JVP.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/population.h"
#include "framework/tensor.h"

namespace credo {

// A named input of a module. Projections into a module name the port they feed (edge attribute `port`);
// the port's input is the sum of those projections plus, if the port has one, a learned bias.
struct ModulePort {
  std::string name;
  int size = 0;
  bool required = true;  // a required port must receive at least one projection
  double bias_init = PopulationShape::no_bias;  // initial bias of the port's input, or NaN: no bias
  std::string help;
};

// What the Program needs to know to wire and differentiate a module.
//
// The module's input `in` is its ports stacked in declaration order. Its output (`out` rows) is what
// projections out of the node read. Its `state` rows are carried in s_t (so s_t stays Markov, and RTRL,
// replay and checkpoints see the memory). `work` rows per batch column are whatever forward() keeps for
// vjp() and jvp() (scores, normalisers, gate values), stored in the frame beside the populations' local
// derivatives.
struct ModuleShape {
  int out = 0;
  int state = 0;
  int work = 0;
  std::vector<ModulePort> ports;
  // Ranges (first row, rows) of `state` that hold stored content (memory slots, a fast-weight matrix).
  // Sparse attentive backtracking carries their cotangent across its truncation points; every other state
  // row is cut there like a recurrent state.
  std::vector<std::pair<int, int>> memory_rows;

  int in_rows() const {
    int r = 0;
    for (const auto& p : ports) r += p.size;
    return r;
  }
  // First row of port k in `in`, or -1 if there is no port of that name.
  int port_row(const std::string& name) const {
    int r = 0;
    for (const auto& p : ports) {
      if (p.name == name) return r;
      r += p.size;
    }
    return -1;
  }
};

// One step's primal values, as the Program hands them to vjp() and jvp(): the input, the state before and
// after, the output and the kept intermediates. Batched (vjp) or one batch column (jvp).
template <class T>
struct ModuleValues {
  ConstMatRef<T> in;          // in_rows x B
  ConstMatRef<T> state_prev;  // state x B (zeros at the first step)
  ConstMatRef<T> out;         // out x B
  ConstMatRef<T> state;       // state x B
  ConstMatRef<T> work;        // work x B
};

// A module writes three functions. None may allocate once its buffers are sized (keep scratch as members,
// sized on first use); all three are checked against finite differences by framework/module_check.h and, in
// every graph position, by the module suite of framework/testing.h.
template <class T>
class Module {
 public:
  virtual ~Module() = default;
  const ModuleShape& shape() const { return shape_; }

  // One step for the batch: writes out (out x B), state (state x B) and work (work x B).
  virtual void forward(const ConstMatRef<T>& in, const ConstMatRef<T>& state_prev, MatRef<T> out, MatRef<T> state,
                       MatRef<T> work) = 0;

  // Reverse mode for the batch: given the cotangents of this step's output and state, writes the cotangent of
  // the input into din (in_rows x B) and ADDS the cotangent of the previous state into dstate_prev.
  virtual void vjp(const ModuleValues<T>& v, const ConstMatRef<T>& dout, const ConstMatRef<T>& dstate,
                   MatRef<T> din, MatRef<T> dstate_prev) = 0;

  // Forward mode for one batch column (v holds that column): K tangents of the input (in_rows x K) and of the
  // previous state (state x K; nullptr for zero) -> tangents of the output (out x K) and state (state x K),
  // written.
  virtual void jvp(const ModuleValues<T>& v, const ConstMatRef<T>& tin, const ConstMatRef<T>* tstate_prev,
                   MatRef<T> tout, MatRef<T> tstate) = 0;

 protected:
  ModuleShape shape_;
};

}  // namespace credo

// Registers CLASS<T>, constructible as CLASS<T>(int size, const Options&), as module kind NAME. The node's
// `size` is passed as given; the module decides what it means (attention: the width of the values it reads).
#define CREDO_REGISTER_MODULE(NAME, CLASS, HELP, ...)                                                          \
  static const bool CREDO_CONCAT(credo_module_registered_, __LINE__) =                                        \
      ::credo::PopulationRegistry::get().add({NAME, HELP, __VA_ARGS__,                                         \
                                              ::credo::PopulationKind{                                         \
                                                  ::credo::Role::hidden, nullptr, nullptr,                     \
                                                  [](int n, const ::credo::Options& o) {                       \
                                                    return std::unique_ptr<::credo::Module<float>>(            \
                                                        new CLASS<float>(n, o));                               \
                                                  },                                                           \
                                                  [](int n, const ::credo::Options& o) {                       \
                                                    return std::unique_ptr<::credo::Module<double>>(           \
                                                        new CLASS<double>(n, o));                              \
                                                  }}})
