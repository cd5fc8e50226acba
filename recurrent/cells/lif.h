// Leaky integrate-and-fire neurons, plain (lif) and with an adaptive threshold (alif), in the convention of
// Bellec et al. 2020, "A solution to the learning dilemma for recurrent networks of spiking neurons", Nat.
// Commun. 11:3625.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "framework/population.h"

namespace credo {

// Unit j at step t, with drive I_t (its projections summed; no bias, as in the reference networks):
//   v_t = α v_{t-1} + I_t − v_th z_{t-1}                    membrane, reset by subtraction
//   a_t = ρ a_{t-1} + z_{t-1}                               adaptation (alif only; lif has β = 0 and no a)
//   A_t = v_th + β a_t                                      adaptive threshold
//   z_t = H((v_t − A_t) / v_th), 0 while refractory         spike
//   r_t = clip(r_{t-1} + n_ref z_t − 1, 0, n_ref)           refractory count: refractory at t when r_{t-1} > 0
// with α = exp(−dt/τ_m), ρ = exp(−dt/τ_a). A neuron spikes at most once every n_ref steps (silent for the
// n_ref − 1 steps after a spike, as in the reference code).
//
// The step function has no useful derivative, so dz/dv is replaced by the pseudo-derivative
//   ψ_t = (γ / v_th) max(0, 1 − |(v_t − A_t) / v_th|),  0 while refractory,
// and the population declares itself `surrogate`. Slots: v, z (the output), r, a (alif). The local derivatives
// (with ψ standing for dz/dv):
//   dv/dI = 1, dz/dI = ψ;
//   dv/dv_prev = α, dv/dz_prev = −v_th (the reset), dz/dv_prev = ψ α,
//   dz/dz_prev = −ψ (v_th + β) (through the reset and through a), dz/da_prev = −ψ β ρ, da/da_prev = ρ,
//   da/dz_prev = 1;
// r is an integer count (rounded at every step), so it has no derivative. The reset is declared as a fixed
// self-projection into the drive with gain −v_th (PopulationShape::reset_gain), so that e-prop can stop the
// gradient there.
//
// Spike::smooth replaces H by the logistic σ(4 x) with its true derivative as ψ (refractoriness counts steps
// with z > 1/2): a smooth twin whose derivative bookkeeping finite differences can check.
template <class T>
class LifPopulation : public Population<T> {
 public:
  enum class Spike { heaviside, smooth };

  LifPopulation(int n, const Options& o, bool adaptive, Spike spike = Spike::heaviside)
      : adaptive_(adaptive),
        smooth_(spike == Spike::smooth),
        alpha_(static_cast<T>(std::exp(-o.number("dt") / o.number("tau_m")))),
        rho_(adaptive ? static_cast<T>(std::exp(-o.number("dt") / o.number("tau_a"))) : T(0)),
        thr_(static_cast<T>(o.number("thr"))),
        beta_(adaptive ? static_cast<T>(o.number("beta")) : T(0)),
        gamma_(static_cast<T>(o.number("gamma"))),
        n_ref_(o.integer("n_ref")) {
    auto& s = this->shape_;
    s.units = n;
    s.slots = adaptive ? 4 : 3;
    s.out_slot = kZ;
    s.bias_init = {PopulationShape::no_bias};
    s.memory = true;
    s.surrogate = !smooth_;
    s.reset_block = 0;
    s.reset_gain = -static_cast<double>(thr_);
    s.dz_ddrive = {{kV, 0}, {kZ, 0}};
    s.dz_dzprev = {{kV, kV}, {kV, kZ}, {kZ, kV}, {kZ, kZ}};
    if (adaptive) s.dz_dzprev.insert(s.dz_dzprev.end(), {{kZ, kA}, {kA, kA}, {kA, kZ}});
  }

  void forward(const ConstMatRef<T>& drive, const ConstMatRef<T>& zprev, MatRef<T> z, MatRef<T> jac) const override {
    const int n = this->shape_.units;
    const T n_ref = static_cast<T>(n_ref_);
    for (Eigen::Index b = 0; b < drive.cols(); ++b) {
      for (int i = 0; i < n; ++i) {
        const T v_prev = zprev(kV * n + i, b), z_prev = zprev(kZ * n + i, b);
        const T r_prev = std::round(zprev(kR * n + i, b));
        const T a_prev = adaptive_ ? zprev(kA * n + i, b) : T(0);
        const T v = alpha_ * v_prev + drive(i, b) - thr_ * z_prev;
        const T a = rho_ * a_prev + z_prev;
        const T x = (v - thr_ - beta_ * a) / thr_;
        T spike = 0, psi = 0;
        if (r_prev <= T(0)) {
          if (smooth_) {
            spike = T(1) / (T(1) + std::exp(-kSmoothGain * x));
            psi = kSmoothGain * spike * (T(1) - spike) / thr_;
          } else {
            spike = x > T(0) ? T(1) : T(0);
            psi = gamma_ / thr_ * std::max(T(0), T(1) - std::abs(x));
          }
        }
        const T fired = spike > T(0.5) ? T(1) : T(0);
        z(kV * n + i, b) = v;
        z(kZ * n + i, b) = spike;
        z(kR * n + i, b) = std::clamp(r_prev + n_ref * fired - T(1), T(0), n_ref);
        if (adaptive_) z(kA * n + i, b) = a;
        // Rows in the order of dz_ddrive, then dz_dzprev.
        jac(0 * n + i, b) = T(1);
        jac(1 * n + i, b) = psi;
        jac(2 * n + i, b) = alpha_;
        jac(3 * n + i, b) = -thr_;
        jac(4 * n + i, b) = psi * alpha_;
        jac(5 * n + i, b) = -psi * (thr_ + beta_);
        if (adaptive_) {
          jac(6 * n + i, b) = -psi * beta_ * rho_;
          jac(7 * n + i, b) = rho_;
          jac(8 * n + i, b) = T(1);
        }
      }
    }
  }

  static constexpr int kV = 0, kZ = 1, kR = 2, kA = 3;

 private:
  static constexpr T kSmoothGain = T(4);
  const bool adaptive_, smooth_;
  const T alpha_, rho_, thr_, beta_, gamma_;
  const int n_ref_;
};

// The options of lif (adaptive = false) and alif, in physical units (ms).
inline std::vector<OptionSpec> lif_options(bool adaptive) {
  std::vector<OptionSpec> o{
      {"tau_m", "20", "membrane time constant (ms)", 1e-6, 1e12, false, {}},
      {"thr", "0.6", "firing threshold v_th", 1e-9, 1e12, false, {}},
      {"n_ref", "5", "refractoriness: at most one spike every n_ref steps (0 or 1: none)", 0, 1e6, true, {}},
      {"gamma", "0.3", "pseudo-derivative amplitude (dampening factor)", 0, 1e6, false, {}},
      {"dt", "1", "time step (ms)", 1e-9, 1e12, false, {}}};
  if (adaptive) {
    o.push_back({"tau_a", "2000", "adaptation time constant (ms)", 1e-6, 1e12, false, {}});
    o.push_back({"beta", "0.0174", "threshold increase per unit of adaptation a (a jumps by 1 per spike)", 0, 1e12,
                 false, {}});
  }
  return o;
}

}  // namespace credo
