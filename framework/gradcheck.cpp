#include "framework/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <numeric>
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

// |a - b| / max(|a|, |b|, floor); floor is 1e-3 of the whole comparison's size for a block of it.
double rel_error(const Eigen::Ref<const M>& a, const Eigen::Ref<const M>& b, double floor = 0) {
  const double scale = std::max({a.norm(), b.norm(), floor, 1e-12});
  return (a - b).norm() / scale;
}

constexpr double kBlockFloor = 1e-3;

// Up to `per_block` indices from [begin, begin + size) (all when per_block is 0), appended to out.
void pick(std::vector<int>& out, int begin, int size, int per_block, std::mt19937_64& rng) {
  std::vector<int> idx(size);
  std::iota(idx.begin(), idx.end(), begin);
  if (per_block > 0 && size > per_block) {
    std::vector<int> some;
    std::sample(idx.begin(), idx.end(), std::back_inserter(some), per_block, rng);
    idx.swap(some);
  }
  out.insert(out.end(), idx.begin(), idx.end());
}

// Populations whose gradients pass through a surrogate derivative, which finite differences cannot check: every
// population of a surrogate (spiking) kind, and every population from which one is reachable along projections
// (of any delay), since its parameters and state move the loss through the spikes.
std::vector<char> through_surrogate(const Program<double>& prog) {
  const auto& pops = prog.populations();
  std::vector<char> out(pops.size(), 0);
  std::vector<int> todo;
  for (size_t p = 0; p < pops.size(); ++p)
    if (!pops[p].module && pops[p].shape.surrogate) out[p] = 1, todo.push_back(static_cast<int>(p));
  while (!todo.empty()) {
    const int q = todo.back();
    todo.pop_back();
    for (const auto& e : prog.projections())
      if (e.target == q && !out[e.source]) out[e.source] = 1, todo.push_back(e.source);
  }
  return out;
}

// The coordinates of θ checked against finite differences, sorted: none of a block driving a population in
// `skip`.
std::vector<int> param_coordinates(Program<double>& prog, int per_block, std::mt19937_64& rng,
                                   const std::vector<char>& skip) {
  std::vector<int> out;
  for (const auto& blk : prog.param_blocks()) {
    const int owner = prog.graph().find(blk.owner);
    if (owner >= 0 && skip[owner]) continue;
    pick(out, blk.offset, blk.size, per_block, rng);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The rows of s carrying population p: its state, a module's state, its delay lines.
template <class F>
void for_state_rows(const Program<double>::PopInfo& p, F&& span) {
  if (p.state_offset >= 0) span(p.state_offset, p.shape.slots * p.shape.units);
  if (p.module_state_offset >= 0) span(p.module_state_offset, p.module_shape.state);
  for (int off : p.buffer_offsets) span(off, p.shape.units);
}

// The entries (row, column) of s_{t-1} checked against finite differences: up to per_block of each
// population's carried rows (its state and its delay lines) over the batch, and of any rows left over; none of
// a population in `skip`.
std::vector<std::pair<int, int>> state_coordinates(Program<double>& prog, int B, int per_block,
                                                   std::mt19937_64& rng, const std::vector<char>& skip) {
  const int N = prog.state_size();
  std::vector<char> covered(N, 0);
  std::vector<std::vector<int>> groups;
  for (size_t k = 0; k < prog.populations().size(); ++k) {
    const auto& p = prog.populations()[k];
    if (skip[k]) {
      for_state_rows(p, [&](int off, int n) { std::fill_n(covered.begin() + off, n, char(1)); });
      continue;
    }
    std::vector<int> rows;
    auto span = [&](int off, int n) {
      for (int i = off; i < off + n && i < N; ++i)
        if (i >= 0 && !covered[i]) rows.push_back(i), covered[i] = 1;
    };
    for_state_rows(p, span);
    if (!rows.empty()) groups.push_back(std::move(rows));
  }
  std::vector<int> rest;
  for (int i = 0; i < N; ++i)
    if (!covered[i]) rest.push_back(i);
  if (!rest.empty()) groups.push_back(std::move(rest));
  std::vector<std::pair<int, int>> out;
  for (const auto& rows : groups) {
    std::vector<int> flat;  // index into rows x batch
    pick(flat, 0, static_cast<int>(rows.size()) * B, per_block, rng);
    for (int k : flat) out.emplace_back(rows[k % rows.size()], k / static_cast<int>(rows.size()));
  }
  return out;
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

// One report line per projection and one per target population, comparing a and b at the coordinates
// `coords` (sorted; nullptr: all). Each block's scale has a floor of kBlockFloor times the size of the
// whole comparison, so blocks with tiny gradients are held to the precision of the whole.
void add_block_rows(std::vector<CheckRow>& rows, const std::string& check, Program<double>& prog, const V& a,
                    const V& b, double tol, const std::vector<int>* coords = nullptr) {
  std::vector<int> all;
  if (!coords) {
    all.resize(a.size());
    std::iota(all.begin(), all.end(), 0);
    coords = &all;
  }
  double na = 0, nb = 0;
  for (int k : *coords) na += a(k) * a(k), nb += b(k) * b(k);
  const double floor = kBlockFloor * std::sqrt(std::max(na, nb));
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by_pop;
  for (const auto& blk : prog.param_blocks()) {
    std::vector<double> sa, sb;
    for (auto it = std::lower_bound(coords->begin(), coords->end(), blk.offset);
         it != coords->end() && *it < blk.offset + blk.size; ++it)
      sa.push_back(a(*it)), sb.push_back(b(*it));
    if (sa.empty()) continue;
    Eigen::Map<const V> va(sa.data(), sa.size()), vb(sb.data(), sb.size());
    if (!blk.is_bias) rows.push_back({check, blk.name, rel_error(va, vb, floor), tol});
    auto& [pa, pb] = by_pop["population " + blk.owner];
    pa.insert(pa.end(), sa.begin(), sa.end());
    pb.insert(pb.end(), sb.begin(), sb.end());
  }
  for (auto& [name, ab] : by_pop) {
    Eigen::Map<const V> va(ab.first.data(), ab.first.size()), vb(ab.second.data(), ab.second.size());
    rows.push_back({check, name, rel_error(va, vb, floor), tol});
  }
}

}  // namespace

std::vector<CheckRow> check_gradients(const ModelGraph& input_graph, const CheckOptions& o, CheckInfo* info) {
  if (o.steps < 1 || o.steps > CheckOptions::kMaxSteps)
    fail("check: steps must be in 1 .. {} (got {})", CheckOptions::kMaxSteps, o.steps);
  if (o.batch < 1 || o.batch > CheckOptions::kMaxBatch)
    fail("check: batch must be in 1 .. {} (got {})", CheckOptions::kMaxBatch, o.batch);
  if (static_cast<long>(o.steps) * o.batch > CheckOptions::kMaxStepsTimesBatch)
    fail("check: steps x batch must be at most {} (got {} x {})", CheckOptions::kMaxStepsTimesBatch, o.steps,
         o.batch);
  if (o.fd_per_block < -1) fail("check: coordinates per block must be -1 (automatic), 0 (all) or positive");
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
  prog.mask(prog.params());
  const int N = prog.state_size(), P = prog.param_count(), B = o.batch;
  const double h = 1e-5;
  std::vector<CheckRow> rows;
  // Which coordinates get finite differences, and the random directions for the immediate influence, come
  // from a second stream so that the inputs, weights and targets do not depend on them.
  std::mt19937_64 aux(o.seed ^ 0x9e3779b97f4a7c15ULL);
  int per_block = o.fd_per_block;
  if (per_block < 0) per_block = P > CheckOptions::kFullCheckParams ? CheckOptions::kSampledPerBlock : 0;
  const std::vector<char> skip = through_surrogate(prog);
  const std::vector<int> coords = param_coordinates(prog, per_block, aux, skip);
  const auto state_coords = state_coordinates(prog, B, per_block, aux, skip);
  if (info) {
    *info = {P, N, per_block, static_cast<int>(coords.size()), {}};
    for (size_t k = 0; k < skip.size(); ++k)
      if (skip[k] && prog.populations()[k].role != Role::input) info->surrogate.push_back(prog.populations()[k].name);
  }

  // One step from a random state: VJP and JVP against central differences. A memory module's state has
  // structure (a step counter, normalised weightings) that a random vector would break, so with modules in
  // the model the state is one the model reaches: three steps on random inputs from the zero state.
  M s_prev = random_matrix(N, B, rng, 0.5);
  Frame<double> f = prog.make_frame(B);
  if (prog.first_module() >= 0) {
    s_prev.setZero();
    for (int t = 0; t < 3; ++t) {
      prog.forward(s_prev, random_matrix(prog.input_size(), B, rng), f);
      s_prev = f.s;
    }
  }
  const M x = random_matrix(prog.input_size(), B, rng);
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
    V tp = prog.params(), tm = prog.params();
    for (int k : coords) {
      tp(k) += h, tm(k) -= h;
      fd(k) = (scalar(s_prev, tp) - scalar(s_prev, tm)) / (2 * h);
      tp(k) = tm(k) = prog.params()(k);
    }
    add_block_rows(rows, "vjp (dθ)", prog, grad, fd, o.tolerance, &coords);
    if (!state_coords.empty()) {
      const int K = static_cast<int>(state_coords.size());
      V an(K), fds(K);
      M sp = s_prev, sm = s_prev;
      for (int k = 0; k < K; ++k) {
        const auto [i, b] = state_coords[k];
        sp(i, b) += h, sm(i, b) -= h;
        fds(k) = (scalar(sp, prog.params()) - scalar(sm, prog.params())) / (2 * h);
        sp(i, b) = sm(i, b) = s_prev(i, b);
        an(k) = ds_prev(i, b);
      }
      rows.push_back({"vjp (ds_prev)", "state", rel_error(an, fds), o.tolerance});
    }
  }
  if (N > 0) {
    // JVP: a random state and parameter tangent, column by column; zero on whatever reaches a surrogate
    // derivative, so that finite differences apply; then scaled to unit norm together so that the
    // finite-difference step along it is h whatever the model's size (a large model's raw tangent would
    // make the step, and the truncation error, grow with sqrt(N + P)).
    M ts = random_matrix(N, 1, rng), tt = random_matrix(P, 1, rng);
    for (size_t k = 0; k < skip.size(); ++k)
      if (skip[k]) for_state_rows(prog.populations()[k], [&](int off, int n) { ts.middleRows(off, n).setZero(); });
    for (const auto& blk : prog.param_blocks())
      if (const int owner = prog.graph().find(blk.owner); owner >= 0 && skip[owner])
        tt.middleRows(blk.offset, blk.size).setZero();
    {
      const double norm = std::sqrt(ts.squaredNorm() + tt.squaredNorm());
      if (norm > 0) ts /= norm, tt /= norm;
    }
    // The immediate influence Γ (N x P) along a few random parameter directions, against the JVP with
    // those directions as tangents: O(N P) memory, where the full Jacobian would be P x P.
    const M dirs = random_matrix(P, 4, aux);
    M gamma(N, P);
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
      gamma.setZero();
      prog.add_immediate_influence(f, s_prev, b, gamma);
      M m_dirs;
      prog.jvp(f, s_prev, b, nullptr, &dirs, m_dirs);
      worst_m = std::max(worst_m, rel_error(gamma * dirs, m_dirs));
    }
    rows.push_back({"jvp", "state", worst, o.tolerance});
    rows.push_back({"state jacobian", "state", worst_j, o.exact_tolerance});
    rows.push_back({"immediate influence", "state", worst_m, o.exact_tolerance});
  }

  // Whole sequences: BPTT against finite differences of the loss, then exact algorithms against BPTT.
  const Sequence q = random_sequence(prog, o.steps, B, rng);
  const V bptt = algorithm_gradient(prog, "bptt", {}, q);
  {
    V fd = V::Zero(P);
    const V theta = prog.params();
    for (int k : coords) {
      prog.params()(k) = theta(k) + h;
      const double lp = sequence_loss(prog, q);
      prog.params()(k) = theta(k) - h;
      const double lm = sequence_loss(prog, q);
      prog.params()(k) = theta(k);
      fd(k) = (lp - lm) / (2 * h);
    }
    add_block_rows(rows, "bptt vs finite differences", prog, bptt, fd, o.tolerance, &coords);
    // Agreement of two zero vectors proves nothing: the loss must depend on the parameters.
    rows.push_back({"bptt gradient is nonzero", "all parameters", bptt.norm() > 0 ? 0.0 : 1.0, 0.5});
  }
  std::vector<std::string> algos = o.algorithms;
  if (algos.empty())
    for (const auto& [name, e] : AlgorithmRegistry::get().all())
      if (e.make.exact && name != "bptt") algos.push_back(name);
  // An approximate algorithm (one not claiming exactness, named with --algo) owes BPTT's gradient only for the
  // readout, the parameters of output populations that do not feed back, which no credit through time reaches;
  // its other blocks are reported beside BPTT's, not checked.
  bool feedback = false;
  for (const auto& e : prog.projections()) feedback = feedback || prog.populations()[e.source].role == Role::output;
  std::set<std::string> readout;
  if (!feedback)
    for (const auto& b : prog.param_blocks())
      if (prog.populations()[prog.graph().find(b.owner)].role == Role::output)
        readout.insert(b.name), readout.insert("population " + b.owner);
  for (const auto& spec : algos) {
    const auto [name, options] = parse_algorithm_spec(spec);
    const V g = algorithm_gradient(prog, name, options, q);
    if (AlgorithmRegistry::get().find(name, "credit algorithm").make.exact) {
      add_block_rows(rows, spec + " vs bptt", prog, g, bptt, o.exact_tolerance);
      continue;
    }
    std::vector<CheckRow> mine;
    add_block_rows(mine, spec + " vs bptt", prog, g, bptt, o.exact_tolerance);
    for (auto& r : mine) {
      if (!readout.count(r.what)) {
        r.check = spec + " vs bptt (approx.)";
        r.tolerance = std::numeric_limits<double>::infinity();
      } else {
        r.check = spec + " vs bptt (readout)";
      }
      rows.push_back(r);
    }
  }
  return rows;
}

}  // namespace credo
