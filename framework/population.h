// A population's dynamics: one step of a group of units, z_t = f(drive_t, z_{t-1}), and its local derivatives.
#pragma once

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/options.h"
#include "framework/registry.h"
#include "framework/tensor.h"

namespace credo {

enum class Role { input, hidden, output };

// What the Program needs to know about a population to wire and differentiate it.
//
// A population of n units keeps `slots` state vectors of n rows each (an LSTM keeps c and h: 2 slots) and
// receives `blocks` drive vectors of n rows each (an LSTM's gates i, f, g, o: 4 blocks). Projections read
// slot `out_slot`. Delay-0 projections add into the drive blocks [ff_first, ff_first + ff_count) and
// delayed ones into [rec_first, rec_first + rec_count); a GRU uses this to keep its reset gate off the
// feed-forward part of the candidate drive.
//
// The dynamics are unit-local: unit i's state depends only on unit i's drive and previous state. So the
// whole derivative of a step is a few n-vectors per batch column: d z[slot] / d drive[block] and
// d z[slot] / d z_prev[slot'] for the pairs listed below (all other pairs are zero). forward() writes them
// beside z; the Program builds every vector-Jacobian and Jacobian-vector product, the state Jacobian and
// the immediate influence from them, so a new kind writes its forward pass and its derivatives and nothing
// else.
struct PopulationShape {
  int units = 0;
  int slots = 1;
  int out_slot = 0;
  int blocks = 1;
  int ff_first = 0, ff_count = 1;
  int rec_first = 0, rec_count = 1;
  std::vector<double> bias_init;  // per drive block: initial bias, or NaN for a block without a bias
  bool memory = false;            // z_t depends on z_{t-1} directly, not only through projections
  std::vector<std::pair<int, int>> dz_ddrive;  // (slot, block) pairs with a nonzero derivative
  std::vector<std::pair<int, int>> dz_dzprev;  // (slot, previous slot) pairs with a nonzero derivative
  // d z / d drive is a pseudo-derivative (a spiking kind's surrogate for its Heaviside step): finite
  // differences cannot check gradients through this kind, exact algorithms are checked against BPTT instead.
  bool surrogate = false;
  // Reset by subtraction: the previous output z_prev[out_slot] enters drive block `reset_block` scaled by
  // `reset_gain` (a LIF neuron: -v_th into the membrane), like a fixed self-projection. Its derivative is part
  // of dz_dzprev; e-prop stops the gradient there, as at every projection of a population's output. -1: none.
  int reset_block = -1;
  double reset_gain = 0;

  int jac_rows() const { return static_cast<int>(dz_ddrive.size() + dz_dzprev.size()) * units; }
  static constexpr double no_bias = std::numeric_limits<double>::quiet_NaN();
};

template <class T>
class Population {
 public:
  virtual ~Population() = default;
  const PopulationShape& shape() const { return shape_; }

  // One step for the whole batch. drive: blocks*n x B (projections and bias summed); zprev: slots*n x B
  // (zeros at the first step; unused when !memory); writes z (slots*n x B) and jac: the derivative vectors
  // in the order of dz_ddrive then dz_dzprev, n rows each. For an input population the drive is the input.
  virtual void forward(const ConstMatRef<T>& drive, const ConstMatRef<T>& zprev, MatRef<T> z, MatRef<T> jac) const = 0;

  // The loss an output population is scored with ("mse", "softmax_xent", "sigmoid_xent"); empty otherwise.
  virtual std::string loss() const { return {}; }

 protected:
  PopulationShape shape_;
};

template <class T>
class Module;  // framework/module.h

// A registered node kind: its role and how to make it in float or double. A unit-local population has
// make_float/make_double; a memory module (framework/module.h) has module_float/module_double instead.
struct PopulationKind {
  Role role = Role::hidden;
  std::function<std::unique_ptr<Population<float>>(int size, const Options&)> make_float;
  std::function<std::unique_ptr<Population<double>>(int size, const Options&)> make_double;
  std::function<std::unique_ptr<Module<float>>(int size, const Options&)> module_float;
  std::function<std::unique_ptr<Module<double>>(int size, const Options&)> module_double;
  bool is_module() const { return static_cast<bool>(module_double); }
};
using PopulationRegistry = Registry<PopulationKind>;

}  // namespace credo

// Registers CLASS<T>, constructible as CLASS<T>(int size, const Options&), as kind NAME with ROLE.
#define CREDO_REGISTER_POPULATION(NAME, ROLE, CLASS, HELP, ...)                                          \
  static const bool CREDO_CONCAT(credo_population_registered_, __LINE__) =                              \
      ::credo::PopulationRegistry::get().add({NAME, HELP, __VA_ARGS__,                                   \
                                              ::credo::PopulationKind{                                   \
                                                  ROLE,                                                  \
                                                  [](int n, const ::credo::Options& o) {                 \
                                                    return std::unique_ptr<::credo::Population<float>>(  \
                                                        new CLASS<float>(n, o));                         \
                                                  },                                                     \
                                                  [](int n, const ::credo::Options& o) {                 \
                                                    return std::unique_ptr<::credo::Population<double>>( \
                                                        new CLASS<double>(n, o));                        \
                                                  },                                                     \
                                                  {},                                                    \
                                                  {}}})
