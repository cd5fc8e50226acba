// Fast weights (Ba, Hinton, Mnih, Leibo & Ionescu 2016, "Using fast weights to attend to the recent past"): a
// recurrent layer whose hidden state h is refined by a Hebbian matrix A of its own recent states.
//
// With drive = W h_{t-1} + C x_t + b (the slow weights, arriving through projections into port `drive`):
//
//   A_t        = lambda A_{t-1} + eta h_{t-1} h_{t-1}^T
//   h^0        = f(drive)
//   h^{s+1}    = f(LN(drive + A_t h^s)),   s = 0 .. S-1
//   h_t        = h^S
//
// Unrolled, A_t h = eta sum_tau lambda^(t-1-tau) h_tau (h_tau . h): attention over past states weighted by their
// dot product with the current one and by recency, with O(n^2) memory and no stored history. Ba et al. write
// A(t) = lambda A(t-1) + eta h(t) h(t)^T for use at t+1; doing the update at the start of the next step is the
// same recurrence and keeps the carried state (h, A). LN is layer normalisation without learned gain or bias,
// (u - mean(u)) / sqrt(var(u) + 1e-5).
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "framework/module.h"

namespace credo {

template <class T>
class FastWeights final : public Module<T> {
  using CMap = Eigen::Map<const Mat<T>>;
  using MMap = Eigen::Map<Mat<T>>;
  using CVMap = Eigen::Map<const Vec<T>>;
  using VMap = Eigen::Map<Vec<T>>;

 public:
  FastWeights(int n, const Options& o)
      : n_(n),
        inner_(o.integer("inner")),
        lambda_(static_cast<T>(o.number("lambda"))),
        eta_(static_cast<T>(o.number("eta"))),
        layer_norm_(o.integer("layer_norm") != 0),
        relu_(o.word("activation") == "relu") {
    auto& s = this->shape_;
    s.out = n;
    s.state = n + n * n;
    // Kept per column: h^0 .. h^S, then with layer norm, per inner step, the normalised pre-activation and the
    // standard deviation it was divided by.
    s.work = (inner_ + 1) * n + (layer_norm_ ? inner_ * (n + 1) : 0);
    s.ports = {ModulePort{"drive", n, true, 0.0, "slow part W h_prev + C x (projections) plus a bias"}};
    s.memory_rows = {{n, n * n}};
  }

  void forward(const ConstMatRef<T>& in, const ConstMatRef<T>& state_prev, MatRef<T> out, MatRef<T> state,
               MatRef<T> work) override {
    const int n = n_;
    u_.resize(n);
    for (Eigen::Index b = 0; b < in.cols(); ++b) {
      const auto d = in.col(b);
      const CVMap hp(state_prev.col(b).data(), n);
      const CMap Ap(state_prev.col(b).data() + n, n, n);
      MMap A(state.col(b).data() + n, n, n);
      A.noalias() = lambda_ * Ap;
      A.noalias() += (eta_ * hp) * hp.transpose();

      T* w = work.col(b).data();
      activate(d, VMap(w, n));
      for (int s = 0; s < inner_; ++s) {
        const CVMap h(w + s * n, n);
        u_.noalias() = A * h;
        u_ += d;
        if (layer_norm_) {
          T* zs = zhat(w, s);
          VMap z(zs, n);
          T& sigma = zs[n];
          u_.array() -= u_.mean();
          sigma = std::sqrt(u_.squaredNorm() / T(n) + epsilon);
          z = u_ / sigma;
          activate(z, VMap(w + (s + 1) * n, n));
        } else {
          activate(u_, VMap(w + (s + 1) * n, n));
        }
      }
      const CVMap hS(w + inner_ * n, n);
      out.col(b) = hS;
      state.col(b).head(n) = hS;
    }
  }

  void vjp(const ModuleValues<T>& v, const ConstMatRef<T>& dout, const ConstMatRef<T>& dstate, MatRef<T> din,
           MatRef<T> dstate_prev) override {
    const int n = n_;
    g_.resize(n), gu_.resize(n), tmp_.resize(n), dA_.resize(n, n);
    for (Eigen::Index b = 0; b < dout.cols(); ++b) {
      const T* w = v.work.col(b).data();
      const CMap A(v.state.col(b).data() + n, n, n);
      auto dd = din.col(b);
      // Cotangents of h^S (read by the output and carried) and of A_t (carried, and read by every inner step).
      g_ = dout.col(b) + dstate.col(b).head(n);
      dA_ = CMap(dstate.col(b).data() + n, n, n);
      dd.setZero();
      for (int s = inner_ - 1; s >= 0; --s) {
        const CVMap h(w + s * n, n), hnext(w + (s + 1) * n, n);
        gu_ = g_;
        times_slope(hnext, gu_);
        if (layer_norm_) {
          // d z / d u for z = (u - mean) / sigma, applied to the cotangent of z.
          const T* zs = zhat(w, s);
          const CVMap z(zs, n);
          const T mean_g = gu_.mean(), mean_gz = gu_.dot(z) / T(n);
          gu_ = (gu_.array() - mean_g - z.array() * mean_gz) / zs[n];
        }
        dd += gu_;
        dA_.noalias() += gu_ * h.transpose();
        g_.noalias() = A.transpose() * gu_;
      }
      times_slope(CVMap(w, n), g_);
      dd += g_;

      // A_t = lambda A_{t-1} + eta h_{t-1} h_{t-1}^T.
      const CVMap hp(v.state_prev.col(b).data(), n);
      tmp_.noalias() = dA_ * hp;
      tmp_.noalias() += dA_.transpose() * hp;
      dstate_prev.col(b).head(n) += eta_ * tmp_;
      MMap(dstate_prev.col(b).data() + n, n, n) += lambda_ * dA_;
    }
  }

  void jvp(const ModuleValues<T>& v, const ConstMatRef<T>& tin, const ConstMatRef<T>* tstate_prev, MatRef<T> tout,
           MatRef<T> tstate) override {
    const int n = n_;
    const Eigen::Index K = tin.cols();
    th_.resize(n, K), tu_.resize(n, K), proj_.resize(K);
    const T* w = v.work.col(0).data();
    const CMap A(v.state.col(0).data() + n, n, n);
    const CVMap hp(v.state_prev.col(0).data(), n);

    // Tangent of A_t: lambda dA_{t-1} + eta (dh_{t-1} h_{t-1}^T + h_{t-1} dh_{t-1}^T), or zero.
    for (Eigen::Index k = 0; k < K; ++k) {
      MMap tA(tstate.col(k).data() + n, n, n);
      if (tstate_prev) {
        const auto& tsp = *tstate_prev;
        const CVMap thp(tsp.col(k).data(), n);
        tA.noalias() = lambda_ * CMap(tsp.col(k).data() + n, n, n);
        tA.noalias() += (eta_ * thp) * hp.transpose();
        tA.noalias() += (eta_ * hp) * thp.transpose();
      } else {
        tA.setZero();
      }
    }

    th_ = tin;
    for (Eigen::Index k = 0; k < K; ++k) times_slope(CVMap(w, n), th_.col(k));
    for (int s = 0; s < inner_; ++s) {
      const CVMap h(w + s * n, n), hnext(w + (s + 1) * n, n);
      tu_ = tin;
      tu_.noalias() += A * th_;
      if (tstate_prev)
        for (Eigen::Index k = 0; k < K; ++k) tu_.col(k).noalias() += CMap(tstate.col(k).data() + n, n, n) * h;
      if (layer_norm_) {
        const T* zs = zhat(w, s);
        const CVMap z(zs, n);
        proj_.noalias() = tu_.transpose() * z;
        for (Eigen::Index k = 0; k < K; ++k) {
          auto c = tu_.col(k);
          c = (c.array() - c.mean() - z.array() * (proj_(k) / T(n))) / zs[n];
        }
      }
      for (Eigen::Index k = 0; k < K; ++k) times_slope(hnext, tu_.col(k));
      th_ = tu_;
    }
    tout = th_;
    tstate.topRows(n) = th_;
  }

 private:
  static constexpr T epsilon = T(1e-5);

  // Where inner step s keeps its normalised pre-activation (n values) and then its standard deviation.
  T* zhat(T* w, int s) const { return w + (inner_ + 1) * n_ + s * (n_ + 1); }
  const T* zhat(const T* w, int s) const { return w + (inner_ + 1) * n_ + s * (n_ + 1); }

  // h = f(u).
  template <class U, class H>
  void activate(const U& u, H&& h) const {
    if (relu_) h = u.cwiseMax(T(0));
    else h = u.array().tanh().matrix();
  }
  // g *= f'(u), computed from h = f(u): 1 where a ReLU is on (0 at and below its kink), 1 - h^2 for tanh.
  template <class H, class G>
  void times_slope(const H& h, G&& g) const {
    if (relu_) g.array() = (h.array() > T(0)).select(g.array(), T(0));
    else g.array() *= T(1) - h.array().square();
  }

  int n_, inner_;
  T lambda_, eta_;
  bool layer_norm_, relu_;
  Vec<T> u_, g_, gu_, tmp_, proj_;
  Mat<T> dA_, th_, tu_;
};

CREDO_REGISTER_MODULE(
    "fast_weights", FastWeights,
    "fast weights (Ba et al. 2016): A = lambda A + eta h h^T; h0 = f(drive); S times h = f(LN(drive + A h))",
    std::vector<OptionSpec>{
        {"lambda", "0.9", "decay of the fast-weight matrix per step", 0.0, 1.0, false, {}},
        {"eta", "0.5", "fast learning rate: weight of h h^T added each step", 0.0, 100.0, false, {}},
        {"inner", "1", "inner steps S through the fast weights (0: h = f(drive))", 0, 10, true, {}},
        {"layer_norm", "1", "1: layer-normalise each inner step's pre-activation (no gain or bias); 0: not", 0, 1,
         true, {}},
        {"activation", "relu", "relu | tanh", -1e300, 1e300, false, {"relu", "tanh"}}});

}  // namespace credo
