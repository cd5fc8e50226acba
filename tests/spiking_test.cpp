// Spiking populations (lif, alif) and the leaky readout: the dynamics against Bellec et al.'s update equations,
// refractoriness, the local derivatives (reset and adaptation paths), the gradient check's handling of surrogate
// derivatives, and a smooth twin whose derivative bookkeeping finite differences can check.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/program.h"
#include "recurrent/cells/lif.h"

namespace credo {

// Smooth twins of lif and alif (the logistic in place of the step, its derivative as ψ), for the extension suite
// in extension_test.cpp and the checks below.
template <class T>
class TestSmoothLif final : public LifPopulation<T> {
 public:
  TestSmoothLif(int n, const Options& o) : LifPopulation<T>(n, o, false, LifPopulation<T>::Spike::smooth) {}
};
template <class T>
class TestSmoothAlif final : public LifPopulation<T> {
 public:
  TestSmoothAlif(int n, const Options& o) : LifPopulation<T>(n, o, true, LifPopulation<T>::Spike::smooth) {}
};
CREDO_REGISTER_POPULATION("test_smooth_lif", Role::hidden, TestSmoothLif, "lif with a logistic spike (tests)",
                          lif_options(false));
CREDO_REGISTER_POPULATION("test_smooth_alif", Role::hidden, TestSmoothAlif, "alif with a logistic spike (tests)",
                          lif_options(true));

namespace {

using M = Mat<double>;

void expect_all_ok(const std::vector<CheckRow>& rows) {
  ASSERT_FALSE(rows.empty());
  for (const auto& r : rows) EXPECT_LE(r.error, r.tolerance) << r.check << " / " << r.what;
}

// Runs the model forward on inputs xs (one batch column each step) and returns each step's frame.
std::vector<Frame<double>> run(Program<double>& prog, const std::vector<M>& xs) {
  std::vector<Frame<double>> frames;
  M s = prog.zero_state(static_cast<int>(xs[0].cols()));
  for (const auto& x : xs) {
    Frame<double> f = prog.make_frame(static_cast<int>(x.cols()));
    prog.forward(s, x, f);
    s = f.s;
    frames.push_back(std::move(f));
  }
  return frames;
}

TEST(Alif, FollowsTheReferenceUpdateEquations) {
  // Bellec et al.'s EligALIF step, written out: v = α v + W_in x + W_rec z_prev − v_th z_prev,
  // a = ρ a + z_prev, z = H((v − v_th − β a)/v_th) unless r_prev > 0, r = clip(r_prev + n_ref z − 1, 0, n_ref).
  const double tau_m = 20, tau_a = 300, thr = 0.6, beta = 0.3;
  const int n_ref = 3, n = 5, T = 100;
  ModelGraph g = parse_model(fmt::format("digraph a {{ x [kind=input size=2]; h [kind=alif size={} tau_m={} "
                                         "tau_a={} thr={} beta={} n_ref={}]; y [kind=output size=1 loss=mse]; "
                                         "x -> h; h -> h [delay=1]; h -> y; }}",
                                         n, tau_m, tau_a, thr, beta, n_ref),
                             "alif.dot");
  Program<double> prog(g);
  std::mt19937_64 rng(5);
  prog.init_params(rng);
  const auto& projs = prog.projections();
  const auto& e_in = *std::find_if(projs.begin(), projs.end(), [](const auto& e) { return e.source == 0; });
  const auto& e_rec = *std::find_if(projs.begin(), projs.end(), [](const auto& e) { return e.delay == 1; });
  const M w_in = prog.weight(e_in), w_rec = prog.weight(e_rec);
  std::normal_distribution<double> normal(1.0, 1.0);
  std::vector<M> xs;
  for (int t = 0; t < T; ++t) xs.push_back(M::NullaryExpr(2, 1, [&] { return normal(rng); }));
  const auto frames = run(prog, xs);
  const auto& h = prog.populations()[1];
  const double alpha = std::exp(-1 / tau_m), rho = std::exp(-1 / tau_a);
  Eigen::VectorXd v = Eigen::VectorXd::Zero(n), a = v, z = v, r = v;
  int spikes = 0, refractory_steps = 0;
  for (int t = 0; t < T; ++t) {
    const Eigen::VectorXd z_prev = z;
    v = alpha * v + w_in * xs[t] + w_rec * z_prev - thr * z_prev;
    a = rho * a + z_prev;
    for (int i = 0; i < n; ++i) {
      const bool refractory = r(i) > 0;
      refractory_steps += refractory;
      z(i) = !refractory && (v(i) - thr - beta * a(i)) / thr > 0 ? 1.0 : 0.0;
      r(i) = std::clamp(r(i) + n_ref * z(i) - 1, 0.0, double(n_ref));
    }
    spikes += static_cast<int>(z.sum());
    const auto& fz = frames[t].z;
    EXPECT_EQ(fz.middleRows(h.z_offset + LifPopulation<double>::kZ * n, n), z) << "step " << t;
    EXPECT_LE((fz.middleRows(h.z_offset + LifPopulation<double>::kV * n, n) - v).norm(), 1e-12) << "step " << t;
    EXPECT_LE((fz.middleRows(h.z_offset + LifPopulation<double>::kA * n, n) - a).norm(), 1e-12) << "step " << t;
    EXPECT_EQ(fz.middleRows(h.z_offset + LifPopulation<double>::kR * n, n), r) << "step " << t;
  }
  // The run exercised spikes and refractoriness.
  EXPECT_GT(spikes, 10);
  EXPECT_GT(refractory_steps, 10);
}

TEST(Lif, SpikesAtMostOnceEveryNRefSteps) {
  // A constant drive far above threshold: the neuron fires whenever it is not refractory.
  for (int n_ref : {0, 1, 2, 5}) {
    ModelGraph g = parse_model(fmt::format("digraph l {{ x [kind=input size=1]; h [kind=lif size=1 n_ref={}]; "
                                           "y [kind=output size=1 loss=mse]; x -> h [init=identity]; h -> y; }}",
                                           n_ref),
                               "lif.dot");
    Program<double> prog(g);
    std::mt19937_64 rng(1);
    prog.init_params(rng);
    const auto frames = run(prog, std::vector<M>(20, M::Constant(1, 1, 50.0)));
    const int period = std::max(n_ref, 1);
    for (int t = 0; t < 20; ++t)
      EXPECT_EQ(frames[t].z(prog.populations()[1].z_offset + LifPopulation<double>::kZ, 0), t % period == 0 ? 1 : 0)
          << "n_ref " << n_ref << " step " << t;
  }
}

TEST(Alif, LocalDerivativesHoldTheResetAndAdaptationPaths) {
  // The state Jacobian of one unit, from the Program's JVP, against the derivatives of the update equations
  // with ψ for dz/dv: the reset z_prev -> v and the adaptation z_prev -> a -> z must both be there.
  const double tau_m = 20, tau_a = 100, thr = 0.5, beta = 0.2, gamma = 0.3;
  ModelGraph g = parse_model(fmt::format("digraph a {{ x [kind=input size=1]; h [kind=alif size=1 tau_m={} tau_a={} "
                                         "thr={} beta={} gamma={} n_ref=2]; y [kind=output size=1 loss=mse]; "
                                         "x -> h [init=identity]; h -> y; }}",
                                         tau_m, tau_a, thr, beta, gamma),
                             "alif.dot");
  Program<double> prog(g);
  std::mt19937_64 rng(2);
  prog.init_params(rng);
  const double alpha = std::exp(-1 / tau_m), rho = std::exp(-1 / tau_a);
  const auto& h = prog.populations()[1];
  ASSERT_EQ(h.state_offset, 0);
  ASSERT_EQ(prog.state_size(), 4);
  const int V = LifPopulation<double>::kV, Z = LifPopulation<double>::kZ, R = LifPopulation<double>::kR,
            A = LifPopulation<double>::kA;
  for (double r_prev : {0.0, 1.0}) {
    M s_prev(4, 1);
    s_prev(V, 0) = 1.0, s_prev(Z, 0) = 1, s_prev(R, 0) = r_prev, s_prev(A, 0) = 0.5;
    M x = M::Constant(1, 1, 0.3);
    Frame<double> f = prog.make_frame(1);
    prog.forward(s_prev, x, f);
    const double v = f.z(h.z_offset + V, 0), a = f.z(h.z_offset + A, 0);
    const double xs = (v - thr - beta * a) / thr;
    const double psi = r_prev > 0 ? 0 : gamma / thr * std::max(0.0, 1 - std::abs(xs));
    EXPECT_GT(gamma / thr * std::max(0.0, 1 - std::abs(xs)), 0);  // inside the pseudo-derivative's support
    M J;
    prog.state_jacobian(f, s_prev, 0, J);
    M expected = M::Zero(4, 4);
    expected(V, V) = alpha, expected(V, Z) = -thr;
    expected(A, A) = rho, expected(A, Z) = 1;
    expected(Z, V) = psi * alpha, expected(Z, Z) = -psi * (thr + beta), expected(Z, A) = -psi * beta * rho;
    EXPECT_LE((J - expected).norm(), 1e-14) << "r_prev " << r_prev << "\n" << J;
  }
}

const char* kSpiking = R"(digraph s {
  x [kind=input size=3];
  h [kind=lif size=4 n_ref=2];
  a [kind=alif size=4 n_ref=2 beta=0.07 tau_a=500];
  g [kind=tanh size=3 alpha=0.5];
  y [kind=output size=2 kappa=0.8];
  x -> h; x -> a; x -> g;
  h -> h [delay=1]; a -> h [delay=1]; h -> a [delay=1]; a -> a [delay=1];
  h -> y; a -> y; g -> y; g -> g [delay=1];
})";

TEST(GradCheck, FiniteDifferencesSkipWhatReachesASurrogateAndExactAlgorithmsMatchBptt) {
  ModelGraph g = parse_model(kSpiking, "spiking.dot");
  CheckOptions o;
  o.steps = 12;
  CheckInfo info;
  const auto rows = check_gradients(g, o, &info);
  expect_all_ok(rows);
  EXPECT_EQ(info.surrogate, (std::vector<std::string>{"h", "a"}));
  bool fd_on_g = false, rtrl_on_h = false;
  for (const auto& r : rows) {
    if (r.check.find("finite") != std::string::npos || r.check.rfind("vjp", 0) == 0) {
      EXPECT_EQ(r.what.find("population h"), std::string::npos);
      EXPECT_EQ(r.what.find("population a"), std::string::npos);
      EXPECT_EQ(r.what.find("x -> h"), std::string::npos);
      fd_on_g = fd_on_g || r.what == "population g";
    }
    rtrl_on_h = rtrl_on_h || (r.check == "rtrl vs bptt" && r.what == "population h");
  }
  EXPECT_TRUE(fd_on_g);
  EXPECT_TRUE(rtrl_on_h);
}

TEST(GradCheck, SmoothTwinsPassFiniteDifferencesWithResetAndAdaptation) {
  std::string dot = kSpiking;
  for (auto [from, to] : {std::pair<std::string, std::string>{"kind=lif", "kind=test_smooth_lif"},
                          {"kind=alif", "kind=test_smooth_alif"}})
    dot.replace(dot.find(from), from.size(), to);
  ModelGraph g = parse_model(dot, "smooth.dot");
  for (std::uint64_t seed : {1, 2, 3}) {
    CheckOptions o;
    o.steps = 12;
    o.seed = seed;
    CheckInfo info;
    expect_all_ok(check_gradients(g, o, &info));
    EXPECT_TRUE(info.surrogate.empty());
    EXPECT_EQ(info.fd_param_coordinates, info.param_count);
  }
}

TEST(GradCheck, SpikingModelFiles) {
  for (const char* name : {"cue_lsnn.dot", "cue_lif.dot"}) {
    CheckOptions o;
    o.steps = 4;
    o.batch = 1;
    CheckInfo info;
    const auto rows = check_gradients(read_model(std::string(CREDO_SOURCE_DIR) + "/models/" + name), o, &info);
    SCOPED_TRACE(name);
    expect_all_ok(rows);
    EXPECT_FALSE(info.surrogate.empty());
  }
}

TEST(LeakyReadout, GradientsAgreeWithFiniteDifferencesAlsoWhenFedBack) {
  for (const char* dot : {
           "digraph r { x [kind=input size=2]; h [kind=tanh size=3 alpha=0.5]; y [kind=output size=2 kappa=0.9];"
           " x -> h; h -> h [delay=1]; h -> y; }",
           "digraph r { x [kind=input size=2]; h [kind=lstm size=3]; y [kind=output size=2 kappa=0.5 loss=mse];"
           " x -> h; h -> y; y -> h [delay=1]; }",
           "digraph r { x [kind=input size=2]; h [kind=tanh size=3]; y [kind=output size=1 kappa=0.7];"
           " x -> h; h -> y [delay=2]; x -> y; }"}) {
    SCOPED_TRACE(dot);
    expect_all_ok(check_gradients(parse_model(dot, "readout.dot"), CheckOptions{}));
  }
}

TEST(LeakyReadout, ReadoutOnlyLearningGetsItsExactGradient) {
  // The readout-only baseline carries the leaky readout's own trace: its gradient on the readout's parameters is
  // BPTT's (the readout is not fed back), and nothing else moves.
  ModelGraph g = parse_model("digraph r { x [kind=input size=2]; h [kind=alif size=4 n_ref=2]; y [kind=output size=2 "
                             "kappa=0.8 loss=mse]; x -> h; h -> h [delay=1]; h -> y; x -> y; }",
                             "readout.dot");
  Program<double> prog(g);
  std::mt19937_64 rng(3);
  prog.init_params(rng);
  std::normal_distribution<double> normal(0.5, 1);
  auto gradient = [&](const char* algo) {
    std::mt19937_64 data(9);
    auto a = make_algorithm<double>(algo, {}, prog);
    a->reset(3);
    Vec<double> grad = Vec<double>::Zero(prog.param_count());
    for (int t = 0; t < 25; ++t) {
      const M x = M::NullaryExpr(2, 3, [&] { return normal(data); }), y = M::NullaryExpr(2, 3, [&] { return normal(data); });
      a->step(x, y, M::Ones(1, 3), grad);
    }
    a->end_chunk(true, grad);
    return grad;
  };
  const Vec<double> exact = gradient("bptt"), readout = gradient("readout");
  for (const auto& blk : prog.param_blocks()) {
    const auto a = readout.segment(blk.offset, blk.size), b = exact.segment(blk.offset, blk.size);
    if (blk.owner == "y") {
      EXPECT_LE((a - b).norm(), 1e-12 * b.norm()) << blk.name;
    } else {
      EXPECT_EQ(a.norm(), 0) << blk.name;
    }
  }
}

TEST(LeakyReadout, FiltersItsDrive) {
  ModelGraph g = parse_model("digraph r { x [kind=input size=1]; y [kind=output size=1 kappa=0.5 loss=mse];"
                             " x -> y [init=identity]; }",
                             "readout.dot");
  Program<double> prog(g);
  std::mt19937_64 rng(1);
  prog.init_params(rng);
  const auto frames = run(prog, {M::Constant(1, 1, 1), M::Constant(1, 1, 0), M::Constant(1, 1, 2)});
  EXPECT_DOUBLE_EQ(frames[0].z(1, 0), 1);
  EXPECT_DOUBLE_EQ(frames[1].z(1, 0), 0.5);
  EXPECT_DOUBLE_EQ(frames[2].z(1, 0), 2.25);
}

TEST(Connectivity, AutapsesAndDensityAreFixedMasks) {
  // No autapses on the recurrent LIF projection (every gate block of an LSTM's), 30 % of the input weights.
  ModelGraph g = parse_model("digraph c { x [kind=input size=20]; h [kind=lif size=8]; c [kind=lstm size=5];"
                             " y [kind=output size=2 loss=mse]; x -> h [density=0.3]; h -> h [delay=1 autapses=0];"
                             " x -> c; c -> c [delay=1 autapses=0]; h -> y; c -> y; }",
                             "masks.dot");
  Program<double> prog(g);
  std::mt19937_64 rng(4);
  prog.init_params(rng);
  const auto& projs = prog.projections();
  auto find = [&](int source, int target) {
    return *std::find_if(projs.begin(), projs.end(), [&](const auto& e) { return e.source == source && e.target == target; });
  };
  const M w_hh = prog.weight(find(1, 1)), w_cc = prog.weight(find(2, 2)), w_xh = prog.weight(find(0, 1));
  EXPECT_EQ(w_hh.diagonal().norm(), 0);
  EXPECT_GT((w_hh.array() != 0).count(), 8 * 8 - 8 - 2);
  for (int block = 0; block < 4; ++block) EXPECT_EQ(w_cc.middleRows(block * 5, 5).diagonal().norm(), 0) << block;
  const double kept = (w_xh.array() != 0).count() / 160.0;
  EXPECT_NEAR(kept, 0.3, 0.1);
  EXPECT_EQ(static_cast<int>(prog.masked().size()), 8 + 4 * 5 + (160 - static_cast<int>((w_xh.array() != 0).count())));
  // Masked coordinates stay zero through the gradient the optimizer sees; the rest is untouched.
  Vec<double> grad = Vec<double>::Ones(prog.param_count());
  prog.mask(grad);
  EXPECT_EQ(grad.sum(), prog.param_count() - static_cast<double>(prog.masked().size()));
  for (int i : prog.masked()) EXPECT_EQ(prog.params()(i), 0);
  // The masks are part of the initialization: the same seed draws the same mask.
  Program<double> again(g);
  std::mt19937_64 rng2(4);
  again.init_params(rng2);
  EXPECT_EQ(again.masked(), prog.masked());
  EXPECT_EQ(again.params(), prog.params());
  // Gradients of a masked model agree as ever.
  for (const auto& r : check_gradients(parse_model("digraph c { x [kind=input size=3]; h [kind=tanh size=4 alpha=0.5];"
                                                   " y [kind=output size=2]; x -> h [density=0.5];"
                                                   " h -> h [delay=1 autapses=0]; h -> y; }",
                                                   "masks.dot"),
                                       CheckOptions{}))
    EXPECT_LE(r.error, r.tolerance) << r.check << " / " << r.what;
}

TEST(Connectivity, RejectsMeaninglessMasksAndWritesThemBack) {
  EXPECT_THROW(parse_model("digraph c { x [kind=input size=2]; h [kind=tanh size=2]; y [kind=output size=2];"
                           " x -> h [autapses=0]; h -> y; }", "c.dot"),
               InputError);
  for (const char* d : {"0", "1.5", "-0.1", "abc"})
    EXPECT_THROW(parse_model(fmt::format("digraph c {{ x [kind=input size=2]; h [kind=tanh size=2]; y [kind=output "
                                         "size=2]; x -> h [density={}]; h -> y; }}", d), "c.dot"),
                 InputError)
        << d;
  const ModelGraph g = parse_model("digraph c { x [kind=input size=2]; h [kind=tanh size=2]; y [kind=output size=2];"
                                   " x -> h [density=0.25]; h -> h [delay=1 autapses=0]; h -> y; }", "c.dot");
  const ModelGraph back = parse_model(write_model(g), "back.dot");
  ASSERT_EQ(back.projections.size(), g.projections.size());
  for (size_t k = 0; k < g.projections.size(); ++k) {
    EXPECT_EQ(back.projections[k].autapses, g.projections[k].autapses);
    EXPECT_EQ(back.projections[k].density, g.projections[k].density);
  }
}

// Spikes are sparse: the drive from a spiking population or an input adds only the weight columns of its nonzero
// entries when few are nonzero, and equals the dense product up to the order of the sums.
TEST(SparseDrive, AddsOnlyTheColumnsOfNonzeroEntries) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  M w(5, 40), out(5, 3), sparse = M::Zero(40, 3);
  for (auto& v : w.reshaped()) v = normal(rng);
  for (auto& v : out.reshaped()) v = normal(rng);
  sparse(3, 0) = 1, sparse(17, 0) = 1, sparse(39, 2) = 0.5, sparse(0, 1) = -2;  // 4 of 120
  M got = out;
  ASSERT_TRUE(Program<double>::add_sparse_product(w, sparse, got));
  EXPECT_LE((got - (out + w * sparse)).cwiseAbs().maxCoeff(), 1e-14);
  M dense(40, 3);
  for (auto& v : dense.reshaped()) v = normal(rng);
  got = out;
  EXPECT_FALSE(Program<double>::add_sparse_product(w, dense, got));  // too many nonzeros: the product's job
  EXPECT_EQ(got, out);
}

TEST(SparseDrive, ASpikingNetworkRunsAsWithTheDenseProduct) {
  const ModelGraph g = parse_model(
      "digraph s { x [kind=input size=40]; lif [kind=lif size=30 tau_m=20 thr=0.6 n_ref=5];"
      " alif [kind=alif size=30 tau_m=20 thr=0.6 n_ref=5 tau_a=200 beta=0.05]; y [kind=output size=2 kappa=0.95 loss=softmax_xent];"
      " x -> lif [gain=3]; x -> alif [gain=3]; lif -> lif [delay=1 autapses=0]; alif -> lif [delay=1];"
      " lif -> alif [delay=1]; alif -> alif [delay=1 autapses=0]; lif -> y; alif -> y; lif -> alif; }",
      "s.dot");
  Program<double> sparse(g), dense(g);
  std::mt19937_64 rng(5);
  sparse.init_params(rng);
  dense.params() = sparse.params();
  dense.set_sparse_drive(false);
  ASSERT_TRUE(sparse.sparse_drive());
  // Poisson inputs at 40 Hz in 1 ms steps, batch 4, 300 steps.
  std::bernoulli_distribution spike(0.04);
  const int B = 4, T = 300;
  std::vector<M> xs(T, M::Zero(40, B));
  for (auto& x : xs)
    for (auto& v : x.reshaped()) v = spike(rng) ? 1.0 : 0.0;
  const auto a = run(sparse, xs), b = run(dense, xs);
  double worst = 0, spikes = 0;
  const auto& lif = sparse.populations()[sparse.graph().find("lif")];
  for (int t = 0; t < T; ++t) {
    worst = std::max({worst, (a[t].z - b[t].z).cwiseAbs().maxCoeff(), (a[t].s - b[t].s).cwiseAbs().maxCoeff()});
    spikes += a[t].z.middleRows(lif.z_offset + lif.shape.out_slot * lif.shape.units, lif.shape.units).sum();
  }
  EXPECT_LE(worst, 1e-12);
  EXPECT_GT(spikes, 0.01 * T * B * 30);  // the network is active, and sparsely
  EXPECT_LT(spikes, 0.2 * T * B * 30);

  // e-prop's gradient, which reads the drive's inputs through the frames, is the same either way.
  std::vector<Eigen::VectorXd> grads;
  for (Program<double>* prog : {&sparse, &dense}) {
    auto algo = make_algorithm<double>("eprop", {{"feedback", "symmetric"}}, *prog);
    algo->reset(B);
    Eigen::VectorXd grad = Eigen::VectorXd::Zero(prog->param_count());
    const M target = M::Constant(2, B, 0.5), mask = M::Ones(1, B);
    for (int t = 0; t < T; ++t) algo->step(xs[t], target, mask, grad);
    grads.push_back(grad);
  }
  EXPECT_LE((grads[0] - grads[1]).cwiseAbs().maxCoeff(), 1e-12 * std::max(1.0, grads[1].cwiseAbs().maxCoeff()));
  EXPECT_GT(grads[1].norm(), 0);
}

}  // namespace
}  // namespace credo
