#include "tasks/bit_error.h"

#include <stdexcept>

#include <fmt/format.h>

namespace credo {

double error_bits_per_sequence(const Episode& e, const Eigen::MatrixXd& outputs) {
  if (outputs.rows() != e.target.rows() || outputs.cols() != e.target.cols())
    throw std::invalid_argument(fmt::format("error bits: outputs are {}x{}, targets {}x{}", outputs.rows(),
                                            outputs.cols(), e.target.rows(), e.target.cols()));
  if (e.batch <= 0) return 0.0;
  double wrong = 0.0;
  for (Eigen::Index c = 0; c < e.target.cols(); ++c) {
    if (e.mask(0, c) == 0.0) continue;
    for (Eigen::Index i = 0; i < e.target.rows(); ++i) wrong += (outputs(i, c) > 0.0) != (e.target(i, c) > 0.5);
  }
  return wrong / e.batch;
}

}  // namespace credo
