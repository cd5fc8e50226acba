// A model's parameters per block as numpy arrays (.npz), to analyse trained weights or set them from elsewhere.
#pragma once

#include <string>
#include <vector>

#include "framework/npy.h"
#include "framework/program.h"

namespace credo {

// One array per parameter block, named as credo names the block (`credo params` lists them): a projection's
// weights "W[h -> y]" as a (rows, cols) matrix, so that drive = W @ presynaptic; a population's biases "b[h]"
// as a vector (every drive block's biases in block order: an LSTM's i, f, g, o gates). The dtype is the
// Program's (float32 or float64).
template <class T>
npy::Named params_to_arrays(const Program<T>& prog);

// Sets the blocks named in `arrays` from them and returns their names; blocks not named keep their values.
// Any real or integer dtype is accepted, in C or Fortran order. An unknown name, a wrong shape or a non-finite
// value is an InputError naming `source` and the block, and leaves θ unchanged.
template <class T>
std::vector<std::string> params_from_arrays(Program<T>& prog, const npy::Named& arrays, const std::string& source);

// Reads an .npz of parameter blocks (as params_to_arrays writes them, or np.savez(path, **blocks)).
npy::Named read_params(const std::string& path);

// Sets θ from `path`: a checkpoint file (.ckpt; it must be of this very model, or it is refused naming the first
// block that differs), a run folder (its checkpoint.ckpt, else its params.npz) or an .npz of blocks (any subset).
// Returns the blocks set.
template <class T>
std::vector<std::string> load_parameters(Program<T>& prog, const std::string& path);

}  // namespace credo
