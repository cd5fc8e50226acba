#include "framework/program.h"

#include <algorithm>
#include <cmath>

#include <Eigen/QR>
#include <fmt/format.h>

#include "framework/error.h"

namespace credo {

// Buffers reused from step to step. Tangent buffers keep the largest tangent count seen and are used through
// leftCols(K), so calls with different counts (a JVP, a state Jacobian, a drive influence) never resize each
// other's buffers; everything is linear in the size of the model.
template <class T>
struct Program<T>::Reverse {
  Mat<T> dz;                 // z_rows x B cotangents
  std::vector<Mat<T>> dd;    // per node: drive cotangent, drive_rows x B
  Mat<T> zero_state;         // zeros, largest module state x B (a module's state cotangent when ds is zero)
};

template <class T>
struct Program<T>::Workspace {
  std::vector<Mat<T>> drive;   // per population: drive_rows x B
  Reverse batch, column;       // vjp over the batch; vjp_column
  std::vector<Mat<T>> tdrive;  // per node: drive_rows x K tangents
  Mat<T> tz;                   // z_rows x K tangents
  Mat<T> eye;                  // identity tangents for state_jacobian
  // drive_influence's own buffers: z tangents, and per node its drive tangents, with as many columns as the
  // largest drive asked about.
  Mat<T> gz;
  std::vector<Mat<T>> gdrive;
  std::vector<Mat<T>> g;  // per node p (sized when first asked): ds_t/d drive_p for add_immediate_influence
};

namespace {

// Sizes are ints throughout (Eigen's indices are wider, but a model beyond 2^31 rows or parameters would not
// fit in memory anyway): grow a counter, or fail naming what overflowed.
void grow(int& counter, long long add, const std::string& source, const std::string& what) {
  const long long next = static_cast<long long>(counter) + add;
  if (add < 0 || next > 2'000'000'000LL)
    fail("{}: {} makes the model too large (over 2e9 {}); use smaller populations", source, what,
         what.find("state") != std::string::npos ? "state rows" : "parameters or rows");
  counter = static_cast<int>(next);
}

// m.leftCols(cols) with m grown (never shrunk) to rows x at least cols.
template <class T>
MatRef<T> columns(Mat<T>& m, Eigen::Index rows, Eigen::Index cols) {
  if (m.rows() != rows || m.cols() < cols) m.resize(rows, std::max(cols, m.cols()));
  return m.leftCols(cols);
}

}  // namespace

template <class T>
Program<T>::Program(const ModelGraph& graph) : graph_(graph), ws_(std::make_unique<Workspace>()) {
  require_sizes(graph_);
  const int np = static_cast<int>(graph_.populations.size());
  const auto& registry = PopulationRegistry::get();
  pops_info_.resize(np);
  impl_.resize(np);
  loss_kind_.resize(np);
  modules_.resize(np);
  for (int i = 0; i < np; ++i) {
    const auto& spec = graph_.populations[i];
    const std::string where = fmt::format("{}: node '{}'", graph_.source, spec.name);
    const auto& entry = registry.find(spec.kind, "population kind");
    Options opts(where, entry.options, spec.attributes);
    auto& info = pops_info_[i];
    info.name = spec.name;
    info.kind = spec.kind;
    info.role = entry.make.role;
    if (entry.make.is_module()) {
      if constexpr (std::is_same_v<T, float>) modules_[i] = entry.make.module_float(spec.size, opts);
      else modules_[i] = entry.make.module_double(spec.size, opts);
      info.module = true;
      info.module_shape = modules_[i]->shape();
      const auto& ms = info.module_shape;
      if (ms.out <= 0 || ms.state < 0 || ms.work < 0)
        fail("{}: module kind '{}' declares {} output rows, {} state rows, {} work rows", where, spec.kind, ms.out,
             ms.state, ms.work);
      info.shape.units = ms.out;
      info.shape.slots = 1;
      info.shape.blocks = static_cast<int>(ms.ports.size());
      info.shape.dz_ddrive.clear();
      info.shape.dz_dzprev.clear();
      for (const auto& [first, rows] : ms.memory_rows)
        if (first < 0 || rows < 0 || first + rows > ms.state)
          fail("{}: module kind '{}' declares memory rows [{}, {}) outside its {} state rows", where, spec.kind, first,
               first + rows, ms.state);
      long long in_rows = 0;
      for (const auto& port : ms.ports) in_rows += port.size;
      grow(info.drive_rows, in_rows, graph_.source, fmt::format("node '{}'", spec.name));
      int jr = 0;
      grow(jr, static_cast<long long>(info.drive_rows) + ms.work, graph_.source, fmt::format("node '{}'", spec.name));
      info.jac_rows = jr;
    } else {
      if constexpr (std::is_same_v<T, float>) impl_[i] = entry.make.make_float(spec.size, opts);
      else impl_[i] = entry.make.make_double(spec.size, opts);
      info.shape = impl_[i]->shape();
      grow(info.drive_rows, static_cast<long long>(info.shape.blocks) * info.shape.units, graph_.source,
           fmt::format("node '{}'", spec.name));
      info.jac_rows = info.shape.jac_rows();
    }
    if (info.role == Role::output) loss_kind_[i] = parse_loss(impl_[i]->loss(), where);
    info.sparse_source = !info.module && (info.role == Role::input || info.shape.surrogate);
  }
  // Which populations are carried in s, and how long their delay lines are.
  std::vector<int> max_delay(np, 0);
  for (const auto& e : graph_.projections) max_delay[e.source] = std::max(max_delay[e.source], e.delay);
  for (int i = 0; i < np; ++i) {
    auto& info = pops_info_[i];
    const int n = info.shape.units;
    const std::string pop = fmt::format("node '{}'", info.name);
    info.z_offset = z_rows_;
    grow(z_rows_, static_cast<long long>(info.shape.slots) * n, graph_.source, pop);
    info.jac_offset = jac_rows_;
    grow(jac_rows_, info.jac_rows, graph_.source, pop);
    if (info.role == Role::input) info.io_offset = input_size_, input_size_ += n;
    if (info.role == Role::output) info.io_offset = output_size_, output_size_ += n;
    if (info.shape.memory || max_delay[i] >= 1) {
      info.state_offset = state_size_;
      grow(state_size_, static_cast<long long>(info.shape.slots) * n, graph_.source, pop + "'s state");
    }
    if (info.module && info.module_shape.state > 0) {
      info.module_state_offset = state_size_;
      grow(state_size_, info.module_shape.state, graph_.source, pop + "'s memory (state)");
    }
  }
  for (int i = 0; i < np; ++i)
    for (int k = 1; k < max_delay[i]; ++k) {
      pops_info_[i].buffer_offsets.push_back(state_size_);
      grow(state_size_, pops_info_[i].shape.units, graph_.source,
           fmt::format("the delay line of node '{}' (state)", pops_info_[i].name));
    }
  // Parameters: each population's biases (a module's: each port's), then each projection's weights.
  int offset = 0;
  for (int i = 0; i < np; ++i) {
    auto& info = pops_info_[i];
    const int n = info.shape.units;
    info.bias_offsets.assign(info.shape.blocks, -1);
    if (info.role == Role::input) continue;
    if (info.module) {
      int row = 0;
      for (size_t k = 0; k < info.module_shape.ports.size(); ++k) {
        const auto& port = info.module_shape.ports[k];
        if (!std::isnan(port.bias_init) && port.size > 0) {
          info.bias_offsets[k] = offset;
          info.biases.push_back({row, port.size, offset});
          blocks_.push_back({fmt::format("b[{}:{}]", info.name, port.name), info.name, offset, port.size, port.size, 1,
                             true});
          grow(offset, port.size, graph_.source, fmt::format("the biases of node '{}'", info.name));
        }
        row += port.size;
      }
      continue;
    }
    for (int g = 0; g < info.shape.blocks; ++g) {
      if (g < static_cast<int>(info.shape.bias_init.size()) && !std::isnan(info.shape.bias_init[g])) {
        info.bias_offsets[g] = offset;
        info.biases.push_back({g * n, n, offset});
        grow(offset, n, graph_.source, fmt::format("the biases of node '{}'", info.name));
      }
    }
    if (!info.biases.empty()) {
      const int lo = info.biases.front().offset, count = offset - lo;
      blocks_.push_back({fmt::format("b[{}]", info.name), info.name, lo, count, count, 1, true});
    }
  }
  for (size_t k = 0; k < graph_.projections.size(); ++k) {
    const auto& spec = graph_.projections[k];
    const auto& dst = pops_info_[spec.target];
    ProjInfo e;
    e.source = spec.source;
    e.target = spec.target;
    e.delay = spec.delay;
    const bool delayed = spec.delay > 0;
    e.cols = pops_info_[spec.source].shape.units;
    if (dst.module) {
      // The graph check guarantees the port exists.
      e.first_block = -1;
      e.drive_row = dst.module_shape.port_row(spec.port);
      for (const auto& port : dst.module_shape.ports)
        if (port.name == spec.port) e.rows = port.size;
    } else {
      e.first_block = delayed ? dst.shape.rec_first : dst.shape.ff_first;
      const int count = delayed ? dst.shape.rec_count : dst.shape.ff_count;
      e.rows = count * dst.shape.units;
      e.drive_row = e.first_block * dst.shape.units;
    }
    e.weight_offset = offset;
    grow(offset, static_cast<long long>(e.rows) * e.cols, graph_.source,
         fmt::format("projection '{}'", graph_.edge_name(spec)));
    pops_info_[spec.target].projections_in.push_back(static_cast<int>(k));
    blocks_.push_back({fmt::format("W[{}]", graph_.edge_name(spec)), dst.name, e.weight_offset, e.rows * e.cols,
                       e.rows, e.cols, false});
    projs_.push_back(e);
  }
  theta_ = Vec<T>::Zero(offset);
  // A node whose delay-0 projections lead (directly or not) to another carried node influences s_t beyond
  // its own units within one step; its immediate influence needs the general path. One pass over the
  // delay-0 projections in reverse in-step order: linear in the size of the graph.
  std::vector<std::vector<int>> instant_out(np);
  for (const auto& e : projs_)
    if (e.delay == 0) instant_out[e.source].push_back(e.target);
  for (auto it = graph_.order.rbegin(); it != graph_.order.rend(); ++it) {
    auto& info = pops_info_[*it];
    for (int t : instant_out[*it]) {
      const auto& dst = pops_info_[t];
      if (dst.state_offset >= 0 || dst.module_state_offset >= 0 || dst.instant_reaches_state)
        info.instant_reaches_state = true;
    }
  }
  ws_->drive.resize(np);
  ws_->tdrive.resize(np);
  ws_->gdrive.resize(np);
  ws_->g.resize(np);
  ws_->batch.dd.resize(np);
  ws_->column.dd.resize(np);
}

template <class T>
Program<T>::~Program() = default;

template <class T>
std::vector<LossKind> Program<T>::output_losses() const {
  std::vector<LossKind> out;
  for (size_t i = 0; i < pops_info_.size(); ++i)
    if (pops_info_[i].role == Role::output) out.push_back(loss_kind_[i]);
  return out;
}

template <class T>
void Program<T>::init_params(std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  theta_.setZero();
  for (const auto& info : pops_info_)
    for (size_t g = 0; g < info.bias_offsets.size(); ++g) {
      if (info.bias_offsets[g] < 0) continue;
      if (info.module)
        theta_.segment(info.bias_offsets[g], info.module_shape.ports[g].size)
            .setConstant(T(info.module_shape.ports[g].bias_init));
      else
        theta_.segment(info.bias_offsets[g], info.shape.units).setConstant(T(info.shape.bias_init[g]));
    }
  std::vector<int> fan_in(pops_info_.size(), 0);
  for (const auto& e : projs_) fan_in[e.target] += e.cols;
  for (size_t k = 0; k < projs_.size(); ++k) {
    const auto& e = projs_[k];
    const auto& spec = graph_.projections[k];
    // Gate blocks of a population get their own orthogonal / identity blocks; a module's port is one block.
    const int n = pops_info_[e.target].module ? e.rows : pops_info_[e.target].shape.units;
    Eigen::MatrixXd w = Eigen::MatrixXd::Zero(e.rows, e.cols);
    if (spec.init == "normal") {
      const double sd = spec.gain / std::sqrt(static_cast<double>(fan_in[e.target]));
      for (int j = 0; j < e.cols; ++j)
        for (int i = 0; i < e.rows; ++i) w(i, j) = sd * normal(rng);
    } else if (spec.init == "orthogonal") {
      // Each gate block gets its own orthogonal n x cols matrix.
      for (int r = 0; r < e.rows; r += n) {
        Eigen::MatrixXd a(std::max(n, e.cols), std::max(n, e.cols));
        for (int j = 0; j < a.cols(); ++j)
          for (int i = 0; i < a.rows(); ++i) a(i, j) = normal(rng);
        Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
        Eigen::MatrixXd q = qr.householderQ();
        w.middleRows(r, n) = spec.gain * q.topLeftCorner(n, e.cols);
      }
    } else if (spec.init == "identity") {
      for (int r = 0; r < e.rows; r += n) w.middleRows(r, n) = spec.gain * Eigen::MatrixXd::Identity(n, e.cols);
    }
    weight(e) = w.cast<T>();
  }
  // Fixed connectivity: the density masks are drawn after every weight, so models without them initialize as
  // before.
  masked_.clear();
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (size_t k = 0; k < projs_.size(); ++k) {
    const auto& e = projs_[k];
    const auto& spec = graph_.projections[k];
    if (spec.density >= 1 && spec.autapses) continue;
    auto w = weight(e);
    const int n = pops_info_[e.target].shape.units;
    const T keep_scale = spec.init == "normal" ? T(1 / std::sqrt(spec.density)) : T(1);
    for (int j = 0; j < e.cols; ++j)
      for (int i = 0; i < e.rows; ++i) {
        const bool dropped = (spec.density < 1 && unit(rng) >= spec.density) || (!spec.autapses && i % n == j);
        if (dropped) {
          w(i, j) = T(0);
          masked_.push_back(e.weight_offset + j * e.rows + i);
        } else {
          w(i, j) *= keep_scale;
        }
      }
  }
  std::sort(masked_.begin(), masked_.end());
}

template <class T>
Frame<T> Program<T>::make_frame(int batch) const {
  return Frame<T>{Mat<T>::Zero(z_rows_, batch), Mat<T>::Zero(jac_rows_, batch), Mat<T>::Zero(state_size_, batch)};
}

template <class T>
int Program<T>::out_state_row(int p) const {
  const auto& info = pops_info_[p];
  return info.state_offset < 0 ? -1 : info.state_offset + info.shape.out_slot * info.shape.units;
}

namespace {

// Rows of s_{t-1} that a delayed projection reads: the source's output slot (delay 1) or its delay line.
template <class Info>
int delayed_row(const Info& src, int delay) {
  return delay == 1 ? src.state_offset + src.shape.out_slot * src.shape.units : src.buffer_offsets[delay - 2];
}

// gw += dd src^T. At batch 1 this is a rank-one update; spelled as one, Eigen takes its outer-product path
// instead of a depth-1 GEMM with packing (or, for a one-row weight such as a readout, coefficient-wise dot
// products), which made the weight gradient the largest cost of a batch-1 step for small populations.
// One entry of what projection e carries: row `row` of the frame's z (delay 0) or of s_{t-1}, column b.
template <class E, class F, class S>
auto presynaptic_at(const E& e, const F& f, const S& s_prev, int row, int b) {
  return e.delay == 0 ? f.z(row, b) : s_prev(row, b);
}

template <class G, class D, class S>
void add_outer(G& gw, const D& dd, const S& src) {
  if (dd.cols() == 1) gw.noalias() += dd.col(0) * src.col(0).transpose();
  else gw.noalias() += dd * src.transpose();
}

}  // namespace

template <class T>
int Program<T>::source_row(const ProjInfo& e) const {
  const auto& src = pops_info_[e.source];
  return e.delay == 0 ? src.z_offset + src.shape.out_slot * src.shape.units : delayed_row(src, e.delay);
}

template <class T>
void Program<T>::fill_drive(int p, const Frame<T>& f, const ConstMatRef<T>& s_prev, MatRef<T> d) const {
  const auto& info = pops_info_[p];
  d.setZero();
  for (const auto& bi : info.biases) d.middleRows(bi.drive_row, bi.rows).colwise() = theta_.segment(bi.offset, bi.rows);
  for (int k : info.projections_in) {
    const auto& e = projs_[k];
    auto out = d.middleRows(e.drive_row, e.rows);
    const ConstMatRef<T> src = e.delay == 0 ? ConstMatRef<T>(f.z.middleRows(source_row(e), e.cols))
                                            : ConstMatRef<T>(s_prev.middleRows(source_row(e), e.cols));
    if (sparse_drive_ && pops_info_[e.source].sparse_source && add_sparse_product(weight(e), src, out)) continue;
    out.noalias() += weight(e) * src;
  }
}

template <class T>
bool Program<T>::add_sparse_product(const ConstMatRef<T>& w, const ConstMatRef<T>& src, MatRef<T> out) {
  const Eigen::Index m = src.rows(), B = src.cols();
  // Count the nonzero entries, giving up as soon as there are too many for the sparse path (dense activity then
  // costs a fraction of a column's scan, not the whole block's).
  const Eigen::Index most = m * B / kSparseDriveRatio;
  Eigen::Index nonzero = 0;
  for (Eigen::Index b = 0; b < B; ++b) {
    for (Eigen::Index j = 0; j < m; ++j) nonzero += src(j, b) != T(0);
    if (nonzero > most) return false;
  }
  for (Eigen::Index b = 0; b < B; ++b)
    for (Eigen::Index j = 0; j < m; ++j)
      if (const T v = src(j, b); v != T(0)) out.col(b) += v * w.col(j);
  return true;
}

template <class T>
void Program<T>::forward(const ConstMatRef<T>& s_prev, const ConstMatRef<T>& x, Frame<T>& f) {
  const Eigen::Index B = x.cols();
  if (f.z.cols() != B) f = make_frame(static_cast<int>(B));
  for (int p : graph_.order) {
    const auto& info = pops_info_[p];
    const int n = info.shape.units;
    auto z = f.z.middleRows(info.z_offset, info.shape.slots * n);
    auto jac = f.jac.middleRows(info.jac_offset, info.jac_rows);
    if (info.module) {
      // A module's input goes straight into the frame, where its VJP and JVP find it.
      const int R = info.drive_rows, S = info.module_shape.state;
      fill_drive(p, f, s_prev, jac.topRows(R));
      const int so = std::max(info.module_state_offset, 0);
      modules_[p]->forward(jac.topRows(R), s_prev.middleRows(so, S), z, f.s.middleRows(so, S), jac.bottomRows(info.jac_rows - R));
      continue;
    }
    Mat<T>& d = ws_->drive[p];
    if (info.role == Role::input) {
      d = x.middleRows(info.io_offset, n);
    } else {
      d.resize(info.drive_rows, B);
      fill_drive(p, f, s_prev, d);
    }
    if (info.shape.memory && info.state_offset >= 0)
      impl_[p]->forward(d, s_prev.middleRows(info.state_offset, info.shape.slots * n), z, jac);
    else
      impl_[p]->forward(d, s_prev.topRows(0), z, jac);
  }
  for (const auto& info : pops_info_) {
    const int n = info.shape.units;
    if (info.state_offset >= 0)
      f.s.middleRows(info.state_offset, info.shape.slots * n) = f.z.middleRows(info.z_offset, info.shape.slots * n);
    const auto& buf = info.buffer_offsets;
    for (size_t k = buf.size(); k-- > 1;) f.s.middleRows(buf[k], n) = s_prev.middleRows(buf[k - 1], n);
    if (!buf.empty()) f.s.middleRows(buf[0], n) = s_prev.middleRows(delayed_row(info, 1), n);
  }
}

template <class T>
void Program<T>::outputs(const Frame<T>& f, Mat<T>& y) const {
  y.resize(output_size_, f.z.cols());
  for (const auto& info : pops_info_)
    if (info.role == Role::output)
      y.middleRows(info.io_offset, info.shape.units) =
          f.z.middleRows(info.z_offset + info.shape.out_slot * info.shape.units, info.shape.units);
}

template <class T>
T Program<T>::loss(const Frame<T>& f, const ConstMatRef<T>& target, const ConstMatRef<T>& mask, Mat<T>* dy,
                   T scale) const {
  if (dy) dy->resize(output_size_, f.z.cols());
  T total = 0;
  for (size_t i = 0; i < pops_info_.size(); ++i) {
    const auto& info = pops_info_[i];
    if (info.role != Role::output) continue;
    const int n = info.shape.units;
    const LossKind kind = loss_kind_[i];
    auto y = f.z.middleRows(info.z_offset + info.shape.out_slot * n, n);
    if (dy) {
      MatRef<T> d = dy->middleRows(info.io_offset, n);
      total += loss_and_grad<T>(kind, y, target.middleRows(info.io_offset, n), mask, &d, scale);
    } else {
      total += loss_and_grad<T>(kind, y, target.middleRows(info.io_offset, n), mask, nullptr, scale);
    }
  }
  return total;
}

template <class T>
double Program<T>::correct(const Frame<T>& f, const ConstMatRef<T>& target, const ConstMatRef<T>& mask) const {
  // A column counts when every output population gets it right.
  Mat<T> ok = mask;
  const Mat<T> one = Mat<T>::Ones(1, 1);
  for (size_t i = 0; i < pops_info_.size(); ++i) {
    const auto& info = pops_info_[i];
    if (info.role != Role::output) continue;
    const int n = info.shape.units;
    const LossKind kind = loss_kind_[i];
    auto y = f.z.middleRows(info.z_offset + info.shape.out_slot * n, n);
    for (Eigen::Index b = 0; b < y.cols(); ++b) {
      if (ok(0, b) == T(0)) continue;
      ok(0, b) = count_correct<T>(kind, y.col(b), target.middleRows(info.io_offset, n).col(b), one) > 0 ? 1 : 0;
    }
  }
  return ok.sum();
}

template <class T>
void Program<T>::vjp(const Frame<T>& f, const ConstMatRef<T>& s_prev, const Mat<T>* ds, const ConstMatRef<T>& dy,
                     Mat<T>& ds_prev, Vec<T>& grad) {
  vjp_range(f, s_prev, 0, static_cast<int>(f.z.cols()), ds, dy, ds_prev, grad, ws_->batch);
}

template <class T>
void Program<T>::vjp_column(const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, const Mat<T>* ds,
                            const ConstMatRef<T>& dy, Mat<T>& ds_prev, Vec<T>& grad) {
  vjp_range(f, s_prev, b, 1, ds, dy, ds_prev, grad, ws_->column);
}

// Reverse mode over batch columns [c0, c0 + nc) of the frame; ds, dy and ds_prev have nc columns.
template <class T>
void Program<T>::vjp_range(const Frame<T>& f, const ConstMatRef<T>& s_prev_all, int c0, int nc, const Mat<T>* ds,
                           const ConstMatRef<T>& dy, Mat<T>& ds_prev, Vec<T>& grad, Reverse& rv) {
  const auto Z = f.z.middleCols(c0, nc);
  const auto JAC = f.jac.middleCols(c0, nc);
  const auto S = f.s.middleCols(c0, nc);
  const auto s_prev = s_prev_all.middleCols(c0, nc);
  Mat<T>& dz = rv.dz;
  dz.setZero(z_rows_, nc);
  ds_prev.setZero(state_size_, nc);
  for (const auto& info : pops_info_) {
    const int n = info.shape.units;
    if (ds && info.state_offset >= 0)
      dz.middleRows(info.z_offset, info.shape.slots * n) += ds->middleRows(info.state_offset, info.shape.slots * n);
    if (ds && !info.buffer_offsets.empty()) {
      const auto& buf = info.buffer_offsets;
      ds_prev.middleRows(delayed_row(info, 1), n) += ds->middleRows(buf[0], n);
      for (size_t k = 1; k < buf.size(); ++k) ds_prev.middleRows(buf[k - 1], n) += ds->middleRows(buf[k], n);
    }
    if (info.role == Role::output)
      dz.middleRows(info.z_offset + info.shape.out_slot * n, n) += dy.middleRows(info.io_offset, n);
  }
  for (auto it = graph_.order.rbegin(); it != graph_.order.rend(); ++it) {
    const int p = *it;
    const auto& info = pops_info_[p];
    if (info.role == Role::input) continue;
    const auto& sh = info.shape;
    const int n = sh.units;
    Mat<T>& dd = rv.dd[p];
    if (dd.rows() != info.drive_rows || dd.cols() != nc) dd.resize(info.drive_rows, nc);
    if (info.module) {
      const int R = info.drive_rows, St = info.module_shape.state, so = std::max(info.module_state_offset, 0);
      if (rv.zero_state.rows() < St || rv.zero_state.cols() != nc) rv.zero_state.setZero(St, nc);
      const ModuleValues<T> v{JAC.middleRows(info.jac_offset, R), s_prev.middleRows(so, St),
                              Z.middleRows(info.z_offset, n), S.middleRows(so, St),
                              JAC.middleRows(info.jac_offset + R, info.jac_rows - R)};
      const ConstMatRef<T> dstate = ds ? ConstMatRef<T>(ds->middleRows(so, St)) : ConstMatRef<T>(rv.zero_state.topRows(St));
      modules_[p]->vjp(v, dz.middleRows(info.z_offset, n), dstate, dd, ds_prev.middleRows(so, St));
    } else {
      dd.setZero();
      int k = 0;
      for (auto [slot, block] : sh.dz_ddrive) {
        dd.middleRows(block * n, n).array() +=
            JAC.middleRows(info.jac_offset + k * n, n).array() * dz.middleRows(info.z_offset + slot * n, n).array();
        ++k;
      }
      if (sh.memory && info.state_offset >= 0)
        for (auto [slot, prev] : sh.dz_dzprev) {
          ds_prev.middleRows(info.state_offset + prev * n, n).array() +=
              JAC.middleRows(info.jac_offset + k * n, n).array() * dz.middleRows(info.z_offset + slot * n, n).array();
          ++k;
        }
    }
    for (const auto& bi : info.biases) grad.segment(bi.offset, bi.rows) += dd.middleRows(bi.drive_row, bi.rows).rowwise().sum();
    for (int j : info.projections_in) {
      const auto& e = projs_[j];
      const auto& src = pops_info_[e.source];
      const int m = src.shape.units;
      auto dde = dd.middleRows(e.drive_row, e.rows);
      MatMap<T> gw(grad.data() + e.weight_offset, e.rows, e.cols);
      auto w = weight(e);
      if (e.delay == 0) {
        const int row = src.z_offset + src.shape.out_slot * m;
        add_outer(gw, dde, Z.middleRows(row, m));
        if (src.role != Role::input) dz.middleRows(row, m).noalias() += w.transpose() * dde;
      } else {
        const int row = delayed_row(src, e.delay);
        add_outer(gw, dde, s_prev.middleRows(row, m));
        ds_prev.middleRows(row, m).noalias() += w.transpose() * dde;
      }
    }
  }
}

// Tangent of node p's output (and a module's state) for batch column b, from the tangents already in tz
// (delay-0 sources), ds_prev (delayed sources and intrinsic memory; nullptr for zero) and whatever tdrive
// already holds. A module's state tangent is written into tstate's rows for that state.
template <class T>
void Program<T>::tangent_pop(int p, const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, const Mat<T>* ds_prev,
                             MatRef<T> tz, MatRef<T> td, MatRef<T> tstate) {
  const auto& info = pops_info_[p];
  const auto& sh = info.shape;
  const int n = sh.units;
  for (int j : info.projections_in) {
    const auto& e = projs_[j];
    const auto& src = pops_info_[e.source];
    if (src.role == Role::input && e.delay == 0) continue;  // the current input has no tangent
    const int m = src.shape.units;
    auto w = weight(e);
    if (e.delay == 0)
      td.middleRows(e.drive_row, e.rows).noalias() += w * tz.middleRows(src.z_offset + src.shape.out_slot * m, m);
    else if (ds_prev)
      td.middleRows(e.drive_row, e.rows).noalias() += w * ds_prev->middleRows(delayed_row(src, e.delay), m);
  }
  auto tzp = tz.middleRows(info.z_offset, sh.slots * n);
  if (info.module) {
    const int R = info.drive_rows, St = info.module_shape.state, so = std::max(info.module_state_offset, 0);
    const ModuleValues<T> v{f.jac.block(info.jac_offset, b, R, 1), s_prev.block(so, b, St, 1),
                            f.z.block(info.z_offset, b, n, 1), f.s.block(so, b, St, 1),
                            f.jac.block(info.jac_offset + R, b, info.jac_rows - R, 1)};
    if (ds_prev) {
      const ConstMatRef<T> tsp(ds_prev->middleRows(so, St));
      modules_[p]->jvp(v, td, &tsp, tzp, tstate.middleRows(so, St));
    } else {
      modules_[p]->jvp(v, td, nullptr, tzp, tstate.middleRows(so, St));
    }
    return;
  }
  tzp.setZero();
  int k = 0;
  for (auto [slot, block] : sh.dz_ddrive) {
    tzp.middleRows(slot * n, n).array() +=
        td.middleRows(block * n, n).array().colwise() * f.jac.col(b).segment(info.jac_offset + k * n, n).array();
    ++k;
  }
  if (sh.memory && info.state_offset >= 0 && ds_prev)
    for (auto [slot, prev] : sh.dz_dzprev) {
      tzp.middleRows(slot * n, n).array() += ds_prev->middleRows(info.state_offset + prev * n, n).array().colwise() *
                                             f.jac.col(b).segment(info.jac_offset + k * n, n).array();
      ++k;
    }
}

template <class T>
void Program<T>::jvp(const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, const Mat<T>* ds_prev,
                     const Mat<T>* dtheta, Mat<T>& ds) {
  const Eigen::Index K = ds_prev ? ds_prev->cols() : dtheta->cols();
  ds.setZero(state_size_, K);
  MatRef<T> tz = columns(ws_->tz, z_rows_, K);
  tz.setZero();
  for (int p : graph_.order) {
    const auto& info = pops_info_[p];
    if (info.role == Role::input) continue;
    MatRef<T> td = columns(ws_->tdrive[p], info.drive_rows, K);
    td.setZero();
    if (dtheta) {
      // Parameter tangents enter through the drive: d(W src + bias) = dW src + dbias.
      for (const auto& bi : info.biases) td.middleRows(bi.drive_row, bi.rows) += dtheta->middleRows(bi.offset, bi.rows);
      for (int j : info.projections_in) {
        const auto& e = projs_[j];
        const int row = source_row(e);
        for (int c = 0; c < e.cols; ++c)
          td.middleRows(e.drive_row, e.rows) +=
              presynaptic_at(e, f, s_prev, row + c, b) * dtheta->middleRows(e.weight_offset + c * e.rows, e.rows);
      }
    }
    tangent_pop(p, f, s_prev, b, ds_prev, tz, td, ds);
  }
  for (const auto& info : pops_info_) {
    const int n = info.shape.units;
    if (info.state_offset >= 0)
      ds.middleRows(info.state_offset, info.shape.slots * n) = tz.middleRows(info.z_offset, info.shape.slots * n);
    const auto& buf = info.buffer_offsets;
    if (!buf.empty() && ds_prev) {
      ds.middleRows(buf[0], n) = ds_prev->middleRows(delayed_row(info, 1), n);
      for (size_t k = 1; k < buf.size(); ++k) ds.middleRows(buf[k], n) = ds_prev->middleRows(buf[k - 1], n);
    }
  }
}

template <class T>
void Program<T>::state_jacobian(const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, Mat<T>& J) {
  if (ws_->eye.rows() != state_size_) ws_->eye = Mat<T>::Identity(state_size_, state_size_);
  jvp(f, s_prev, b, &ws_->eye, nullptr, J);
}

template <class T>
void Program<T>::add_immediate_influence(const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, MatRef<T> gamma,
                                         T scale) {
  for (int p : graph_.order) {
    const auto& info = pops_info_[p];
    if (info.role == Role::input) continue;
    const auto& sh = info.shape;
    const int n = sh.units;
    if (!info.general_influence()) {
      if (info.state_offset < 0) continue;  // influences nothing carried
      // Unit-local: parameter (block g, unit i, column c) moves only unit i's slots of this population, by
      // dz[slot]/ddrive[g] * pre_c. Add exactly those diagonals.
      int k = 0;
      for (auto [slot, block] : sh.dz_ddrive) {
        const auto d = f.jac.col(b).segment(info.jac_offset + k * n, n);
        const int row = info.state_offset + slot * n;
        if (info.bias_offsets[block] >= 0)
          gamma.block(row, info.bias_offsets[block], n, n).diagonal() += scale * d;
        for (int j : info.projections_in) {
          const auto& e = projs_[j];
          const int local = block - e.first_block;
          if (local < 0 || local * n >= e.rows) continue;
          const int src = source_row(e);
          for (int c = 0; c < e.cols; ++c)
            gamma.block(row, e.weight_offset + c * e.rows + local * n, n, n).diagonal() +=
                (scale * presynaptic_at(e, f, s_prev, src + c, b)) * d;
        }
        ++k;
      }
      continue;
    }
    // General path: G = ds_t/d drive_p, spread over the parameters that feed the drive.
    Mat<T>& G = ws_->g[p];
    drive_influence(f, s_prev, b, p, G);
    for (const auto& bi : info.biases)
      gamma.middleCols(bi.offset, bi.rows) += scale * G.middleCols(bi.drive_row, bi.rows);
    for (int j : info.projections_in) {
      const auto& e = projs_[j];
      const int src = source_row(e);
      for (int c = 0; c < e.cols; ++c)
        gamma.middleCols(e.weight_offset + c * e.rows, e.rows) +=
            (scale * presynaptic_at(e, f, s_prev, src + c, b)) * G.middleCols(e.drive_row, e.rows);
    }
  }
}

template <class T>
void Program<T>::drive_influence(const Frame<T>& f, const ConstMatRef<T>& s_prev, int b, int p, Mat<T>& G) {
  const auto& info = pops_info_[p];
  const int n = info.shape.units, R = info.drive_rows;
  G.setZero(state_size_, R);
  if (!info.general_influence()) {
    if (info.state_offset < 0) return;
    int k = 0;
    for (auto [slot, block] : info.shape.dz_ddrive) {
      G.block(info.state_offset + slot * n, block * n, n, n).diagonal() = f.jac.col(b).segment(info.jac_offset + k * n, n);
      ++k;
    }
    return;
  }
  // Push an identity tangent on p's drive forward through the delay-0 projections. Module states land in G
  // directly; carried population states are copied from the z tangents at the end.
  MatRef<T> tz = columns(ws_->gz, z_rows_, R);
  tz.setZero();
  bool started = false;
  for (int q : graph_.order) {
    if (q == p) started = true;
    if (!started || pops_info_[q].role == Role::input) continue;
    MatRef<T> td = columns(ws_->gdrive[q], pops_info_[q].drive_rows, R);
    if (q == p) td.setIdentity();
    else td.setZero();
    tangent_pop(q, f, s_prev, b, nullptr, tz, td, G);
  }
  for (const auto& q : pops_info_)
    if (q.state_offset >= 0)
      G.middleRows(q.state_offset, q.shape.slots * q.shape.units) = tz.middleRows(q.z_offset, q.shape.slots * q.shape.units);
}

template <class T>
int Program<T>::first_module() const {
  for (size_t i = 0; i < pops_info_.size(); ++i)
    if (pops_info_[i].module) return static_cast<int>(i);
  return -1;
}

template <class T>
std::vector<std::pair<int, int>> Program<T>::memory_state_rows() const {
  std::vector<std::pair<int, int>> out;
  for (const auto& info : pops_info_)
    if (info.module && info.module_state_offset >= 0)
      for (const auto& [first, rows] : info.module_shape.memory_rows)
        if (rows > 0) out.emplace_back(info.module_state_offset + first, rows);
  std::sort(out.begin(), out.end());
  return out;
}

template class Program<float>;
template class Program<double>;

}  // namespace credo
