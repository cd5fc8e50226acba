#include "framework/params.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "framework/checkpoint.h"
#include "framework/error.h"

namespace credo {

template <class T>
npy::Named params_to_arrays(const Program<T>& prog) {
  npy::Named out;
  const T* theta = prog.params().data();
  for (const auto& b : prog.param_blocks()) {
    // θ holds a weight block column-major: Fortran order, so numpy sees the (rows, cols) matrix itself.
    if (b.is_bias) out.emplace_back(b.name, npy::make_array(theta + b.offset, {b.size}));
    else out.emplace_back(b.name, npy::make_array(theta + b.offset, {b.rows, b.cols}, true));
  }
  return out;
}

template <class T>
std::vector<std::string> params_from_arrays(Program<T>& prog, const npy::Named& arrays, const std::string& source) {
  Vec<T> theta = prog.params();
  std::vector<std::string> set;
  for (const auto& [name, a] : arrays) {
    const ParamBlock* block = nullptr;
    for (const auto& b : prog.param_blocks())
      if (b.name == name) block = &b;
    if (!block) {
      std::string known;
      for (const auto& b : prog.param_blocks()) known += fmt::format("{}'{}'", known.empty() ? "" : ", ", b.name);
      fail("{}: array '{}' is not a parameter block of model '{}' (its blocks: {})", source, name,
           prog.graph().name, known);
    }
    for (const auto& s : set)
      if (s == name) fail("{}: array '{}' appears twice", source, name);
    const std::string where = fmt::format("{} ['{}']", source, name);
    const auto values = a.to_doubles(where);
    auto shape_text = [](const std::vector<std::int64_t>& s) {
      std::string t;
      for (auto d : s) t += fmt::format("{}{}", t.empty() ? "" : ", ", d);
      return "(" + t + (s.size() == 1 ? ",)" : ")");
    };
    T* dst = theta.data() + block->offset;
    if (block->is_bias) {
      // A column (n, 1) or row (1, n) is accepted for a vector.
      const bool ok = (a.shape.size() == 1 && a.shape[0] == block->size) ||
                      (a.shape.size() == 2 && a.elements() == block->size && (a.shape[0] == 1 || a.shape[1] == 1));
      if (!ok) fail("{}: shape {}, but block '{}' is a vector of {}", where, shape_text(a.shape), name, block->size);
      for (int k = 0; k < block->size; ++k) dst[k] = static_cast<T>(values[static_cast<size_t>(k)]);
    } else {
      if (a.shape.size() != 2 || a.shape[0] != block->rows || a.shape[1] != block->cols)
        fail("{}: shape {}, but block '{}' is a ({}, {}) matrix (rows: the target's drive, columns: the source's "
             "units)",
             where, shape_text(a.shape), name, block->rows, block->cols);
      for (int j = 0; j < block->cols; ++j)
        for (int i = 0; i < block->rows; ++i) {
          const size_t k = a.fortran_order ? static_cast<size_t>(j) * block->rows + i
                                           : static_cast<size_t>(i) * block->cols + j;
          dst[static_cast<size_t>(j) * block->rows + i] = static_cast<T>(values[k]);
        }
    }
    for (int k = 0; k < block->size; ++k)
      if (!std::isfinite(static_cast<double>(dst[k])))
        fail("{}: element {} is {} (every parameter must be a finite number)", where, k, static_cast<double>(dst[k]));
    set.push_back(name);
  }
  prog.params() = theta;
  return set;
}

npy::Named read_params(const std::string& path) { return npy::read_npz(path); }

template <class T>
std::vector<std::string> load_parameters(Program<T>& prog, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    file = (fs::path(path) / "checkpoint.ckpt").string();
    if (!fs::exists(file, ec)) file = (fs::path(path) / "params.npz").string();
    if (!fs::exists(file, ec)) fail("{}: the folder holds neither checkpoint.ckpt nor params.npz", path);
  }
  if (file.size() < 5 || file.substr(file.size() - 5) != ".ckpt") return params_from_arrays(prog, read_params(file), file);
  const Checkpoint ck = read_checkpoint(file);
  check_same_blocks(ck, prog, file);
  const auto theta = ck.array("theta", file).to_doubles(file);
  if (static_cast<int>(theta.size()) != prog.param_count())
    fail("{}: θ holds {} numbers, the model has {} parameters", file, theta.size(), prog.param_count());
  for (int k = 0; k < prog.param_count(); ++k) prog.params()[k] = static_cast<T>(theta[static_cast<size_t>(k)]);
  std::vector<std::string> all;
  for (const auto& b : prog.param_blocks()) all.push_back(b.name);
  return all;
}

template npy::Named params_to_arrays<float>(const Program<float>&);
template npy::Named params_to_arrays<double>(const Program<double>&);
template std::vector<std::string> params_from_arrays<float>(Program<float>&, const npy::Named&, const std::string&);
template std::vector<std::string> params_from_arrays<double>(Program<double>&, const npy::Named&, const std::string&);
template std::vector<std::string> load_parameters<float>(Program<float>&, const std::string&);
template std::vector<std::string> load_parameters<double>(Program<double>&, const std::string&);

}  // namespace credo
