// A memory module's VJP and JVP checked against central finite differences of its forward step, on its own
// (double precision, dense Jacobians: meant for the small sizes of tests and `credo check`).
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "framework/module.h"

namespace credo {

struct ModuleCheck {
  double jvp_error = 0;  // |J_jvp - J_fd| / max(|J_fd|, 1e-12), over the whole Jacobian [out; state] x [in; state_prev]
  double vjp_error = 0;  // the same for the Jacobian assembled from VJPs
  int warmup = 0;        // steps run from the zero state before the checked step
};

// Runs `warmup` steps on random inputs from the zero state (so the state is one the module reaches, e.g. a
// partly filled memory), then compares, at one more random input, the Jacobian of (out, state) with respect to
// (in, state_prev) three ways: central finite differences of forward(), jvp() with identity tangents (one
// column), and vjp() with identity cotangents. in_scale scales the random inputs.
inline ModuleCheck check_module(Module<double>& m, int warmup = 3, std::uint64_t seed = 1, double in_scale = 1.0,
                                double eps = 1e-6) {
  using M = Mat<double>;
  const auto& sh = m.shape();
  const int R = sh.in_rows(), S = sh.state, O = sh.out, W = sh.work;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, in_scale);
  auto random = [&](int rows) {
    M x(rows, 1);
    for (auto& v : x.reshaped()) v = normal(rng);
    return x;
  };
  M state = M::Zero(S, 1), out(O, 1), next(S, 1), work(W, 1);
  for (int t = 0; t < warmup; ++t) {
    const M in = random(R);
    m.forward(in, state, out, next, work);
    state = next;
  }
  const M in = random(R);
  const M state_prev = state;
  m.forward(in, state_prev, out, next, work);
  const M out0 = out, state0 = next, work0 = work;

  // Finite differences: column j of [d out; d state] / d [in; state_prev].
  const int cols = R + S, rows = O + S;
  M fd(rows, cols);
  M o1(O, 1), s1(S, 1), w1(W, 1), o2(O, 1), s2(S, 1), w2(W, 1);
  for (int j = 0; j < cols; ++j) {
    M i1 = in, i2 = in, p1 = state_prev, p2 = state_prev;
    if (j < R) i1(j, 0) += eps, i2(j, 0) -= eps;
    else p1(j - R, 0) += eps, p2(j - R, 0) -= eps;
    m.forward(i1, p1, o1, s1, w1);
    m.forward(i2, p2, o2, s2, w2);
    fd.col(j).head(O) = (o1 - o2) / (2 * eps);
    fd.col(j).tail(S) = (s1 - s2) / (2 * eps);
  }
  // Restore the primal step's values (forward may keep scratch).
  m.forward(in, state_prev, out, next, work);
  const ModuleValues<double> v{in, state_prev, out0, state0, work0};

  // JVP with identity tangents on [in; state_prev].
  M jac_jvp(rows, cols);
  {
    M tin = M::Zero(R, cols), tsp = M::Zero(S, cols), tout(O, cols), tst(S, cols);
    tin.leftCols(R).setIdentity();
    tsp.rightCols(S).setIdentity();
    const ConstMatRef<double> tsp_ref(tsp);
    m.jvp(v, tin, &tsp_ref, tout, tst);
    jac_jvp.topRows(O) = tout;
    jac_jvp.bottomRows(S) = tst;
  }
  // VJP with identity cotangents on [out; state], one row of the Jacobian per column.
  M jac_vjp(rows, cols);
  {
    M dout = M::Zero(O, rows), dst = M::Zero(S, rows), din(R, rows), dsp = M::Zero(S, rows);
    dout.leftCols(O).setIdentity();
    dst.rightCols(S).setIdentity();
    // vjp is batched: give it the primal column repeated once per cotangent.
    const M inB = in.replicate(1, rows), spB = state_prev.replicate(1, rows), oB = out0.replicate(1, rows),
            sB = state0.replicate(1, rows), wB = work0.replicate(1, rows);
    const ModuleValues<double> vb{inB, spB, oB, sB, wB};
    m.vjp(vb, dout, dst, din, dsp);
    jac_vjp.leftCols(R) = din.transpose();
    jac_vjp.rightCols(S) = dsp.transpose();
  }
  const double scale = std::max(fd.norm(), 1e-12);
  ModuleCheck r;
  r.warmup = warmup;
  r.jvp_error = (jac_jvp - fd).norm() / scale;
  r.vjp_error = (jac_vjp - fd).norm() / scale;
  return r;
}

}  // namespace credo
