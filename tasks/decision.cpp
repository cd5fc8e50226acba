#include "tasks/decision.h"

namespace credo {

double decision_accuracy(const Episode& e, const Eigen::MatrixXd& outputs) {
  long decisions = 0, right = 0;
  for (int b = 0; b < e.batch; ++b) {
    for (int t = 0; t < e.steps;) {
      if (e.mask(0, e.col(t, b)) == 0) {
        ++t;
        continue;
      }
      Eigen::VectorXd mean = Eigen::VectorXd::Zero(outputs.rows());
      const Eigen::Index target_col = e.col(t, b);
      int steps = 0;
      for (; t < e.steps && e.mask(0, e.col(t, b)) != 0; ++t, ++steps) mean += outputs.col(e.col(t, b));
      Eigen::Index said = 0, wanted = 0;
      mean.maxCoeff(&said);
      e.target.col(target_col).maxCoeff(&wanted);
      ++decisions;
      right += said == wanted;
    }
  }
  return decisions > 0 ? static_cast<double>(right) / decisions : 0.0;
}

}  // namespace credo
