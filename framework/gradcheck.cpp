#include "framework/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <fmt/format.h>

#include "framework/credit.h"
#include "framework/error.h"
#include "framework/program.h"
#include "framework/trainer.h"

namespace credo {

namespace {

using M = Mat<double>;
using V = Vec<double>;

double rel_error(const Eigen::Ref<const M>& a, const Eigen::Ref<const M>& b) {
  const double scale = std::max({a.norm(), b.norm(), 1e-12});
  return (a - b).norm() / scale;
}

M random_matrix(int rows, int cols, std::mt19937_64& rng, double sd = 1.0) {
  std::normal_distribution<double> n(0.0, sd);
  M m(rows, cols);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i) m(i, j) = n(rng);
  return m;
}

// Random targets a loss can take: probability vectors for softmax, probabilities for sigmoid.
M random_targets(Program<double>& prog, int batch, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.05, 0.95);
  M t = random_matrix(prog.output_size(), batch, rng);
  const auto losses = prog.output_losses();
  int k = 0;
  for (const auto& p : prog.populations()) {
    if (p.role != Role::output) continue;
    auto block = t.middleRows(p.io_offset, p.shape.units);
    if (losses[k] != LossKind::mse) block = block.unaryExpr([&](double) { return u(rng); });
    if (losses[k] == LossKind::softmax_xent) block.array().rowwise() /= block.colwise().sum().array();
    ++k;
  }
  return t;
}

struct Sequence {
  std::vector<M> x, target, mask;
};

Sequence random_sequence(Program<double>& prog, int steps, int batch, std::mt19937_64& rng) {
  Sequence q;
  std::bernoulli_distribution keep(0.7);
  for (int t = 0; t < steps; ++t) {
    q.x.push_back(random_matrix(prog.input_size(), batch, rng));
    q.target.push_back(random_targets(prog, batch, rng));
    M m(1, batch);
    // Every sequence is scored at its last step, so the loss (and BPTT's gradient) is never empty.
    for (int b = 0; b < batch; ++b) m(0, b) = keep(rng) || t == steps - 1 ? 1.0 : 0.0;
    q.mask.push_back(m);
  }
  return q;
}

double sequence_loss(Program<double>& prog, const Sequence& q) {
  M s = prog.zero_state(static_cast<int>(q.x[0].cols()));
  Frame<double> f = prog.make_frame(static_cast<int>(s.cols()));
  double total = 0;
  for (size_t t = 0; t < q.x.size(); ++t) {
    prog.forward(s, q.x[t], f);
    total += prog.loss(f, q.target[t], q.mask[t], nullptr, 1.0);
    s = f.s;
  }
  return total / static_cast<double>(s.cols());
}

V algorithm_gradient(Program<double>& prog, const std::string& name, const std::map<std::string, std::string>& opts,
                     const Sequence& q) {
  auto algo = make_algorithm<double>(name, opts, prog);
  const int B = static_cast<int>(q.x[0].cols());
  algo->reset(B);
  V g = V::Zero(prog.param_count());
  for (size_t t = 0; t < q.x.size(); ++t) algo->step(q.x[t], q.target[t], q.mask[t], g);
  algo->end_chunk(true, g);
  return g;
}

// Which report line a parameter block belongs to: its projection, and its target population.
void add_block_rows(std::vector<CheckRow>& rows, const std::string& check, Program<double>& prog, const V& a,
                    const V& b, double tol) {
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by_pop;
  for (const auto& blk : prog.param_blocks()) {
    auto sa = a.segment(blk.offset, blk.size);
    auto sb = b.segment(blk.offset, blk.size);
    if (!blk.is_bias) rows.push_back({check, blk.name, rel_error(sa, sb), tol});
    auto& [va, vb] = by_pop["population " + blk.owner];
    va.insert(va.end(), sa.data(), sa.data() + sa.size());
    vb.insert(vb.end(), sb.data(), sb.data() + sb.size());
  }
  for (auto& [name, ab] : by_pop) {
    Eigen::Map<const V> va(ab.first.data(), ab.first.size()), vb(ab.second.data(), ab.second.size());
    rows.push_back({check, name, rel_error(va, vb), tol});
  }
}

}  // namespace

void resolve_output_losses(ModelGraph& graph, const std::string& loss, const std::string& task_name) {
  for (auto& p : graph.populations) {
    auto it = p.attributes.find("loss");
    if (it == p.attributes.end()) continue;
    if (it->second == "auto") it->second = loss;
    else if (it->second != loss)
      fail("{}: node '{}': loss={} but task '{}' is scored with {}; drop the loss attribute or set loss={}",
           graph.source, p.name, it->second, task_name, loss, loss);
  }
}

std::vector<CheckRow> check_gradients(const ModelGraph& input_graph, const CheckOptions& o) {
  if (o.steps < 1 || o.steps > CheckOptions::kMaxSteps)
    fail("check: steps must be in 1 .. {} (got {})", CheckOptions::kMaxSteps, o.steps);
  if (o.batch < 1 || o.batch > CheckOptions::kMaxBatch)
    fail("check: batch must be in 1 .. {} (got {})", CheckOptions::kMaxBatch, o.batch);
  if (static_cast<long>(o.steps) * o.batch > CheckOptions::kMaxStepsTimesBatch)
    fail("check: steps x batch must be at most {} (got {} x {})", CheckOptions::kMaxStepsTimesBatch, o.steps,
         o.batch);
  ModelGraph graph = input_graph;
  for (auto& p : graph.populations) {
    auto it = p.attributes.find("loss");
    // A softmax over one unit is constant (its gradient is zero): score single outputs with a sigmoid.
    if (it != p.attributes.end() && it->second == "auto") it->second = p.size > 1 ? "softmax_xent" : "sigmoid_xent";
  }
  Program<double> prog(graph);
  std::mt19937_64 rng(o.seed);
  prog.init_params(rng);
  prog.params() += random_matrix(prog.param_count(), 1, rng, 0.1);
  const int N = prog.state_size(), P = prog.param_count(), B = o.batch;
  const double h = 1e-5;
  std::vector<CheckRow> rows;

  // One step from a random state: VJP and JVP against central differences.
  const M s_prev = random_matrix(N, B, rng, 0.5);
  const M x = random_matrix(prog.input_size(), B, rng);
  Frame<double> f = prog.make_frame(B);
  auto step_fn = [&](const M& s0, const V& theta, M& s1, M& y) {
    V saved = prog.params();
    prog.params() = theta;
    Frame<double> g = prog.make_frame(B);
    prog.forward(s0, x, g);
    s1 = g.s;
    prog.outputs(g, y);
    prog.params() = saved;
  };
  prog.forward(s_prev, x, f);
  {
    const M cs = random_matrix(N, B, rng), cy = random_matrix(prog.output_size(), B, rng);
    M ds_prev;
    V grad = V::Zero(P);
    prog.vjp(f, s_prev, &cs, cy, ds_prev, grad);
    auto scalar = [&](const M& s0, const V& th) {
      M s1, y;
      step_fn(s0, th, s1, y);
      return (cs.array() * s1.array()).sum() + (cy.array() * y.array()).sum();
    };
    V fd = V::Zero(P);
    for (int k = 0; k < P; ++k) {
      V tp = prog.params(), tm = prog.params();
      tp(k) += h, tm(k) -= h;
      fd(k) = (scalar(s_prev, tp) - scalar(s_prev, tm)) / (2 * h);
    }
    add_block_rows(rows, "vjp (dθ)", prog, grad, fd, o.tolerance);
    if (N > 0) {
      M fds(N, B);
      for (int b = 0; b < B; ++b)
        for (int i = 0; i < N; ++i) {
          M sp = s_prev, sm = s_prev;
          sp(i, b) += h, sm(i, b) -= h;
          fds(i, b) = (scalar(sp, prog.params()) - scalar(sm, prog.params())) / (2 * h);
        }
      rows.push_back({"vjp (ds_prev)", "state", rel_error(ds_prev, fds), o.tolerance});
    }
  }
  if (N > 0) {
    // JVP: a random state and parameter tangent, column by column.
    const M ts = random_matrix(N, 1, rng), tt = random_matrix(P, 1, rng);
    double worst = 0, worst_j = 0, worst_m = 0;
    for (int b = 0; b < B; ++b) {
      M ds;
      prog.jvp(f, s_prev, b, &ts, &tt, ds);
      M s1p, s1m, y;
      M sp = s_prev, sm = s_prev;
      sp.col(b) += h * ts, sm.col(b) -= h * ts;
      step_fn(sp, prog.params() + h * tt, s1p, y);
      step_fn(sm, prog.params() - h * tt, s1m, y);
      worst = std::max(worst, rel_error(ds, (s1p.col(b) - s1m.col(b)) / (2 * h)));
      // The state Jacobian and the immediate influence against the JVP that built them.
      M J, ds_state, ds_theta;
      prog.state_jacobian(f, s_prev, b, J);
      prog.jvp(f, s_prev, b, &ts, nullptr, ds_state);
      worst_j = std::max(worst_j, rel_error(J * ts, ds_state));
      M gamma = M::Zero(N, P);
      prog.add_immediate_influence(f, s_prev, b, gamma);
      M eye = M::Identity(P, P), m_full;
      prog.jvp(f, s_prev, b, nullptr, &eye, m_full);
      worst_m = std::max(worst_m, rel_error(gamma, m_full));
    }
    rows.push_back({"jvp", "state", worst, o.tolerance});
    rows.push_back({"state jacobian", "state", worst_j, o.exact_tolerance});
    rows.push_back({"immediate influence", "state", worst_m, o.exact_tolerance});
  }

  // Whole sequences: BPTT against finite differences of the loss, then exact algorithms against BPTT.
  const Sequence q = random_sequence(prog, o.steps, B, rng);
  const V bptt = algorithm_gradient(prog, "bptt", {}, q);
  {
    V fd(P);
    const V theta = prog.params();
    for (int k = 0; k < P; ++k) {
      prog.params()(k) = theta(k) + h;
      const double lp = sequence_loss(prog, q);
      prog.params()(k) = theta(k) - h;
      const double lm = sequence_loss(prog, q);
      prog.params()(k) = theta(k);
      fd(k) = (lp - lm) / (2 * h);
    }
    add_block_rows(rows, "bptt vs finite differences", prog, bptt, fd, o.tolerance);
    // Agreement of two zero vectors proves nothing: the loss must depend on the parameters.
    rows.push_back({"bptt gradient is nonzero", "all parameters", bptt.norm() > 0 ? 0.0 : 1.0, 0.5});
  }
  std::vector<std::string> algos = o.algorithms;
  if (algos.empty())
    for (const auto& [name, e] : AlgorithmRegistry::get().all())
      if (e.make.exact && name != "bptt") algos.push_back(name);
  for (const auto& spec : algos) {
    const auto [name, options] = parse_algorithm_spec(spec);
    const V g = algorithm_gradient(prog, name, options, q);
    add_block_rows(rows, spec + " vs bptt", prog, g, bptt, o.exact_tolerance);
  }
  return rows;
}

}  // namespace credo
