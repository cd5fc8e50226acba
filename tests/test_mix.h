// A small memory module for tests: it mixes units through sums and means, keeps a memory and a scalar state,
// and has an optional port, so every path the Program has for modules is exercised.
#pragma once

#include <algorithm>

#include "framework/module.h"

namespace credo {

// ports a (n, with a bias) and b (2, optional); state: memory m (n) and a scalar s.
//   th = tanh(a), g = 1 + Σ b, m = 0.5 m_prev + g th, s = 0.9 s_prev + mean(m), out = tanh(m + s)
template <class T>
class TestMix final : public Module<T> {
 public:
  TestMix(int n, const Options& o) : n_(n), decay_(static_cast<T>(o.number("decay"))) {
    auto& s = this->shape_;
    s.out = n;
    s.state = n + 1;
    s.work = n + 1;
    s.ports = {{"a", n, true, 0.1, "drive"}, {"b", 2, false, PopulationShape::no_bias, "gain"}};
    s.memory_rows = {{0, n}};
  }
  void forward(const ConstMatRef<T>& in, const ConstMatRef<T>& sp, MatRef<T> out, MatRef<T> st,
               MatRef<T> work) override {
    auto th = work.topRows(n_);
    th = in.topRows(n_).array().tanh();
    work.row(n_) = (in.bottomRows(2).colwise().sum().array() + T(1)).matrix();
    auto m = st.topRows(n_);
    m = decay_ * sp.topRows(n_);
    m.array() += th.array().rowwise() * work.row(n_).array();
    st.row(n_) = T(0.9) * sp.row(n_) + m.colwise().mean();
    out = (m.rowwise() + st.row(n_)).array().tanh();
  }
  // Scratch is kept as a member, grown to the largest column count seen: the VJP is called for the batch and
  // for single columns (UORO), and must not allocate when they alternate.
  void vjp(const ModuleValues<T>& v, const ConstMatRef<T>& dout, const ConstMatRef<T>& dst, MatRef<T> din,
           MatRef<T> dsp) override {
    const auto B = dout.cols();
    grow(du_, n_, B);
    for (Eigen::Index c = 0; c < B; ++c) {
      auto du = du_.col(c);
      const auto th = v.work.col(c).head(n_).array();
      const T g = v.work(n_, c);
      du = (dout.col(c).array() * (T(1) - v.out.col(c).array().square())).matrix();
      const T ds = dst(n_, c) + du.sum();
      du += dst.col(c).head(n_);  // now the cotangent of m
      du.array() += ds / T(n_);
      dsp.col(c).head(n_) += decay_ * du;
      dsp(n_, c) += T(0.9) * ds;
      din.col(c).head(n_) = (du.array() * g * (T(1) - th.square())).matrix();
      din(n_, c) = din(n_ + 1, c) = (du.array() * th).sum();
    }
  }
  void jvp(const ModuleValues<T>& v, const ConstMatRef<T>& tin, const ConstMatRef<T>* tsp, MatRef<T> tout,
           MatRef<T> tst) override {
    const T g = v.work(n_, 0);
    const auto th = v.work.col(0).head(n_).array();
    auto tm = tst.topRows(n_);
    for (Eigen::Index k = 0; k < tm.cols(); ++k)
      tm.col(k) = (tin.col(k).head(n_).array() * g * (T(1) - th.square()) + (tin(n_, k) + tin(n_ + 1, k)) * th).matrix();
    if (tsp) tm += decay_ * tsp->topRows(n_);
    for (Eigen::Index k = 0; k < tm.cols(); ++k) {
      tst(n_, k) = tm.col(k).mean() + (tsp ? T(0.9) * (*tsp)(n_, k) : T(0));
      tout.col(k) = ((tm.col(k).array() + tst(n_, k)) * (T(1) - v.out.col(0).array().square())).matrix();
    }
  }

 private:
  static void grow(Mat<T>& m, Eigen::Index rows, Eigen::Index cols) {
    if (m.rows() != rows || m.cols() < cols) m.resize(rows, std::max(cols, m.cols()));
  }
  int n_;
  T decay_;
  Mat<T> du_;
};

CREDO_REGISTER_MODULE("test_mix", TestMix, "a test module that mixes units (tests only)",
                      std::vector<OptionSpec>{{"decay", "0.5", "memory decay", 0, 1, false, {}}});


}  // namespace credo
