#include "framework/loss.h"

#include <cmath>

#include "framework/error.h"

namespace credo {

LossKind parse_loss(const std::string& name, const std::string& where) {
  if (name == "mse") return LossKind::mse;
  if (name == "softmax_xent") return LossKind::softmax_xent;
  if (name == "sigmoid_xent") return LossKind::sigmoid_xent;
  fail("{}: loss is '{}', must be one of mse, softmax_xent, sigmoid_xent", where, name);
}

const char* loss_name(LossKind k) {
  switch (k) {
    case LossKind::mse: return "mse";
    case LossKind::softmax_xent: return "softmax_xent";
    case LossKind::sigmoid_xent: return "sigmoid_xent";
  }
  return "?";
}

template <class T>
T loss_and_grad(LossKind kind, const ConstMatRef<T>& y, const ConstMatRef<T>& target, const ConstMatRef<T>& mask,
                MatRef<T>* dy, T scale) {
  T total = 0;
  const Eigen::Index n = y.rows();
  for (Eigen::Index b = 0; b < y.cols(); ++b) {
    const T m = mask(0, b);
    if (m == T(0)) {
      if (dy) dy->col(b).setZero();
      continue;
    }
    auto yb = y.col(b);
    auto tb = target.col(b);
    switch (kind) {
      case LossKind::mse: {
        total += m * (yb - tb).squaredNorm();
        if (dy) dy->col(b) = (scale * m * T(2)) * (yb - tb);
        break;
      }
      case LossKind::softmax_xent: {
        const T mx = yb.maxCoeff();
        T sum = 0;
        for (Eigen::Index i = 0; i < n; ++i) sum += std::exp(yb(i) - mx);
        const T log_z = mx + std::log(sum);
        const T tsum = tb.sum();
        total += m * (tsum * log_z - tb.dot(yb));
        if (dy)
          for (Eigen::Index i = 0; i < n; ++i) (*dy)(i, b) = scale * m * (std::exp(yb(i) - log_z) * tsum - tb(i));
        break;
      }
      case LossKind::sigmoid_xent: {
        for (Eigen::Index i = 0; i < n; ++i) {
          const T v = yb(i);
          // softplus(v) computed without overflow.
          const T softplus = v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
          total += m * (softplus - tb(i) * v);
          if (dy) (*dy)(i, b) = scale * m * (T(1) / (T(1) + std::exp(-v)) - tb(i));
        }
        break;
      }
    }
  }
  return total;
}

template <class T>
double count_correct(LossKind kind, const ConstMatRef<T>& y, const ConstMatRef<T>& target,
                     const ConstMatRef<T>& mask) {
  double correct = 0;
  for (Eigen::Index b = 0; b < y.cols(); ++b) {
    if (mask(0, b) == T(0)) continue;
    if (kind == LossKind::softmax_xent) {
      Eigen::Index iy = 0, it = 0;
      y.col(b).maxCoeff(&iy);
      target.col(b).maxCoeff(&it);
      correct += iy == it;
    } else if (kind == LossKind::sigmoid_xent) {
      bool ok = true;
      for (Eigen::Index i = 0; i < y.rows(); ++i) ok = ok && ((y(i, b) > 0) == (target(i, b) > T(0.5)));
      correct += ok;
    }
  }
  return correct;
}

template float loss_and_grad<float>(LossKind, const ConstMatRef<float>&, const ConstMatRef<float>&,
                                    const ConstMatRef<float>&, MatRef<float>*, float);
template double loss_and_grad<double>(LossKind, const ConstMatRef<double>&, const ConstMatRef<double>&,
                                      const ConstMatRef<double>&, MatRef<double>*, double);
template double count_correct<float>(LossKind, const ConstMatRef<float>&, const ConstMatRef<float>&,
                                     const ConstMatRef<float>&);
template double count_correct<double>(LossKind, const ConstMatRef<double>&, const ConstMatRef<double>&,
                                      const ConstMatRef<double>&);

}  // namespace credo
