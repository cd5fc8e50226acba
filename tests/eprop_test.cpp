// e-prop against what it must equal, in double precision: BPTT with the gradient stopped wherever a population's
// output enters a projection to a hidden population and at the spike reset (written here in reverse mode, apart
// from e-prop's forward propagation); Bellec et al.'s closed-form ALIF eligibility traces; RFLO; the exact
// gradient where nothing is stopped; and the behaviour of its feedback, regularisation and refusals.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/graph.h"
#include "framework/program.h"
#include "recurrent/cells/lif.h"

namespace credo {
namespace {

using V = Vec<double>;
using M = Mat<double>;

struct Trajectory {
  std::unique_ptr<Program<double>> prog;
  std::vector<M> x, t, m;
};

Trajectory make_run(const std::string& dot, int steps, int batch, std::uint64_t seed, double input_mean = 0) {
  ModelGraph g = parse_model(dot, "eprop.dot");
  resolve_output_losses(g, "mse", "test");
  Trajectory r;
  r.prog = std::make_unique<Program<double>>(g);
  std::mt19937_64 rng(seed);
  r.prog->init_params(rng);
  std::normal_distribution<double> n(0, 1);
  std::bernoulli_distribution keep(0.7);
  for (int s = 0; s < steps; ++s) {
    M x(r.prog->input_size(), batch), t(r.prog->output_size(), batch), m(1, batch);
    for (auto& v : x.reshaped()) v = input_mean + n(rng);
    for (auto& v : t.reshaped()) v = n(rng);
    for (auto& v : m.reshaped()) v = keep(rng) ? 1 : 0;
    r.x.push_back(x);
    r.t.push_back(t);
    r.m.push_back(m);
  }
  return r;
}

V gradient(Trajectory& r, const std::string& algo, const std::map<std::string, std::string>& opts = {}) {
  auto a = make_algorithm<double>(algo, opts, *r.prog);
  a->reset(static_cast<int>(r.x[0].cols()));
  V g = V::Zero(r.prog->param_count());
  for (size_t s = 0; s < r.x.size(); ++s) a->step(r.x[s], r.t[s], r.m[s], g);
  a->end_chunk(true, g);
  return g;
}

double rel(const V& a, const V& b) { return (a - b).norm() / std::max(b.norm(), 1e-300); }

// The norm of the gradient on the parameters that drive hidden populations.
double hidden_norm(const Program<double>& prog, const V& g) {
  double s = 0;
  for (const auto& blk : prog.param_blocks())
    if (prog.populations()[prog.graph().find(blk.owner)].role == Role::hidden)
      s += g.segment(blk.offset, blk.size).squaredNorm();
  return std::sqrt(s);
}

// Reverse mode over the recorded trajectory, with the gradient stopped where a population's output enters a
// projection to a hidden population (any delay) and at the spike reset (the drive cotangent times reset_gain is
// taken back out of the previous output slot's cotangent). What remains: each unit's own state path, readouts'
// (leaky) dynamics and the readout's direct error. reg > 0 adds the firing-rate penalty reg Σ_j (f̄_j − f0)² of
// the spiking populations, weighted by the scored steps per sequence as e-prop documents.
V stopped_bptt(Trajectory& r, double reg = 0, double f0 = 0) {
  Program<double>& prog = *r.prog;
  const auto& pops = prog.populations();
  const auto& projs = prog.projections();
  const int T = static_cast<int>(r.x.size()), B = static_cast<int>(r.x[0].cols()), np = static_cast<int>(pops.size());
  std::vector<Frame<double>> frames;
  std::vector<M> states{prog.zero_state(B)}, dys;
  double scored = 0;
  for (int t = 0; t < T; ++t) {
    Frame<double> f = prog.make_frame(B);
    prog.forward(states.back(), r.x[t], f);
    M dy;
    prog.loss(f, r.t[t], r.m[t], &dy, 1.0 / B);
    states.push_back(f.s);
    frames.push_back(std::move(f));
    dys.push_back(dy);
    scored += r.m[t].sum() / B;
  }
  // Rates for the penalty: spikes per step of every unit of a spiking population.
  std::vector<V> coef(np);
  for (int p = 0; p < np; ++p) {
    const auto& sh = pops[p].shape;
    if (reg <= 0 || !sh.surrogate) continue;
    V rate = V::Zero(sh.units);
    for (const auto& f : frames) rate += f.z.middleRows(pops[p].z_offset + sh.out_slot * sh.units, sh.units).rowwise().sum();
    rate /= double(T) * B;
    coef[p] = 2 * reg * (rate.array() - f0) / (double(T) * B) * std::max(scored, 1.0);
  }
  V grad = V::Zero(prog.param_count());
  std::vector<M> carry(np);
  for (int p = 0; p < np; ++p) carry[p] = M::Zero(pops[p].shape.slots * pops[p].shape.units, B);
  for (int t = T - 1; t >= 0; --t) {
    const Frame<double>& f = frames[t];
    const M& s_prev = states[t];
    std::vector<M> dz = carry;
    for (int p = 0; p < np; ++p) {
      const auto& sh = pops[p].shape;
      const int n = sh.units;
      if (pops[p].role == Role::output) dz[p].middleRows(sh.out_slot * n, n) += dys[t].middleRows(pops[p].io_offset, n);
      if (coef[p].size()) dz[p].middleRows(sh.out_slot * n, n).colwise() += coef[p];
    }
    auto backward = [&](int p) {
      const auto& info = pops[p];
      const auto& sh = info.shape;
      const int n = sh.units;
      M dd = M::Zero(sh.blocks * n, B);
      int k = 0;
      for (auto [slot, block] : sh.dz_ddrive)
        dd.middleRows(block * n, n).array() +=
            f.jac.middleRows(info.jac_offset + n * k++, n).array() * dz[p].middleRows(slot * n, n).array();
      for (const auto& bi : info.biases) grad.segment(bi.offset, bi.rows) += dd.middleRows(bi.drive_row, bi.rows).rowwise().sum();
      for (int j : info.projections_in) {
        const auto& e = projs[j];
        const M pre = prog.presynaptic(e, f, s_prev);
        MatMap<double>(grad.data() + e.weight_offset, e.rows, e.cols) += dd.middleRows(e.drive_row, e.rows) * pre.transpose();
        // Into an output the gradient flows on to a hidden source (delay 0); into a hidden population it stops.
        if (info.role == Role::output && pops[e.source].role == Role::hidden) {
          EXPECT_EQ(e.delay, 0) << "the reference handles delay-0 readouts only";
          const auto& src = pops[e.source];
          dz[e.source].middleRows(src.shape.out_slot * src.shape.units, src.shape.units) +=
              prog.weight(e).transpose() * dd.middleRows(e.drive_row, e.rows);
        }
      }
      carry[p].setZero();
      if (sh.memory)
        for (auto [slot, prev] : sh.dz_dzprev)
          carry[p].middleRows(prev * n, n).array() +=
              f.jac.middleRows(info.jac_offset + n * k++, n).array() * dz[p].middleRows(slot * n, n).array();
      if (sh.memory && sh.reset_block >= 0)
        carry[p].middleRows(sh.out_slot * n, n) -= sh.reset_gain * dd.middleRows(sh.reset_block * n, n);
    };
    for (int p = 0; p < np; ++p)
      if (pops[p].role == Role::output) backward(p);
    for (int p = 0; p < np; ++p)
      if (pops[p].role == Role::hidden) backward(p);
  }
  return grad;
}

const std::vector<std::string> kKinds = {"kind=lif",
                                         "kind=alif n_ref=2 beta=0.3 tau_a=50",
                                         "kind=alif n_ref=1 beta=0.05 tau_a=500 thr=0.3",
                                         "kind=lstm",
                                         "kind=tanh alpha=0.5",
                                         "kind=tanh",
                                         "kind=gru",
                                         "kind=test_smooth_alif n_ref=2 beta=0.3 tau_a=50"};

// Graphs that put the population in the positions e-prop treats differently: alone and recurrent; two of
// them, one feeding the other within the step and back with a delay, both read out, the output fed back; two
// readouts with different leaks.
std::vector<std::string> models(const std::string& kind, const std::string& readout) {
  const std::string h = fmt::format("[{} size=4]", kind);
  return {
      fmt::format("digraph a {{ x [kind=input size=3]; h {}; y [kind=output size=2 {}]; x -> h; h -> h [delay=1];"
                  " h -> y; }}",
                  h, readout),
      fmt::format("digraph b {{ x [kind=input size=3]; h {}; g {}; y [kind=output size=2 {}]; x -> h; h -> g;"
                  " g -> h [delay=1]; h -> h [delay=1]; h -> y; g -> y; y -> h [delay=1]; x -> g; }}",
                  h, h, readout),
      fmt::format("digraph c {{ x [kind=input size=3]; h {}; y [kind=output size=1 {}]; u [kind=output size=2 "
                  "kappa=0.5]; x -> h; h -> h [delay=2]; h -> y; h -> u; }}",
                  h, readout),
  };
}

TEST(Eprop, SymmetricFeedbackEqualsBpttStoppedAtProjectionsAndReset) {
  int spiking_checked = 0;
  for (const auto& kind : kKinds)
    for (const std::string readout : {"", "kappa=0.8"})
      for (const auto& dot : models(kind, readout)) {
        SCOPED_TRACE(dot);
        Trajectory r = make_run(dot, 30, 3, 11, kind.find("lif") != std::string::npos ? 0.5 : 0.0);
        const V ref = stopped_bptt(r);
        const V g = gradient(r, "eprop", {{"feedback", "symmetric"}});
        ASSERT_GT(hidden_norm(*r.prog, ref), 0);
        EXPECT_LE(rel(g, ref), 1e-9);
        if (kind.find("lif") != std::string::npos) ++spiking_checked;
      }
  EXPECT_EQ(spiking_checked, 2 * 3 * 4);
}

TEST(Eprop, SymmetricFeedbackEqualsRfloOnLeakyTanh) {
  for (const char* alpha : {"0.5", "0.1", "1"}) {
    Trajectory r = make_run(fmt::format("digraph l {{ x [kind=input size=2]; h [kind=tanh size=8 alpha={}]; "
                                        "y [kind=output size=2]; x -> h; h -> h [delay=1]; h -> y; }}",
                                        alpha),
                            25, 2, 4);
    EXPECT_LE(rel(gradient(r, "eprop", {{"feedback", "symmetric"}}), gradient(r, "rflo", {{"feedback", "symmetric"}})),
              1e-12)
        << alpha;
  }
}

TEST(Eprop, SymmetricFeedbackIsExactWithoutRecurrentProjections) {
  // A single unit-local population read out at delay 0 and fed only by the input: every path from a parameter
  // to the loss runs along its units' own state, so the stopped gradient is the whole gradient.
  for (const char* kind : {"kind=tanh alpha=0.3", "kind=lstm", "kind=gru"})
    for (const char* readout : {"", "kappa=0.7"}) {
      const std::string dot = fmt::format("digraph s {{ x [kind=input size=3]; h [{} size=5]; y [kind=output size=2 "
                                          "{}]; x -> h; h -> y; }}",
                                          kind, readout);
      Trajectory r = make_run(dot, 20, 2, 8);
      const V exact = gradient(r, "bptt");
      EXPECT_LE(rel(gradient(r, "eprop", {{"feedback", "symmetric"}}), exact), 1e-10) << dot;
      EXPECT_LE(rel(gradient(r, "eprop", {{"feedback", "random"}}), exact), 10) << dot;
      EXPECT_GT(rel(gradient(r, "eprop", {{"feedback", "random"}}), exact), 1e-3) << dot;
    }
}

TEST(Eprop, AlifTracesAreBellecEtAlsClosedForm) {
  // One ALIF population (input and recurrent weights, no autapse handling needed: the same formula holds on the
  // diagonal), a leaky readout, symmetric feedback, written with the formulas of Bellec et al.'s code:
  //   ε_v^t = α ε_v^{t-1} + pre^t,  ε_a^t = (ρ − β ψ^{t-1}) ε_a^{t-1} + ψ^{t-1} ε_v^{t-1},
  //   e^t = ψ^t (ε_v^t − β ε_a^t),  ē^t = κ ē^{t-1} + e^t,  ΔW_ji = Σ_t L_j^t ē_ji^t,  L = W_outᵀ (y − y*)/B.
  const int n = 6, nin = 3, T = 40, B = 2;
  const double tau_m = 20, tau_a = 60, thr = 0.4, beta = 0.2, kappa = 0.8;
  Trajectory r = make_run(fmt::format("digraph a {{ x [kind=input size={}]; h [kind=alif size={} tau_m={} "
                                      "tau_a={} thr={} beta={} n_ref=3]; y [kind=output size=2 kappa={}]; x -> h; "
                                      "h -> h [delay=1]; h -> y; }}",
                                      nin, n, tau_m, tau_a, thr, beta, kappa),
                          T, B, 21, 0.5);
  Program<double>& prog = *r.prog;
  const auto& projs = prog.projections();
  const auto find = [&](int source, int target) {
    return *std::find_if(projs.begin(), projs.end(), [&](const auto& e) { return e.source == source && e.target == target; });
  };
  const auto e_in = find(0, 1), e_rec = find(1, 1), e_out = find(1, 2);
  const M w_out = prog.weight(e_out);
  const double alpha = std::exp(-1 / tau_m), rho = std::exp(-1 / tau_a);
  const int Z = LifPopulation<double>::kZ, Vs = LifPopulation<double>::kV, A = LifPopulation<double>::kA,
            R = LifPopulation<double>::kR;
  const auto& h = prog.populations()[1];
  M g_in = M::Zero(n, nin), g_rec = M::Zero(n, n);
  for (int b = 0; b < B; ++b) {
    M ev_in = M::Zero(n, nin), ea_in = ev_in, eb_in = ev_in, ev_rec = M::Zero(n, n), ea_rec = ev_rec, eb_rec = ev_rec;
    Eigen::VectorXd psi_prev = Eigen::VectorXd::Zero(n), z_prev = psi_prev;
    M s = prog.zero_state(1);
    M ev_in_prev = ev_in, ev_rec_prev = ev_rec;
    for (int t = 0; t < T; ++t) {
      Frame<double> f = prog.make_frame(1);
      prog.forward(s, r.x[t].col(b), f);
      const Eigen::VectorXd v = f.z.col(0).segment(h.z_offset + Vs * n, n), a = f.z.col(0).segment(h.z_offset + A * n, n);
      const Eigen::VectorXd r_prev = s.col(0).segment(h.state_offset + R * n, n);
      Eigen::VectorXd psi(n);
      for (int j = 0; j < n; ++j)
        psi(j) = r_prev(j) > 0 ? 0 : 0.3 / thr * std::max(0.0, 1 - std::abs((v(j) - thr - beta * a(j)) / thr));
      // ε_a uses the previous step's ψ and ε_v; then ε_v moves on.
      ea_in = ((rho - beta * psi_prev.array()).matrix().asDiagonal() * ea_in) + psi_prev.asDiagonal() * ev_in;
      ea_rec = ((rho - beta * psi_prev.array()).matrix().asDiagonal() * ea_rec) + psi_prev.asDiagonal() * ev_rec;
      ev_in = alpha * ev_in + Eigen::VectorXd::Ones(n) * r.x[t].col(b).transpose();
      ev_rec = alpha * ev_rec + Eigen::VectorXd::Ones(n) * z_prev.transpose();
      eb_in = kappa * eb_in + psi.asDiagonal() * (ev_in - beta * ea_in);
      eb_rec = kappa * eb_rec + psi.asDiagonal() * (ev_rec - beta * ea_rec);
      M dy;
      prog.loss(f, r.t[t].col(b), r.m[t].col(b), &dy, 1.0 / B);
      const Eigen::VectorXd L = w_out.transpose() * dy;
      g_in += L.asDiagonal() * eb_in;
      g_rec += L.asDiagonal() * eb_rec;
      psi_prev = psi;
      z_prev = f.z.col(0).segment(h.z_offset + Z * n, n);
      s = f.s;
    }
  }
  const V g = gradient(r, "eprop", {{"feedback", "symmetric"}});
  const V gin = MatMap<double>(const_cast<double*>(g.data()) + e_in.weight_offset, n, nin).reshaped();
  const V grec = MatMap<double>(const_cast<double*>(g.data()) + e_rec.weight_offset, n, n).reshaped();
  ASSERT_GT(g_rec.norm(), 0);
  EXPECT_LE(rel(gin, g_in.reshaped()), 1e-12);
  EXPECT_LE(rel(grec, g_rec.reshaped()), 1e-12);
}

TEST(Eprop, ReadoutGradientIsExactWithAnyFeedback) {
  // A readout that is not fed back has no carried influence on the rest of the network: its parameters get their
  // exact gradient (through its own leak) whatever the learning signal of the hidden units.
  for (const char* readout : {"", "kappa=0.9"})
    for (const char* fb : {"symmetric", "random", "adaptive"}) {
      Trajectory r = make_run(fmt::format("digraph r {{ x [kind=input size=3]; h [kind=alif size=5 n_ref=2]; "
                                          "g [kind=lstm size=3]; y [kind=output size=2 {}]; x -> h; h -> h [delay=1]; "
                                          "h -> g; g -> g [delay=1]; h -> y; g -> y; }}",
                                          readout),
                              25, 2, 3, 0.5);
      const V exact = gradient(r, "bptt"), g = gradient(r, "eprop", {{"feedback", fb}});
      for (const auto& blk : r.prog->param_blocks())
        if (blk.owner == "y") {
          EXPECT_LE(rel(g.segment(blk.offset, blk.size), exact.segment(blk.offset, blk.size)), 1e-12) << blk.name;
        }
    }
}

TEST(Eprop, AdaptiveFeedbackTakesTheReadoutsUpdates) {
  // With the weights fixed, adaptive feedback is random feedback (decay aside). If the readout weights change
  // from W to 2W between two steps, B becomes B + Wᵀ: the hidden update of that step differs from random
  // feedback's by half of symmetric feedback's (whose signal is (2W)ᵀ err).
  Trajectory r = make_run("digraph a { x [kind=input size=3]; h [kind=lif size=6]; y [kind=output size=2 kappa=0.6];"
                          " x -> h; h -> h [delay=1]; h -> y; }",
                          8, 2, 5, 0.8);
  Program<double>& prog = *r.prog;
  const auto& e_out = prog.projections()[std::find_if(prog.projections().begin(), prog.projections().end(),
                                                      [](const auto& e) { return e.target == 2; }) -
                                         prog.projections().begin()];
  const M w0 = prog.weight(e_out);
  EXPECT_LE(rel(gradient(r, "eprop", {{"feedback", "adaptive"}}), gradient(r, "eprop", {{"feedback", "random"}})), 1e-15);
  std::map<std::string, V> last;
  for (const char* fb : {"adaptive", "random", "symmetric"}) {
    prog.weight(e_out) = w0;
    auto a = make_algorithm<double>("eprop", {{"feedback", fb}}, prog);
    a->reset(2);
    V g = V::Zero(prog.param_count());
    for (int t = 0; t < 8; ++t) {
      if (t == 7) {
        prog.weight(e_out) = 2 * w0;
        g.setZero();
      }
      a->step(r.x[t], r.t[t], r.m[t], g);
    }
    last[fb] = g;
  }
  prog.weight(e_out) = w0;
  const V diff = last["adaptive"] - last["random"];
  double err = 0, scale = 0;
  for (const auto& blk : prog.param_blocks())
    if (blk.owner == "h") {
      err += (diff.segment(blk.offset, blk.size) - 0.5 * last["symmetric"].segment(blk.offset, blk.size)).squaredNorm();
      scale += last["symmetric"].segment(blk.offset, blk.size).squaredNorm();
    }
  ASSERT_GT(scale, 0);
  EXPECT_LE(std::sqrt(err / scale), 1e-12);
  // A decay (Kolen-Pollack's alpha) shrinks B by 1 - 2 feedback_lr alpha after every step: at step t the hidden
  // update is that factor to the power t times random feedback's.
  auto a_rand = make_algorithm<double>("eprop", {{"feedback", "random"}}, prog);
  auto a_dec = make_algorithm<double>("eprop", {{"feedback", "adaptive"}, {"alpha", "1"}, {"feedback_lr", "0.05"}}, prog);
  a_rand->reset(2), a_dec->reset(2);
  for (int t = 0; t < 5; ++t) {
    V gr = V::Zero(prog.param_count()), gd = gr;
    a_rand->step(r.x[t], r.t[t], r.m[t], gr);
    a_dec->step(r.x[t], r.t[t], r.m[t], gd);
    for (const auto& blk : prog.param_blocks())
      if (blk.owner == "h") {
        EXPECT_LE(rel(gd.segment(blk.offset, blk.size), std::pow(0.9, t) * gr.segment(blk.offset, blk.size)), 1e-12);
      }
  }
}

TEST(Eprop, FiringRateRegularisationIsItsStoppedGradient) {
  for (const char* kind : {"kind=lif", "kind=alif n_ref=2 beta=0.3 tau_a=50"}) {
    const std::string dot = fmt::format("digraph f {{ x [kind=input size=3]; h [{} size=5 dt=2]; y [kind=output "
                                        "size=2 kappa=0.5]; x -> h; h -> h [delay=1]; h -> y; }}",
                                        kind);
    Trajectory r = make_run(dot, 30, 3, 13, 0.5);
    const double reg = 0.7, f_target = 20;  // Hz; dt = 2 ms: 0.04 spikes per step
    const V with = gradient(r, "eprop", {{"feedback", "symmetric"}, {"reg", "0.7"}, {"f_target", "20"}});
    const V ref = stopped_bptt(r, reg, f_target * 2 / 1000);
    ASSERT_GT(rel(ref, stopped_bptt(r)), 1e-3) << "the penalty must matter";
    EXPECT_LE(rel(with, ref), 1e-10) << kind;
  }
}

TEST(Eprop, RefusesWhatItCannotTrainNamingTheNode) {
  auto refuses = [](const std::string& dot, const std::map<std::string, std::string>& opts, const std::string& name) {
    ModelGraph g = parse_model(dot, "refuse.dot");
    resolve_output_losses(g, "mse", "test");
    Program<double> prog(g);
    try {
      make_algorithm<double>("eprop", opts, prog);
      ADD_FAILURE() << "accepted " << dot;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  // A memory module mixes units: no unit-local eligibility.
  refuses("digraph m { x [kind=input size=2]; h [kind=tanh size=3]; mem [kind=test_mix size=3]; y [kind=output "
          "size=2]; x -> h; h -> mem [port=a]; h -> mem [port=b]; mem -> y; h -> h [delay=1]; }",
          {}, "'mem'");
  refuses("digraph d { x [kind=input size=2]; h [kind=lif size=3]; y [kind=output size=2]; x -> h; h -> y [delay=1]; }",
          {{"feedback", "symmetric"}}, "'h'");
  refuses("digraph o { x [kind=input size=2]; h [kind=lif size=3]; y [kind=output size=2]; u [kind=output size=1];"
          " x -> h; h -> y; y -> u; }",
          {}, "'u'");
}

TEST(Eprop, RandomFeedbackDrawsBFromItsSeed) {
  // The hidden part of the update follows the seed's B; the readout part is exact and does not depend on it.
  Trajectory r = make_run("digraph a { x [kind=input size=3]; h [kind=alif size=6 n_ref=2]; y [kind=output size=2 "
                          "kappa=0.5]; x -> h; h -> h [delay=1]; h -> y; }",
                          20, 2, 6, 0.5);
  const V a = gradient(r, "eprop", {{"seed", "1"}}), b = gradient(r, "eprop", {{"seed", "2"}});
  EXPECT_GT(hidden_norm(*r.prog, a - b), 1e-3 * hidden_norm(*r.prog, a));
  for (const auto& blk : r.prog->param_blocks())
    if (blk.owner == "y") {
      EXPECT_EQ(a.segment(blk.offset, blk.size), b.segment(blk.offset, blk.size));
    }
}

}  // namespace
}  // namespace credo
