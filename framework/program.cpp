#include "framework/program.h"

#include <algorithm>
#include <cmath>

#include <Eigen/QR>
#include <fmt/format.h>

#include "framework/error.h"

namespace credo {

// Buffers reused from step to step; resized only when the batch size or tangent count changes.
template <class T>
struct Program<T>::Workspace {
  std::vector<Mat<T>> drive;   // per population: blocks*n x B
  std::vector<Mat<T>> tdrive;  // per population: blocks*n x K tangents
  Mat<T> dz;                   // z_rows x B cotangents
  Mat<T> tz;                   // z_rows x K tangents
  Mat<T> eye;                  // identity tangents for state_jacobian / immediate influence
  // drive_influence's own buffers, per population p it is asked about (p's drive count as tangent count), so
  // that it and the JVP, or calls for populations of different sizes, never resize each other's buffers.
  std::vector<Mat<T>> g;                    // per p: ds_t/d drive_p for add_immediate_influence
  std::vector<Mat<T>> gz;                   // per p: z_rows x R_p
  std::vector<std::vector<Mat<T>>> gdrive;  // per p, per q: q's drive tangents, blocks*n x R_p
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

}  // namespace

template <class T>
Program<T>::Program(const ModelGraph& graph) : graph_(graph), ws_(std::make_unique<Workspace>()) {
  const int np = static_cast<int>(graph_.populations.size());
  const auto& registry = PopulationRegistry::get();
  pops_info_.resize(np);
  impl_.resize(np);
  loss_kind_.resize(np);
  for (int i = 0; i < np; ++i) {
    const auto& spec = graph_.populations[i];
    const std::string where = fmt::format("{}: node '{}'", graph_.source, spec.name);
    const auto& entry = registry.find(spec.kind, "population kind");
    Options opts(where, entry.options, spec.attributes);
    if constexpr (std::is_same_v<T, float>) impl_[i] = entry.make.make_float(spec.size, opts);
    else impl_[i] = entry.make.make_double(spec.size, opts);
    auto& info = pops_info_[i];
    info.name = spec.name;
    info.kind = spec.kind;
    info.role = entry.make.role;
    info.shape = impl_[i]->shape();
    if (info.role == Role::output) loss_kind_[i] = parse_loss(impl_[i]->loss(), where);
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
    grow(jac_rows_, static_cast<long long>(info.shape.dz_ddrive.size() + info.shape.dz_dzprev.size()) * n,
         graph_.source, pop);
    if (info.role == Role::input) info.io_offset = input_size_, input_size_ += n;
    if (info.role == Role::output) info.io_offset = output_size_, output_size_ += n;
    if (info.shape.memory || max_delay[i] >= 1) {
      info.state_offset = state_size_;
      grow(state_size_, static_cast<long long>(info.shape.slots) * n, graph_.source, pop + "'s state");
    }
  }
  for (int i = 0; i < np; ++i)
    for (int k = 1; k < max_delay[i]; ++k) {
      pops_info_[i].buffer_offsets.push_back(state_size_);
      grow(state_size_, pops_info_[i].shape.units, graph_.source,
           fmt::format("the delay line of node '{}' (state)", pops_info_[i].name));
    }
  // Parameters: each population's biases, then each projection's weights.
  int offset = 0;
  for (int i = 0; i < np; ++i) {
    auto& info = pops_info_[i];
    const int n = info.shape.units;
    info.bias_offsets.assign(info.shape.blocks, -1);
    if (info.role == Role::input) continue;
    for (int g = 0; g < info.shape.blocks; ++g) {
      if (g < static_cast<int>(info.shape.bias_init.size()) && !std::isnan(info.shape.bias_init[g])) {
        info.bias_offsets[g] = offset;
        grow(offset, n, graph_.source, fmt::format("the biases of node '{}'", info.name));
      }
    }
    const int first = info.bias_offsets.empty() ? -1 : *std::max_element(info.bias_offsets.begin(), info.bias_offsets.end());
    if (first >= 0) {
      int lo = offset, count = 0;
      for (int o : info.bias_offsets)
        if (o >= 0) lo = std::min(lo, o), count += n;
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
    e.first_block = delayed ? dst.shape.rec_first : dst.shape.ff_first;
    const int count = delayed ? dst.shape.rec_count : dst.shape.ff_count;
    e.rows = count * dst.shape.units;
    e.cols = pops_info_[spec.source].shape.units;
    e.drive_row = e.first_block * dst.shape.units;
    e.weight_offset = offset;
    grow(offset, static_cast<long long>(e.rows) * e.cols, graph_.source,
         fmt::format("projection '{}'", graph_.edge_name(spec)));
    pops_info_[spec.target].projections_in.push_back(static_cast<int>(k));
    blocks_.push_back({fmt::format("W[{}]", graph_.edge_name(spec)), dst.name, e.weight_offset, e.rows * e.cols,
                       e.rows, e.cols, false});
    projs_.push_back(e);
  }
  theta_ = Vec<T>::Zero(offset);
  // A population whose delay-0 projections lead (directly or not) to another carried population influences
  // s_t beyond its own units within one step; its immediate influence needs the general path.
  for (auto it = graph_.order.rbegin(); it != graph_.order.rend(); ++it) {
    auto& info = pops_info_[*it];
    for (const auto& e : projs_) {
      if (e.source != *it || e.delay != 0) continue;
      const auto& dst = pops_info_[e.target];
      if (dst.state_offset >= 0 || dst.instant_reaches_state) info.instant_reaches_state = true;
    }
  }
  ws_->drive.resize(np);
  ws_->tdrive.resize(np);
  ws_->g.resize(np);
  ws_->gz.resize(np);
  ws_->gdrive.assign(np, std::vector<Mat<T>>(np));
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
    for (int g = 0; g < info.shape.blocks; ++g)
      if (info.bias_offsets[g] >= 0)
        theta_.segment(info.bias_offsets[g], info.shape.units).setConstant(T(info.shape.bias_init[g]));
  std::vector<int> fan_in(pops_info_.size(), 0);
  for (const auto& e : projs_) fan_in[e.target] += e.cols;
  for (size_t k = 0; k < projs_.size(); ++k) {
    const auto& e = projs_[k];
    const auto& spec = graph_.projections[k];
    const int n = pops_info_[e.target].shape.units;
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
void Program<T>::forward(const ConstMatRef<T>& s_prev, const ConstMatRef<T>& x, Frame<T>& f) {
  const Eigen::Index B = x.cols();
  if (f.z.cols() != B) f = make_frame(static_cast<int>(B));
  for (int p : graph_.order) {
    const auto& info = pops_info_[p];
    const int n = info.shape.units;
    auto z = f.z.middleRows(info.z_offset, info.shape.slots * n);
    auto jac = f.jac.middleRows(info.jac_offset, info.shape.jac_rows());
    Mat<T>& d = ws_->drive[p];
    if (info.role == Role::input) {
      d = x.middleRows(info.io_offset, n);
    } else {
      d.resize(info.shape.blocks * n, B);
      for (int g = 0; g < info.shape.blocks; ++g) {
        if (info.bias_offsets[g] >= 0) d.middleRows(g * n, n).colwise() = theta_.segment(info.bias_offsets[g], n);
        else d.middleRows(g * n, n).setZero();
      }
      for (int k : info.projections_in) {
        const auto& e = projs_[k];
        const auto& src = pops_info_[e.source];
        const int m = src.shape.units;
        auto w = weight(e);
        auto out = d.middleRows(e.drive_row, e.rows);
        if (e.delay == 0) out.noalias() += w * f.z.middleRows(src.z_offset + src.shape.out_slot * m, m);
        else out.noalias() += w * s_prev.middleRows(delayed_row(src, e.delay), m);
      }
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
  const Eigen::Index B = f.z.cols();
  Mat<T>& dz = ws_->dz;
  dz.setZero(z_rows_, B);
  ds_prev.setZero(state_size_, B);
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
    Mat<T>& dd = ws_->drive[p];  // the forward drive is no longer needed: reuse it for its cotangent
    dd.setZero(sh.blocks * n, B);
    int k = 0;
    for (auto [slot, block] : sh.dz_ddrive) {
      dd.middleRows(block * n, n).array() +=
          f.jac.middleRows(info.jac_offset + k * n, n).array() * dz.middleRows(info.z_offset + slot * n, n).array();
      ++k;
    }
    if (sh.memory && info.state_offset >= 0)
      for (auto [slot, prev] : sh.dz_dzprev) {
        ds_prev.middleRows(info.state_offset + prev * n, n).array() +=
            f.jac.middleRows(info.jac_offset + k * n, n).array() * dz.middleRows(info.z_offset + slot * n, n).array();
        ++k;
      }
    for (int g = 0; g < sh.blocks; ++g)
      if (info.bias_offsets[g] >= 0) grad.segment(info.bias_offsets[g], n) += dd.middleRows(g * n, n).rowwise().sum();
    for (int j : info.projections_in) {
      const auto& e = projs_[j];
      const auto& src = pops_info_[e.source];
      const int m = src.shape.units;
      auto dde = dd.middleRows(e.drive_row, e.rows);
      MatMap<T> gw(grad.data() + e.weight_offset, e.rows, e.cols);
      auto w = weight(e);
      if (e.delay == 0) {
        const int row = src.z_offset + src.shape.out_slot * m;
        add_outer(gw, dde, f.z.middleRows(row, m));
        if (src.role != Role::input) dz.middleRows(row, m).noalias() += w.transpose() * dde;
      } else {
        const int row = delayed_row(src, e.delay);
        add_outer(gw, dde, s_prev.middleRows(row, m));
        ds_prev.middleRows(row, m).noalias() += w.transpose() * dde;
      }
    }
  }
}

// Tangent of population p's state for batch column b, from the tangents already in tz (delay-0 sources),
// ds_prev (delayed sources and intrinsic memory; nullptr for zero) and whatever tdrive already holds.
template <class T>
void Program<T>::tangent_pop(int p, const Frame<T>& f, int b, const Mat<T>* ds_prev, Mat<T>& tz,
                             Mat<T>& td) const {
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
  Mat<T>& tz = ws_->tz;
  tz.setZero(z_rows_, K);
  for (int p : graph_.order) {
    const auto& info = pops_info_[p];
    if (info.role == Role::input) continue;
    const int n = info.shape.units;
    Mat<T>& td = ws_->tdrive[p];
    td.setZero(info.shape.blocks * n, K);
    if (dtheta) {
      // Parameter tangents enter through the drive: d(W src + bias) = dW src + dbias.
      for (int g = 0; g < info.shape.blocks; ++g)
        if (info.bias_offsets[g] >= 0) td.middleRows(g * n, n) += dtheta->middleRows(info.bias_offsets[g], n);
      for (int j : info.projections_in) {
        const auto& e = projs_[j];
        const auto& src = pops_info_[e.source];
        const int m = src.shape.units;
        const auto pre = e.delay == 0 ? f.z.col(b).segment(src.z_offset + src.shape.out_slot * m, m).eval()
                                      : s_prev.col(b).segment(delayed_row(src, e.delay), m).eval();
        for (int c = 0; c < e.cols; ++c)
          td.middleRows(e.drive_row, e.rows) += pre(c) * dtheta->middleRows(e.weight_offset + c * e.rows, e.rows);
      }
    }
    tangent_pop(p, f, b, ds_prev, tz, td);
  }
  ds.setZero(state_size_, K);
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
    auto pre_of = [&](const ProjInfo& e) -> Eigen::Ref<const Vec<T>> {
      const auto& src = pops_info_[e.source];
      const int m = src.shape.units;
      if (e.delay == 0) return f.z.col(b).segment(src.z_offset + src.shape.out_slot * m, m);
      return s_prev.col(b).segment(delayed_row(src, e.delay), m);
    };
    if (!info.instant_reaches_state) {
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
          const auto pre = pre_of(e);
          for (int c = 0; c < e.cols; ++c)
            gamma.block(row, e.weight_offset + c * e.rows + local * n, n, n).diagonal() += (scale * pre(c)) * d;
        }
        ++k;
      }
      continue;
    }
    // General path: G = ds_t/d drive_p, spread over the parameters that feed the drive.
    Mat<T>& G = ws_->g[p];
    drive_influence(f, b, p, G);
    for (int g = 0; g < sh.blocks; ++g)
      if (info.bias_offsets[g] >= 0) gamma.middleCols(info.bias_offsets[g], n) += scale * G.middleCols(g * n, n);
    for (int j : info.projections_in) {
      const auto& e = projs_[j];
      const auto pre = pre_of(e);
      for (int c = 0; c < e.cols; ++c)
        gamma.middleCols(e.weight_offset + c * e.rows, e.rows) += (scale * pre(c)) * G.middleCols(e.drive_row, e.rows);
    }
  }
}

template <class T>
void Program<T>::drive_influence(const Frame<T>& f, int b, int p, Mat<T>& G) {
  const auto& info = pops_info_[p];
  const int n = info.shape.units, R = info.shape.blocks * n;
  G.setZero(state_size_, R);
  if (!info.instant_reaches_state) {
    if (info.state_offset < 0) return;
    int k = 0;
    for (auto [slot, block] : info.shape.dz_ddrive) {
      G.block(info.state_offset + slot * n, block * n, n, n).diagonal() = f.jac.col(b).segment(info.jac_offset + k * n, n);
      ++k;
    }
    return;
  }
  // Push an identity tangent on p's drive forward through the delay-0 projections.
  Mat<T>& tz = ws_->gz[p];
  tz.setZero(z_rows_, R);
  bool started = false;
  for (int q : graph_.order) {
    if (q == p) started = true;
    if (!started || pops_info_[q].role == Role::input) continue;
    Mat<T>& td = ws_->gdrive[p][q];
    td.setZero(pops_info_[q].shape.blocks * pops_info_[q].shape.units, R);
    if (q == p) td.setIdentity();
    tangent_pop(q, f, b, nullptr, tz, td);
  }
  for (const auto& q : pops_info_)
    if (q.state_offset >= 0)
      G.middleRows(q.state_offset, q.shape.slots * q.shape.units) = tz.middleRows(q.z_offset, q.shape.slots * q.shape.units);
}

template class Program<float>;
template class Program<double>;

}  // namespace credo
