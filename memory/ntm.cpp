// Neural Turing Machine memory (Graves, Wayne & Danihelka 2014, arXiv 1410.5401): an N x W memory matrix,
// one write head and `reads` read heads, each addressed by content and by location.
//
// Per head, from its controls (key k, strength β̂, gate ĝ, shift logits ŝ, sharpening γ̂):
//   content      w_c(i) = softmax_i(β cos(k, M_i)),   β = softplus(β̂) >= 0 (β = 0 ignores content)
//   interpolate  w_g = g w_c + (1 − g) w_prev,          g = σ(ĝ)
//   shift        w̃(i) = Σ_q s_q w_g(i − o_q),           s = softmax(ŝ), o_q = q − (shifts − 1)/2, circular
//   sharpen      w = softmax(l), l(i) = γ log(w̃(i) + δ),   γ = 1 + softplus(γ̂) >= 1
//                (w(i) = (w̃(i) + δ)^γ / Σ_j (w̃(j) + δ)^γ)
// The write head then writes with erase e = σ(ê) and add a = tanh(â):
//   M ← M ∘ (1 − w eᵀ) + w aᵀ
// and each read head reads r = Mᵀ w from the memory as written this step (write first, then read), so a
// value written at step t can be read at step t. The add vector is bounded by tanh, as in Collier & Beel's
// stable implementation ("Implementing Neural Turing Machines", ICANN 2018, arXiv 1807.08518).
//
// The carried state starts at zero (every sequence does), so it holds offsets from the starting point:
//  - the memory as M = init + X. Collier & Beel found that a small constant initialisation converges about
//    twice as fast as the alternatives;
//  - each head's weighting as the square root of it, u = sqrt(w), less e_0 (one-hot on slot 0); the previous
//    weighting is w_prev = u² / (Σ u² + ε_u). At the zero state u = e_0: every head starts exactly on slot 0,
//    like a tape head on its first cell. With a constant memory and uniform weightings every slot would be
//    written alike, and neither content nor location addressing could ever tell the slots apart again; a
//    non-uniform starting weighting breaks that symmetry (Collier & Beel's implementation learns it; a module
//    has no parameters of its own, so here it is fixed). Through u every real state vector is a valid
//    previous weighting (non-negative, summing to one), so the step is smooth in its whole state, including
//    the arbitrary states gradient checks draw; and u's tangents are small where w is (tu = tw / (2u)),
//    so negligible slots carry negligible sensitivities.
// The numerics never take the log or a power of zero nor divide by zero: the cosine's norms are
// sqrt(|v|² + ε), w̃ + δ > 0 in the sharpening, Σ u² + ε_u > 0, and every softmax subtracts its maximum.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "framework/error.h"
#include "framework/module.h"

namespace credo {
namespace {

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
template <class T>
T softplus(T x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// v <- softmax(v), shifted by its maximum so that no exponential overflows.
template <class V>
void softmax_in_place(V&& v) {
  v.array() = (v.array() - v.maxCoeff()).exp();
  v /= v.sum();
}
// x <- J x for the Jacobian J = diag(p) − p pᵀ of p = softmax(·) (symmetric: the same for cotangents).
template <class P, class V>
void softmax_product(const P& p, V&& x) {
  const auto d = p.dot(x);
  x.array() = p.array() * (x.array() - d);
}

// dst(i) += c src((i − r) mod n), for 0 <= r < n: src circularly shifted by r slots.
template <class D, class S, class T>
void rotate_add(D&& dst, const S& src, int r, T c) {
  const auto n = src.size();
  dst.tail(n - r) += c * src.head(n - r);
  dst.head(r) += c * src.tail(r);
}
// Σ_i a(i) b((i − r) mod n).
template <class A, class B>
auto rotate_dot(const A& a, const B& b, int r) {
  const auto n = a.size();
  return a.tail(n - r).dot(b.head(n - r)) + a.head(r).dot(b.tail(r));
}

}  // namespace

template <class T>
class Ntm final : public Module<T> {
  using V = Vec<T>;
  using CVecMap = Eigen::Map<const V>;
  using VecMap = Eigen::Map<V>;
  using CMemMap = Eigen::Map<const Mat<T>>;
  using MemMap = Eigen::Map<Mat<T>>;
  using CRef = Eigen::Ref<const V>;
  using Ref = Eigen::Ref<V>;
  using CMatRef = Eigen::Ref<const Mat<T>>;

  // Added to squared norms in the cosine, so norms are >= 0.01: a blank slot (the memory starts at 1e-6) has a
  // cosine near 0 with every key, and the cosine's derivatives stay below 100 β.
  static constexpr T eps = T(1e-4);
  static constexpr T delta = T(1e-8);   // added to w̃ before sharpening: no log(0)
  static constexpr T eps_u = T(1e-30);  // added to Σ u²: a zero u (not reached by a step) is a zero weighting

  // What forward() keeps of one head in a column of `work`: the content, interpolated, shifted and final
  // weightings, log(w̃ + δ), the cosines, the shift distribution, and β, g, γ, |k|. Over `const T*` in vjp/jvp.
  template <bool Const>
  struct Kept {
    using P = std::conditional_t<Const, const T*, T*>;
    using M = Eigen::Map<std::conditional_t<Const, const V, V>>;
    Kept(P p, int n, int s)
        : wc(p, n),
          wg(p + n, n),
          wt(p + 2 * n, n),
          w(p + 3 * n, n),
          log_wt(p + 4 * n, n),
          cos(p + 5 * n, n),
          shift(p + 6 * n, s),
          scalars(p + 6 * n + s) {}
    static int rows(int n, int s) { return 6 * n + s + 4; }
    M wc, wg, wt, w, log_wt, cos, shift;
    P scalars;
    decltype(auto) beta() const { return scalars[0]; }
    decltype(auto) g() const { return scalars[1]; }
    decltype(auto) gamma() const { return scalars[2]; }
    decltype(auto) key_norm() const { return scalars[3]; }
  };

 public:
  Ntm(int width, const Options& o)
      : N_(o.integer("slots")), W_(width), R_(o.integer("reads")), S_(o.integer("shifts")), init_(T(o.number("init"))) {
    if (S_ % 2 == 0) fail("{}: shifts={} must be odd (shifts -(s-1)/2 .. (s-1)/2)", o.owner(), S_);
    if (S_ > N_) fail("{}: shifts={} exceeds slots={}", o.owner(), S_, N_);
    const long long state = static_cast<long long>(N_) * W_ + static_cast<long long>(R_ + 1) * N_;
    const long long work = static_cast<long long>(R_ + 1) * Kept<true>::rows(N_, S_) + 2LL * N_ + 2LL * W_;
    const long long read_rows = static_cast<long long>(R_) * controls();
    if (std::max({state, work, read_rows}) > std::numeric_limits<int>::max() / 2)
      fail("{}: slots={}, size={}, reads={} make a memory too large", o.owner(), N_, W_, R_);
    auto& sh = this->shape_;
    sh.out = R_ * W_;
    sh.state = static_cast<int>(state);
    sh.work = static_cast<int>(work);
    sh.memory_rows = {{0, N_ * W_}};
    sh.ports = {{"read", static_cast<int>(read_rows), true, 0.0,
                 "per read head: key (size), strength, gate, shift logits (shifts), sharpening"},
                {"write", controls() + 2 * W_, true, 0.0,
                 "key (size), strength, gate, shift logits (shifts), sharpening, erase (size), add (size)"}};
    for (int q = 0; q < S_; ++q) rot_.push_back(((q - S_ / 2) % N_ + N_) % N_);
    prev_.resize(N_, W_);
    next_.resize(N_, W_);
    dmem_.resize(N_, W_);
    for (auto* v : {&dw_, &tw_, &a_, &b_, &c_, &tnorm_, &u_, &w_prev_}) v->resize(N_);
    tshift_.resize(S_);
    zero_ = V::Zero(sh.state);
  }

  void forward(const ConstMatRef<T>& in, const ConstMatRef<T>& state_prev, MatRef<T> out, MatRef<T> state,
               MatRef<T> work) override {
    for (Eigen::Index b = 0; b < in.cols(); ++b)
      forward_column(in.col(b).data(), state_prev.col(b).data(), out.col(b).data(), state.col(b).data(),
                     work.col(b).data());
  }

  void vjp(const ModuleValues<T>& v, const ConstMatRef<T>& dout, const ConstMatRef<T>& dstate, MatRef<T> din,
           MatRef<T> dstate_prev) override {
    for (Eigen::Index b = 0; b < v.in.cols(); ++b)
      vjp_column(v.in.col(b).data(), v.state_prev.col(b).data(), v.state.col(b).data(), v.work.col(b).data(),
                 dout.col(b).data(), dstate.col(b).data(), din.col(b).data(), dstate_prev.col(b).data());
  }

  void jvp(const ModuleValues<T>& v, const ConstMatRef<T>& tin, const ConstMatRef<T>* tstate_prev, MatRef<T> tout,
           MatRef<T> tstate) override {
    const T* in = v.in.data();
    const T* sp = v.state_prev.data();
    const T* s = v.state.data();
    const T* wk = v.work.data();
    prev_ = CMemMap(sp, N_, W_).array() + init_;
    next_ = CMemMap(s, N_, W_).array() + init_;
    const CVecMap norm_prev(wk + norm_row(false), N_), norm_next(wk + norm_row(true), N_);
    const CVecMap e(wk + erase_row(), W_), a(wk + erase_row() + W_, W_);
    for (Eigen::Index j = 0; j < tin.cols(); ++j) {
      const T* tc = tin.col(j).data();
      const T* tsp = tstate_prev ? tstate_prev->col(j).data() : zero_.data();
      T* ts = tstate.col(j).data();
      // Write head: its weighting from the memory before the write, then the written memory.
      const CMemMap tprev(tsp, N_, W_);
      norm_tangent(prev_, tprev, norm_prev, tnorm_);
      address_tangent(R_, prev_, tprev, norm_prev, in, tc, sp, tsp, wk, ts);
      const CVecMap w = Kept<true>(wk + kept_row(R_), N_, S_).w;
      const T* tcw = tc + control_row(R_) + controls();
      write_tangent(w, e, a, tprev, tw_, CVecMap(tcw, W_), CVecMap(tcw + W_, W_), MemMap(ts, N_, W_));
      // Read heads, from the written memory.
      const CMemMap tnext(ts, N_, W_);
      norm_tangent(next_, tnext, norm_next, tnorm_);
      for (int h = 0; h < R_; ++h) {
        address_tangent(h, next_, tnext, norm_next, in, tc, sp, tsp, wk, ts);
        VecMap tr(tout.col(j).data() + h * W_, W_);
        tr.noalias() = tnext.transpose() * Kept<true>(wk + kept_row(h), N_, S_).w;
        tr.noalias() += next_.transpose() * tw_;
      }
    }
  }

 private:
  // Rows of one head's controls: key (W), β̂, ĝ, shift logits (S), γ̂. Read heads 0..R-1 come first (port
  // `read`), then the write head R (port `write`), whose controls are followed by ê (W) and â (W).
  int controls() const { return W_ + S_ + 3; }
  int control_row(int h) const { return h * controls(); }
  // State rows: the memory offset X = M − init (N x W, column-major), then each head's u − e_0, u = sqrt(w).
  int weight_row(int h) const { return N_ * W_ + h * N_; }
  // Work rows: each head's Kept, then the memory's row norms before and after the write, then e and a.
  int kept_row(int h) const { return h * Kept<true>::rows(N_, S_); }
  int norm_row(bool after_write) const { return (R_ + 1) * Kept<true>::rows(N_, S_) + (after_write ? N_ : 0); }
  int erase_row() const { return norm_row(true) + N_; }

  // ---- one column ----

  void forward_column(const T* in, const T* sp, T* out, T* s, T* wk) {
    prev_ = CMemMap(sp, N_, W_).array() + init_;
    VecMap norm_prev(wk + norm_row(false), N_), norm_next(wk + norm_row(true), N_);
    row_norms(prev_, norm_prev);
    const CVecMap w = address_forward(R_, prev_, norm_prev, in, sp, s, wk);
    VecMap e(wk + erase_row(), W_), a(wk + erase_row() + W_, W_);
    const T* cw = in + control_row(R_) + controls();
    for (int j = 0; j < W_; ++j) {
      e(j) = sigmoid(cw[j]);
      a(j) = std::tanh(cw[W_ + j]);
    }
    write_forward(CMemMap(sp, N_, W_), w, e, a, MemMap(s, N_, W_));
    next_ = CMemMap(s, N_, W_).array() + init_;
    row_norms(next_, norm_next);
    for (int h = 0; h < R_; ++h) {
      const CVecMap wh = address_forward(h, next_, norm_next, in, sp, s, wk);
      VecMap(out + h * W_, W_).noalias() = next_.transpose() * wh;
    }
  }

  void vjp_column(const T* in, const T* sp, const T* s, const T* wk, const T* dout, const T* ds, T* din, T* dsp) {
    prev_ = CMemMap(sp, N_, W_).array() + init_;
    next_ = CMemMap(s, N_, W_).array() + init_;
    const CVecMap norm_prev(wk + norm_row(false), N_), norm_next(wk + norm_row(true), N_);
    dmem_ = CMemMap(ds, N_, W_);  // the cotangent of the written memory, gathered from every use
    for (int h = R_ - 1; h >= 0; --h) {
      const CVecMap dr(dout + h * W_, W_), w = Kept<true>(wk + kept_row(h), N_, S_).w;
      for (int j = 0; j < W_; ++j) dmem_.col(j) += dr(j) * w;
      dw_.noalias() = next_ * dr;
      address_reverse(h, next_, norm_next, in, sp, ds, wk, din, dsp);
    }
    const CVecMap w = Kept<true>(wk + kept_row(R_), N_, S_).w, e(wk + erase_row(), W_), a(wk + erase_row() + W_, W_);
    dw_.setZero();
    T* dcw = din + control_row(R_) + controls();
    write_reverse(w, e, a, VecMap(dcw, W_), VecMap(dcw + W_, W_));  // dmem_ becomes the memory's before the write
    address_reverse(R_, prev_, norm_prev, in, sp, ds, wk, din, dsp);
    MemMap(dsp, N_, W_) += dmem_;
  }

  // ---- one head: the four addressing stages in order, reverse and tangent ----

  // The weighting head h had at the previous step: w_prev = u² / (Σ u² + ε_u), u = e_0 + its carried rows
  // (into w_prev_, with u in u_ and 2 / (Σ u² + ε_u) returned, for the derivatives).
  T previous_weighting(int h, const T* sp) {
    u_ = CVecMap(sp + weight_row(h), N_);
    u_(0) += T(1);
    const T inv = T(1) / (u_.squaredNorm() + eps_u);
    w_prev_ = inv * u_.cwiseAbs2();
    return T(2) * inv;
  }

  // Head h's weighting, kept in work; sqrt(w) − e_0 goes into the state s.
  CVecMap address_forward(int h, const Mat<T>& M, CRef norm, const T* in, const T* sp, T* s, T* wk) {
    const T* c = in + control_row(h);
    Kept<false> k(wk + kept_row(h), N_, S_);
    content_forward(M, norm, CVecMap(c, W_), c[W_], k);
    previous_weighting(h, sp);
    interpolate_forward(c[W_ + 1], w_prev_, k);
    shift_forward(CVecMap(c + W_ + 2, S_), k);
    sharpen_forward(c[W_ + 2 + S_], k, VecMap(s + weight_row(h), N_));
    return CVecMap(k.w.data(), N_);
  }

  // From dw_ (the cotangent of head h's weighting through the reads or the write; clobbered) and ds (that of
  // the carried rows): writes the head's control cotangents into din, adds the cotangent of its previous rows
  // into dsp and the content part into dmem_.
  void address_reverse(int h, const Mat<T>& M, CRef norm, const T* in, const T* sp, const T* ds, const T* wk,
                       T* din, T* dsp) {
    const T* c = in + control_row(h);
    T* dc = din + control_row(h);
    const Kept<true> k(wk + kept_row(h), N_, S_);
    dc[W_ + 2 + S_] = sharpen_reverse(c[W_ + 2 + S_], k, CVecMap(ds + weight_row(h), N_), dw_, a_);
    shift_reverse(k, a_, b_, VecMap(dc + W_ + 2, S_));
    const T two_inv = previous_weighting(h, sp);
    dc[W_ + 1] = interpolate_reverse(w_prev_, k, b_, c_, dw_);
    // w_prev = u² / q: du = (2u / q) ∘ (dw_prev − w_prev·dw_prev).
    VecMap(dsp + weight_row(h), N_).array() += two_inv * u_.array() * (dw_.array() - w_prev_.dot(dw_));
    dc[W_] = content_reverse(M, norm, CVecMap(c, W_), c[W_], k, c_, VecMap(dc, W_));
  }

  // Tangent of head h's carried rows (into the tangent state ts) and of its weighting (into tw_), given the
  // memory M it addresses, its tangent tM and the tangent of the row norms (in tnorm_).
  void address_tangent(int h, const Mat<T>& M, CMatRef tM, CRef norm, const T* in, const T* tin, const T* sp,
                       const T* tsp, const T* wk, T* ts) {
    const T* c = in + control_row(h);
    const T* tc = tin + control_row(h);
    const Kept<true> k(wk + kept_row(h), N_, S_);
    content_tangent(M, tM, norm, CVecMap(c, W_), CVecMap(tc, W_), c[W_], tc[W_], k, a_);
    const T two_inv = previous_weighting(h, sp);
    // w_prev = u² / q: tw_prev = (2 / q)(u ∘ tu − w_prev (u·tu)).
    const CVecMap tu(tsp + weight_row(h), N_);
    tw_.array() = two_inv * (u_.array() * tu.array() - w_prev_.array() * u_.dot(tu));
    interpolate_tangent(w_prev_, tw_, tc[W_ + 1], k, a_, b_);
    shift_tangent(k, CVecMap(tc + W_ + 2, S_), b_, c_);
    sharpen_tangent(c[W_ + 2 + S_], tc[W_ + 2 + S_], k, c_, tw_, VecMap(ts + weight_row(h), N_));
  }

  // Content: cos_i = k·M_i / (|k| |M_i|) with |v| = sqrt(v·v + ε); w_c = softmax(β cos), β = softplus(β̂).
  void content_forward(const Mat<T>& M, CRef norm, CRef key, T beta_hat, Kept<false>& k) {
    k.key_norm() = std::sqrt(key.squaredNorm() + eps);
    k.beta() = softplus(beta_hat);
    k.cos.noalias() = M * key;
    k.cos.array() /= k.key_norm() * norm.array();
    k.wc = k.beta() * k.cos;
    softmax_in_place(k.wc);
  }
  // dwc (clobbered) -> dkey (written), dM (added into dmem_); returns dβ̂. With ∂cos_i/∂k = M_i/(|k||M_i|) −
  // cos_i k/|k|² and ∂cos_i/∂M_i = k/(|k||M_i|) − cos_i M_i/|M_i|².
  T content_reverse(const Mat<T>& M, CRef norm, CRef key, T beta_hat, const Kept<true>& k, Ref dwc, Ref dkey) {
    softmax_product(k.wc, dwc);  // d(β cos)
    const T dbeta = dwc.dot(k.cos);
    dwc *= k.beta();  // d cos
    const T nk = k.key_norm();
    a_.array() = dwc.array() / (nk * norm.array());
    dkey.noalias() = M.transpose() * a_;
    dkey -= (dwc.dot(k.cos) / (nk * nk)) * key;
    b_.array() = dwc.array() * k.cos.array() / norm.array().square();
    for (int j = 0; j < W_; ++j) dmem_.col(j) += key(j) * a_ - b_.cwiseProduct(M.col(j));
    return dbeta * sigmoid(beta_hat);
  }
  // Tangents of key, β̂, memory and row norms (tnorm_) -> twc.
  void content_tangent(const Mat<T>& M, CMatRef tM, CRef norm, CRef key, CRef tkey, T beta_hat, T tbeta_hat,
                       const Kept<true>& k, Ref twc) {
    const T nk = k.key_norm();
    const T tnk = key.dot(tkey) / nk;
    twc.noalias() = M * tkey;
    twc.noalias() += tM * key;
    twc.array() = twc.array() / (nk * norm.array()) - k.cos.array() * (tnk / nk + tnorm_.array() / norm.array());
    twc = (sigmoid(beta_hat) * tbeta_hat) * k.cos + k.beta() * twc;  // t(β cos)
    softmax_product(k.wc, twc);
  }

  // Interpolation with the previous weighting: w_g = g w_c + (1 − g) w_prev, g = σ(ĝ).
  void interpolate_forward(T g_hat, CRef w_prev, Kept<false>& k) {
    k.g() = sigmoid(g_hat);
    k.wg = k.g() * k.wc + (T(1) - k.g()) * w_prev;
  }
  // dwg -> dwc and dw_prev (written); returns dĝ.
  T interpolate_reverse(CRef w_prev, const Kept<true>& k, CRef dwg, Ref dwc, Ref dw_prev) {
    const T g = k.g();
    const T dg = dwg.dot(k.wc - w_prev);
    dwc = g * dwg;
    dw_prev = (T(1) - g) * dwg;
    return dg * g * (T(1) - g);
  }
  void interpolate_tangent(CRef w_prev, CRef tw_prev, T tg_hat, const Kept<true>& k, CRef twc, Ref twg) {
    const T g = k.g();
    twg = (g * (T(1) - g) * tg_hat) * (k.wc - w_prev) + g * twc + (T(1) - g) * tw_prev;
  }

  // Circular shift: w̃(i) = Σ_q s_q w_g(i − o_q), s = softmax(ŝ).
  void shift_forward(CRef s_hat, Kept<false>& k) {
    k.shift = s_hat;
    softmax_in_place(k.shift);
    k.wt.setZero();
    for (int q = 0; q < S_; ++q) rotate_add(k.wt, k.wg, rot_[q], k.shift(q));
  }
  // dwt -> dwg and dŝ (written).
  void shift_reverse(const Kept<true>& k, CRef dwt, Ref dwg, Ref ds_hat) {
    dwg.setZero();
    for (int q = 0; q < S_; ++q) {
      ds_hat(q) = rotate_dot(dwt, k.wg, rot_[q]);
      rotate_add(dwg, dwt, (N_ - rot_[q]) % N_, k.shift(q));
    }
    softmax_product(k.shift, ds_hat);
  }
  void shift_tangent(const Kept<true>& k, CRef ts_hat, CRef twg, Ref twt) {
    tshift_ = ts_hat;
    softmax_product(k.shift, tshift_);
    twt.setZero();
    for (int q = 0; q < S_; ++q) {
      rotate_add(twt, k.wg, rot_[q], tshift_(q));
      rotate_add(twt, twg, rot_[q], k.shift(q));
    }
  }

  // Sharpening: logits l = γ log(w̃ + δ), γ = 1 + softplus(γ̂), and w = softmax(l); w̃ >= 0, a sum of products
  // of distributions. The carried rows are u − e_0 with u = sqrt(w), whose derivative is
  // ∂u_i/∂l_j = (u_i / 2)(δ_ij − w_j) (no division by u, which may be 0).
  void sharpen_forward(T gamma_hat, Kept<false>& k, Ref carried) {
    k.gamma() = T(1) + softplus(gamma_hat);
    for (int i = 0; i < N_; ++i) k.log_wt(i) = std::log(k.wt(i) + delta);
    k.w = k.gamma() * k.log_wt;
    softmax_in_place(k.w);
    carried = k.w.cwiseSqrt();
    carried(0) -= T(1);
  }
  // dw (the weighting's cotangent; clobbered) and du (the carried rows') -> dwt (written); returns dγ̂.
  T sharpen_reverse(T gamma_hat, const Kept<true>& k, CRef du, Ref dw, Ref dwt) {
    // dl = w ∘ dw + (u/2) ∘ du − w (w·dw + (u/2)·du)
    dwt = T(0.5) * k.w.cwiseSqrt().cwiseProduct(du);
    const T shared = k.w.dot(dw) + dwt.sum();
    dw.array() = k.w.array() * (dw.array() - shared) + dwt.array();
    const T dgamma = dw.dot(k.log_wt);
    dwt.array() = k.gamma() * dw.array() / (k.wt.array() + delta);
    return dgamma * sigmoid(gamma_hat);
  }
  // -> the weighting's tangent tw and the carried rows' tu = (u/2) ∘ (tl − w·tl).
  void sharpen_tangent(T gamma_hat, T tgamma_hat, const Kept<true>& k, CRef twt, Ref tw, Ref tu) {
    const T tgamma = sigmoid(gamma_hat) * tgamma_hat;
    tw.array() = tgamma * k.log_wt.array() + k.gamma() * twt.array() / (k.wt.array() + delta);  // tl
    const T mean = k.w.dot(tw);
    tu.array() = T(0.5) * k.w.array().sqrt() * (tw.array() - mean);
    tw.array() = k.w.array() * (tw.array() - mean);
  }

  // ---- the write, on the offset X = M − init: X' = X ∘ (1 − w eᵀ) + w (a − init e)ᵀ ----

  void write_forward(CMatRef X, CRef w, CRef e, CRef a, MemMap next) {
    for (int j = 0; j < W_; ++j)
      next.col(j).array() = X.col(j).array() * (T(1) - e(j) * w.array()) + (a(j) - init_ * e(j)) * w.array();
  }
  // dmem_ holds the cotangent of the written memory and becomes that of the memory before the write (prev_);
  // adds into dw_, writes dê and dâ.
  void write_reverse(CRef w, CRef e, CRef a, Ref de_hat, Ref da_hat) {
    for (int j = 0; j < W_; ++j) {
      auto d = dmem_.col(j);
      const auto dm = d.cwiseProduct(prev_.col(j));
      dw_ += a(j) * d - e(j) * dm;
      de_hat(j) = -dm.dot(w) * e(j) * (T(1) - e(j));
      da_hat(j) = d.dot(w) * (T(1) - a(j) * a(j));
      d.array() *= T(1) - e(j) * w.array();
    }
  }
  void write_tangent(CRef w, CRef e, CRef a, CMatRef tX, CRef tw, CRef te_hat, CRef ta_hat, MemMap tnext) {
    for (int j = 0; j < W_; ++j) {
      const T te = e(j) * (T(1) - e(j)) * te_hat(j);
      const T ta = (T(1) - a(j) * a(j)) * ta_hat(j);
      tnext.col(j).array() = tX.col(j).array() * (T(1) - e(j) * w.array()) -
                             prev_.col(j).array() * (e(j) * tw.array() + te * w.array()) + a(j) * tw.array() +
                             ta * w.array();
    }
  }

  // |M_i| = sqrt(M_i·M_i + ε) and its tangent M_i·tM_i / |M_i| (into tnorm_).
  void row_norms(const Mat<T>& M, Ref norm) const {
    norm.setConstant(eps);
    for (int j = 0; j < W_; ++j) norm += M.col(j).cwiseAbs2();
    norm = norm.cwiseSqrt();
  }
  void norm_tangent(const Mat<T>& M, CMatRef tM, CRef norm, V& tnorm) const {
    tnorm.setZero();
    for (int j = 0; j < W_; ++j) tnorm += M.col(j).cwiseProduct(tM.col(j));
    tnorm.array() /= norm.array();
  }

  const int N_, W_, R_, S_;
  const T init_;
  std::vector<int> rot_;  // shift q moves the weighting by rot_[q] = o_q mod N slots
  // Scratch, sized at construction: the memory before and after the write, the memory's cotangent, a head's
  // weighting cotangent and tangent, three N-vectors for the stages, the row norms' tangent, a head's previous
  // sqrt-weighting and weighting, the shift's tangent, and a zero state for a jvp without state tangents.
  Mat<T> prev_, next_, dmem_;
  V dw_, tw_, a_, b_, c_, tnorm_, u_, w_prev_, tshift_, zero_;
};

CREDO_REGISTER_MODULE("ntm", Ntm,
                      "Neural Turing Machine memory (Graves et al. 2014): size = slot width W; one write head and "
                      "`reads` read heads addressed by content and location; outputs the reads",
                      std::vector<OptionSpec>{
                          {"slots", "128", "memory slots N", 2, 1e6, true, {}},
                          {"reads", "1", "read heads", 1, 64, true, {}},
                          {"shifts", "3", "allowed circular shifts, odd (3: -1, 0, +1), at most slots", 1, 1e6, true, {}},
                          {"init", "1e-6", "constant the memory starts at (Collier & Beel 2018)", -100, 100, false, {}},
                      });

}  // namespace credo
