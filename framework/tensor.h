// Eigen aliases for the column-major matrices credo computes with: features down the rows, batch across columns.
#pragma once

#include <Eigen/Core>

namespace credo {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
template <class T>
using Row = Eigen::Matrix<T, 1, Eigen::Dynamic>;
template <class T>
using MatMap = Eigen::Map<Mat<T>>;
template <class T>
using VecMap = Eigen::Map<Vec<T>>;
template <class T>
using MatRef = Eigen::Ref<Mat<T>>;
template <class T>
using ConstMatRef = Eigen::Ref<const Mat<T>>;

}  // namespace credo
